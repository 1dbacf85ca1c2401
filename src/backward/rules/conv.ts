// Gradient rule of Conv (input gradient only: weights and bias are constants of the head), and the transposed
// window op that maps a gradient back onto a windowed op's input, which the pooling rules reuse. Stride-1
// convolutions become a Conv with flipped, transposed weights (ORT's im2col/matmul path) unless the caller
// asks for ConvTranspose; strided ones are always a ConvTranspose.
import type { AttrValue } from "../../onnx/builder.ts";
import { attrInt, attrInts } from "../../onnx/model.ts";
import type { BackwardContext, GradientRule } from "../context.ts";
import { type Shape, type WindowGeometry, windowGeometry } from "../shapes.ts";

/** ConvTranspose that maps a gradient of the windowed op's output back onto its input's size. */
export function windowTranspose(
  ctx: BackwardContext,
  g: string,
  weight: string,
  group: number,
  geom: WindowGeometry,
  inSpatial: number[],
  outSpatial: number[],
): string {
  const padsEnd: number[] = [];
  const outputPadding: number[] = [];
  for (let i = 0; i < inSpatial.length; i++) {
    const span = (outSpatial[i] - 1) * geom.strides[i] + (geom.kernel[i] - 1) * geom.dilations[i] + 1;
    const excess = span - geom.padsBegin[i] - inSpatial[i];
    padsEnd.push(Math.max(0, excess));
    outputPadding.push(Math.max(0, -excess));
  }
  const attrs: Record<string, AttrValue> = {
    group,
    strides: geom.strides,
    dilations: geom.dilations,
    kernel_shape: geom.kernel,
    pads: [...geom.padsBegin, ...padsEnd],
  };
  if (outputPadding.some((p) => p > 0)) attrs.output_padding = outputPadding;
  return ctx.op("ConvTranspose", [g, weight], attrs);
}

const conv: GradientRule = (ctx, n, g) => {
  const [x, w] = n.input;
  if (ctx.isActive(w) || (n.input[2] && ctx.isActive(n.input[2]))) {
    throw new Error(
      `buildBackwardGraph: Conv '${n.name}' has weights that depend on the tap; not supported`,
    );
  }
  if (!ctx.isActive(x)) return;
  const xs = ctx.staticShape(x);
  const ys = ctx.staticShape(n.output[0]);
  const ws = ctx.shape(w);
  const kernel = attrInts(n, "kernel_shape", ws.slice(2));
  const geom = windowGeometry(n, xs.slice(2), kernel);
  const group = attrInt(n, "group", 1);
  // Stride 1: dL/dx is a correlation of g with the flipped kernel, pads (k-1)d - p.
  const padsBegin = geom.padsBegin.map((p, i) => (kernel[i] - 1) * geom.dilations[i] - p);
  const padsEnd = geom.padsEnd.map((p, i) => (kernel[i] - 1) * geom.dilations[i] - p);
  const asConv = ctx.convInputGradient === "conv" &&
    geom.strides.every((st) => st === 1) &&
    [...padsBegin, ...padsEnd].every((p) => p >= 0);
  if (asConv) {
    const weight = flippedTransposedWeight(ctx, ctx.fw(w), ws, group, kernel);
    ctx.grad(
      x,
      ctx.op("Conv", [g, weight], {
        group,
        dilations: geom.dilations,
        kernel_shape: kernel,
        pads: [...padsBegin, ...padsEnd],
      }),
    );
    return;
  }
  // A Conv weight [M, C/group, k...] is already the ConvTranspose weight [in=M, out/group=C/group, k...].
  ctx.grad(x, windowTranspose(ctx, g, ctx.fw(w), group, geom, xs.slice(2), ys.slice(2)));
};

export const CONV_RULES: Record<string, GradientRule> = { Conv: conv };

/**
 * The Conv weight [M, C/g, k...] as the weight of its input gradient [C, M/g, k...], kernel flipped. Built
 * from the forward weight with Reshape/Transpose/Slice, which ORT folds into a constant at session creation.
 */
function flippedTransposedWeight(
  ctx: BackwardContext,
  w: string,
  ws: Shape,
  group: number,
  kernel: number[],
): string {
  const [m, cg] = ws;
  const spatial = kernel.map((_, i) => i);
  let t: string;
  if (group === 1) {
    t = ctx.op("Transpose", [w], { perm: [1, 0, ...spatial.map((i) => i + 2)] });
  } else {
    const grouped = ctx.op("Reshape", [w, ctx.ints([group, m / group, cg, ...kernel])]);
    const swapped = ctx.op("Transpose", [grouped], { perm: [0, 2, 1, ...spatial.map((i) => i + 3)] });
    t = ctx.op("Reshape", [swapped, ctx.ints([group * cg, m / group, ...kernel])]);
  }
  const flipAxes = spatial.filter((i) => kernel[i] > 1);
  if (!flipAxes.length) return t;
  return ctx.op("Slice", [
    t,
    ctx.ints(flipAxes.map(() => -1)),
    ctx.ints(flipAxes.map((i) => -(kernel[i] + 1))),
    ctx.ints(flipAxes.map((i) => i + 2)),
    ctx.ints(flipAxes.map(() => -1)),
  ]);
}
