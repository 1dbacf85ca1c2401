// Gradient rules of the pooling ops: GlobalAveragePool (an Expand), AveragePool (a ConvTranspose with a
// ones kernel over the per-position divisors) and MaxPool, whose gradient goes to each window's argmax.
// ORT has no WebGPU scatter, so MaxPool routes with equality masks (one per kernel offset) and a grouped
// one-hot ConvTranspose; deeplift.ts builds captum's maxpool rule from the same routing.
import { attrInt, attrInts, type Node } from "../../onnx/model.ts";
import type { BackwardContext, GradientRule } from "../context.ts";
import { product, type WindowGeometry, windowGeometry } from "../shapes.ts";
import { windowTranspose } from "./conv.ts";

const FLOAT_LOWEST = -3.4028234663852886e38;

const globalAveragePool: GradientRule = (ctx, n, g) => {
  const x = n.input[0];
  const area = product(ctx.staticShape(x, 2).slice(2));
  const spatial = ctx.shape(x).slice(2);
  const scaled = ctx.op("Mul", [g, ctx.scalar(1 / area)]);
  // Expand broadcasts [N,C,1,1] against [1,1,H,W]: no Shape op, so nothing leaves the GPU.
  ctx.grad(x, ctx.op("Expand", [scaled, ctx.ints([1, 1, ...spatial])]));
};

interface PoolGeometry {
  geom: WindowGeometry;
  inSpatial: number[];
  outSpatial: number[];
  channels: number;
}

function poolGeometry(ctx: BackwardContext, n: Node): PoolGeometry {
  if (attrInt(n, "ceil_mode", 0) === 1) {
    throw new Error(`buildBackwardGraph: ${n.opType} '${n.name}' uses ceil_mode=1; not supported`);
  }
  const xs = ctx.staticShape(n.input[0]);
  const kernel = attrInts(n, "kernel_shape", []);
  return {
    geom: windowGeometry(n, xs.slice(2), kernel),
    inSpatial: xs.slice(2),
    outSpatial: ctx.staticShape(n.output[0]).slice(2),
    channels: xs[1],
  };
}

const averagePool: GradientRule = (ctx, n, g) => {
  const x = n.input[0];
  const { geom, inSpatial, outSpatial, channels } = poolGeometry(ctx, n);
  const includePad = attrInt(n, "count_include_pad", 0) === 1;
  // The divisor of each output position: the window's elements inside the input (or inside the padded
  // input with count_include_pad), a product over the spatial axes.
  const perAxis = outSpatial.map((out, i) =>
    Array.from({ length: out }, (_, o) => {
      let count = 0;
      for (let j = 0; j < geom.kernel[i]; j++) {
        const p = o * geom.strides[i] - geom.padsBegin[i] + j * geom.dilations[i];
        const lo = includePad ? -geom.padsBegin[i] : 0;
        const hi = includePad ? inSpatial[i] + geom.padsEnd[i] : inSpatial[i];
        if (p >= lo && p < hi) count++;
      }
      return count;
    })
  );
  const divisors = new Float32Array(product(outSpatial));
  for (let idx = 0; idx < divisors.length; idx++) {
    let rest = idx;
    let d = 1;
    for (let i = outSpatial.length - 1; i >= 0; i--) {
      d *= perAxis[i][rest % outSpatial[i]];
      rest = Math.floor(rest / outSpatial[i]);
    }
    divisors[idx] = 1 / d;
  }
  const uniform = divisors.every((v) => v === divisors[0]);
  const inverse = uniform ? ctx.scalar(divisors[0]) : ctx.weight([1, 1, ...outSpatial], divisors);
  const ones = new Float32Array(channels * product(geom.kernel)).fill(1);
  const weight = ctx.weight([channels, 1, ...geom.kernel], ones);
  const scaled = ctx.op("Mul", [g, inverse]);
  ctx.grad(x, windowTranspose(ctx, scaled, weight, channels, geom, inSpatial, outSpatial));
};

/** How a MaxPool node sends gradients to the maxima of its windows. */
export interface MaxPoolRouting {
  /** Per kernel offset, 1 where that window element is the first maximum in scan order (torch's argmax). */
  argmaxMasks(input: string, output: string): string[];
  /** Adds per-offset gradients [N,C,out...] onto the input [N,C,in...], each at its window element. */
  route(parts: string[]): string;
}

/** The routing of one MaxPool node (emits its one-hot routing weight). */
export function maxPoolRouting(ctx: BackwardContext, n: Node): MaxPoolRouting {
  const { geom, inSpatial, outSpatial, channels } = poolGeometry(ctx, n);
  const offsets = kernelOffsets(geom.kernel);
  const kk = offsets.length;
  const spatialAxes = inSpatial.map((_, i) => i + 2);
  const pads = [0, 0, ...geom.padsBegin, 0, 0, ...geom.padsEnd];
  const padded = (v: string) =>
    pads.some((p) => p > 0) ? ctx.op("Pad", [v, ctx.ints(pads), ctx.scalar(FLOAT_LOWEST)]) : v;

  const argmaxMasks = (input: string, output: string): string[] => {
    const xp = padded(input);
    let taken = "";
    return offsets.map((off) => {
      const starts = off.map((o, i) => o * geom.dilations[i]);
      const ends = starts.map((s, i) => s + (outSpatial[i] - 1) * geom.strides[i] + 1);
      const window = ctx.op("Slice", [
        xp,
        ctx.ints(starts),
        ctx.ints(ends),
        ctx.ints(spatialAxes),
        ctx.ints(geom.strides),
      ]);
      let mask = ctx.toFloat(ctx.op("Equal", [window, output]));
      if (taken) mask = ctx.op("Mul", [mask, ctx.op("Sub", [ctx.scalar(1), taken])]);
      taken = taken ? ctx.op("Add", [taken, mask]) : mask;
      return mask;
    });
  };

  // Stacked as channels c*kk + offset, a grouped ConvTranspose with one-hot kernels adds each part to its
  // window element.
  const oneHot = new Float32Array(channels * kk * kk);
  for (let c = 0; c < channels; c++) for (let k = 0; k < kk; k++) oneHot[(c * kk + k) * kk + k] = 1;
  const routingWeight = ctx.weight([channels * kk, 1, ...geom.kernel], oneHot);
  const route = (parts: string[]): string => {
    const expanded = ctx.ints([0, channels, 1, ...outSpatial]);
    const stacked = ctx.op("Concat", parts.map((p) => ctx.op("Reshape", [p, expanded])), { axis: 2 });
    const flat = ctx.op("Reshape", [stacked, ctx.ints([0, channels * kk, ...outSpatial])]);
    return windowTranspose(ctx, flat, routingWeight, channels, geom, inSpatial, outSpatial);
  };
  return { argmaxMasks, route };
}

const maxPool: GradientRule = (ctx, n, g) => {
  const x = n.input[0];
  const routing = maxPoolRouting(ctx, n);
  const masks = routing.argmaxMasks(ctx.fw(x), ctx.fw(n.output[0]));
  ctx.grad(x, routing.route(masks.map((m) => ctx.op("Mul", [g, m]))));
};

export const POOLING_RULES: Record<string, GradientRule> = {
  GlobalAveragePool: globalAveragePool,
  AveragePool: averagePool,
  MaxPool: maxPool,
};

/** Every offset of a kernel window, row-major (the scan order of torch's max pooling). */
function kernelOffsets(kernel: number[]): number[][] {
  let out: number[][] = [[]];
  for (const k of kernel) out = out.flatMap((prefix) => Array.from({ length: k }, (_, j) => [...prefix, j]));
  return out;
}
