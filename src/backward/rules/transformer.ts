// Gradient rules of the ops a torch transformer export adds to a CNN's: LayerNormalization, Softmax, the
// Erf-based GELU (x/2 * (1 + erf(x/sqrt2))), the decomposed LayerNorm of other exporters (ReduceMean, Pow,
// Sqrt), the class token's Gather/Slice, Expand and Where. MatMul with both operands live (attention's
// Q K^T and A V) is linear.ts's rule. Scatter ops, which ORT's WebGPU EP lacks, are avoided: Gather and Slice
// send their gradient back with Pad.
import { attrFloat, attrInt, attrInts, type Node } from "../../onnx/model.ts";
import type { BackwardContext, GradientRule } from "../context.ts";
import { normalizeAxis, product } from "../shapes.ts";

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

function constantOperands(ctx: BackwardContext, n: Node, inputs: string[]): void {
  for (const v of inputs) {
    if (v && ctx.isActive(v)) {
      throw new Error(
        `buildBackwardGraph: ${n.opType} '${n.name}' has a tap-dependent '${v}'; not supported`,
      );
    }
  }
}

/**
 * y = (x - mean) / sqrt(var + eps) * scale + bias over the axes from `axis` on; with xhat the normalized input
 * and gh = g * scale, dx = (gh - mean(gh) - xhat * mean(gh * xhat)) / sqrt(var + eps).
 */
const layerNormalization: GradientRule = (ctx, n, g) => {
  const [x, scale, bias] = n.input;
  constantOperands(ctx, n, [scale, bias]);
  const rank = ctx.shape(x).length;
  const axes = range(normalizeAxis(attrInt(n, "axis", -1), rank), rank);
  const xv = ctx.fw(x);
  const centred = ctx.op("Sub", [xv, ctx.reduceMean(xv, axes, true)]);
  const variance = ctx.reduceMean(ctx.op("Mul", [centred, centred]), axes, true);
  const std = ctx.op("Sqrt", [ctx.op("Add", [variance, ctx.scalar(attrFloat(n, "epsilon", 1e-5))])]);
  const xhat = ctx.op("Div", [centred, std]);
  const gh = scale ? ctx.op("Mul", [g, ctx.fw(scale)]) : g;
  const meanG = ctx.reduceMean(gh, axes, true);
  const meanGx = ctx.reduceMean(ctx.op("Mul", [gh, xhat]), axes, true);
  const inner = ctx.op("Sub", [ctx.op("Sub", [gh, meanG]), ctx.op("Mul", [xhat, meanGx])]);
  ctx.grad(x, ctx.op("Div", [inner, std]));
};

/** y = softmax(x) along `axis`: dx = y * (g - sum(g * y)). */
const softmax: GradientRule = (ctx, n, g) => {
  const rank = ctx.shape(n.input[0]).length;
  const axis = normalizeAxis(attrInt(n, "axis", ctx.opset >= 13 ? -1 : 1), rank);
  if (ctx.opset < 13 && axis !== rank - 1) {
    throw new Error(`buildBackwardGraph: Softmax '${n.name}' (opset < 13) on axis ${axis} is not supported`);
  }
  const y = ctx.fw(n.output[0]);
  const gy = ctx.op("Mul", [g, y]);
  ctx.grad(n.input[0], ctx.op("Sub", [gy, ctx.op("Mul", [y, ctx.reduceSum(gy, [axis], true)])]));
};

/** erf'(x) = 2 / sqrt(pi) * exp(-x^2). */
const erf: GradientRule = (ctx, n, g) => {
  const x = ctx.fw(n.input[0]);
  const gauss = ctx.op("Exp", [ctx.op("Neg", [ctx.op("Mul", [x, x])])]);
  ctx.grad(n.input[0], ctx.op("Mul", [g, ctx.op("Mul", [gauss, ctx.scalar(2 / Math.sqrt(Math.PI))])]));
};

/** sqrt'(x) = 1 / (2 sqrt(x)). */
const sqrt: GradientRule = (ctx, n, g) =>
  ctx.grad(n.input[0], ctx.op("Div", [ctx.op("Mul", [g, ctx.scalar(0.5)]), ctx.fw(n.output[0])]));

/** x^p with a constant scalar p (the decomposed LayerNorm's square): p x^(p-1). */
const pow: GradientRule = (ctx, n, g) => {
  const [x, p] = n.input;
  constantOperands(ctx, n, [p]);
  const exponent = ctx.constInts(p, false);
  if (!exponent || exponent.length !== 1) {
    throw new Error(`buildBackwardGraph: Pow '${n.name}' needs a constant scalar exponent`);
  }
  const e = exponent[0];
  const local = e === 2
    ? ctx.op("Mul", [ctx.fw(x), ctx.scalar(2)])
    : ctx.op("Mul", [ctx.op("Pow", [ctx.fw(x), ctx.scalar(e - 1)]), ctx.scalar(e)]);
  ctx.grad(x, ctx.reduceTo(ctx.op("Mul", [g, local]), ctx.shape(n.output[0]), x));
};

/** ReduceMean / ReduceSum: g spread back over the reduced axes (divided by their size for the mean). */
function reduction(mean: boolean): GradientRule {
  return (ctx, n, g) => {
    const x = n.input[0];
    const xs = ctx.shape(x);
    const fromInput = n.input[1] ? ctx.constInts(n.input[1]) : undefined;
    const listed = attrInts(n, "axes", []).length ? attrInts(n, "axes", []) : fromInput;
    const noopEmpty = attrInt(n, "noop_with_empty_axes", 0) === 1;
    if (!listed?.length && noopEmpty) return ctx.grad(x, g);
    const axes = (listed?.length ? listed : range(0, xs.length)).map((a) => normalizeAxis(a, xs.length));
    const count = product(axes.map((a) => xs[a]));
    if (mean && count < 0) {
      throw new Error(`buildBackwardGraph: ReduceMean '${n.name}' over the batch axis is not supported`);
    }
    let kept = g;
    if (attrInt(n, "keepdims", 1) !== 1) {
      kept = ctx.op("Reshape", [g, ctx.ints(xs.map((d, i) => (axes.includes(i) ? 1 : d < 0 ? -1 : d)))]);
    }
    const scaled = mean ? ctx.op("Mul", [kept, ctx.scalar(1 / count)]) : kept;
    // Expand to x's shape with 1 on the batch axis: broadcasting keeps g's batch, no Shape op needed.
    ctx.grad(x, ctx.op("Expand", [scaled, ctx.ints(xs.map((d) => (d < 0 ? 1 : d)))]));
  };
}

/** Slice with unit steps: the gradient is g padded back with zeros to the input's extent. */
const slice: GradientRule = (ctx, n, g) => {
  const x = n.input[0];
  const xs = ctx.shape(x);
  const bounds = ctx.sliceBounds(n, xs);
  if (bounds.some((b) => b.step !== 1)) {
    throw new Error(`buildBackwardGraph: Slice '${n.name}' with a step other than 1 is not supported`);
  }
  const begin = bounds.map((b) => b.start);
  const end = bounds.map((b, i) => (xs[i] < 0 ? 0 : xs[i] - b.start - b.size));
  const padded = [...begin, ...end].some((p) => p !== 0)
    ? ctx.op("Pad", [g, ctx.ints([...begin, ...end]), ctx.scalar(0)])
    : g;
  ctx.grad(x, padded);
};

/** Gather of one constant index (the class token, x[:, 0]): g put back at that index, zeros elsewhere. */
const gather: GradientRule = (ctx, n, g) => {
  const [x, index] = n.input;
  const xs = ctx.shape(x);
  const axis = normalizeAxis(attrInt(n, "axis", 0), xs.length);
  const indices = ctx.constInts(index);
  if (!indices || indices.length !== 1 || xs[axis] < 0) {
    throw new Error(
      `buildBackwardGraph: Gather '${n.name}' supports one constant index on a static axis (the class token)`,
    );
  }
  const i = indices[0] < 0 ? indices[0] + xs[axis] : indices[0];
  // A scalar index drops the axis; a one-element index keeps it.
  const scalar = ctx.shape(n.output[0]).length < xs.length;
  // Reshape rather than Unsqueeze: one form at every opset; at most the batch is unknown (-1).
  const kept = scalar ? ctx.op("Reshape", [g, ctx.ints(xs.map((d, k) => (k === axis ? 1 : d)))]) : g;
  const begin = xs.map((_, k) => (k === axis ? i : 0));
  const end = xs.map((_, k) => (k === axis ? xs[axis] - 1 - i : 0));
  ctx.grad(x, ctx.op("Pad", [kept, ctx.ints([...begin, ...end]), ctx.scalar(0)]));
};

const expand: GradientRule = (ctx, n, g) =>
  ctx.grad(n.input[0], ctx.reduceTo(g, ctx.shape(n.output[0]), n.input[0]));

/** Where(c, a, b): g goes to a where c holds and to b elsewhere; the condition carries none. */
const where: GradientRule = (ctx, n, g) => {
  const [c, a, b] = n.input;
  const ys = ctx.shape(n.output[0]);
  const zero = ctx.scalar(0);
  if (ctx.isActive(a)) ctx.grad(a, ctx.reduceTo(ctx.op("Where", [ctx.fw(c), g, zero]), ys, a));
  if (ctx.isActive(b)) ctx.grad(b, ctx.reduceTo(ctx.op("Where", [ctx.fw(c), zero, g]), ys, b));
};

export const TRANSFORMER_RULES: Record<string, GradientRule> = {
  LayerNormalization: layerNormalization,
  Softmax: softmax,
  Erf: erf,
  Sqrt: sqrt,
  Pow: pow,
  ReduceMean: reduction(true),
  ReduceSum: reduction(false),
  Slice: slice,
  Gather: gather,
  Expand: expand,
  Where: where,
};
