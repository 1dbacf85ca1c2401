// DeepLift's Rescale rules, one table keyed by op type (the nonlinearities of captum's LayerDeepLift, plus
// Clip; MaxPool with captum's maxpool rule). With method "deeplift" the generator takes a node's rule from
// this table when it has one and from the ordinary gradient rules otherwise: linear ops keep their gradient.
// Each rule replaces the local derivative by the secant between the input and the baseline, falling back to
// the ordinary derivative where the input barely moves (captum: `abs(delta_in) < eps`).
import type { BackwardContext, GradientRule } from "../context.ts";
import {
  LOCAL_DERIVATIVES,
  type LocalDerivative,
  type Nonlinearity,
  withConstantBounds,
} from "./activations.ts";
import { maxPoolRouting } from "./pooling.ts";

/**
 * `numerator / (x - x_ref)` where |x - x_ref| >= eps, else `ordinary`: the multiplier of a Rescale rule.
 * `numerator` is called once x - x_ref exists (the elementwise rules emit y - y_ref there).
 */
function secant(ctx: BackwardContext, x: string, numerator: () => string, ordinary: () => string): string {
  const dIn = ctx.op("Sub", [ctx.fw(x), ctx.ref(x)]);
  const dOut = numerator();
  const small = ctx.op("Less", [ctx.op("Abs", [dIn]), ctx.scalar(ctx.eps)]);
  const safe = ctx.op("Where", [small, ctx.scalar(1), dIn]);
  return ctx.op("Where", [small, ordinary(), ctx.op("Div", [dOut, safe])]);
}

/** g * (f(a) - f(a_ref)) / (a - a_ref), with f'(a) where a is within eps of a_ref. */
function rescale(derivative: LocalDerivative): GradientRule {
  return (ctx, n, g) => {
    const [x] = n.input;
    const y = n.output[0];
    const local = secant(
      ctx,
      x,
      () => ctx.op("Sub", [ctx.fw(y), ctx.ref(y)]),
      () => derivative(ctx, n),
    );
    ctx.grad(x, ctx.op("Mul", [g, local]));
  };
}

/**
 * captum's maxpool rule: with m = max(y, y_ref), route g*(m - y_ref) by x's argmax and g*(y - m) by x_ref's
 * argmax, then divide by x - x_ref. One gradient serves both halves (see the generator's notes on captum).
 */
const maxPoolRescale: GradientRule = (ctx, n, g) => {
  const x = n.input[0];
  const routing = maxPoolRouting(ctx, n);
  const masks = routing.argmaxMasks(ctx.fw(x), ctx.fw(n.output[0]));
  const y = ctx.fw(n.output[0]);
  const yRef = ctx.ref(n.output[0]);
  const yMax = ctx.op("Where", [ctx.op("Greater", [y, yRef]), y, yRef]);
  const fromInput = ctx.op("Mul", [g, ctx.op("Sub", [yMax, yRef])]);
  const fromRef = ctx.op("Mul", [g, ctx.op("Sub", [y, yMax])]);
  const refMasks = routing.argmaxMasks(ctx.ref(x), yRef);
  const parts = masks.map((m, i) =>
    ctx.op("Add", [ctx.op("Mul", [fromInput, m]), ctx.op("Mul", [fromRef, refMasks[i]])])
  );
  const routed = routing.route(parts);
  const ordinary = () => routing.route(masks.map((m) => ctx.op("Mul", [g, m])));
  ctx.grad(x, secant(ctx, x, () => routed, ordinary));
};

/** The Rescale rules by op type; their inputs and outputs are what the baseline's forward pass must compute. */
export const RESCALE_RULES: ReadonlyMap<string, GradientRule> = new Map<
  Nonlinearity | "MaxPool",
  GradientRule
>([
  ["Relu", rescale(LOCAL_DERIVATIVES.Relu)],
  ["LeakyRelu", rescale(LOCAL_DERIVATIVES.LeakyRelu)],
  ["Sigmoid", rescale(LOCAL_DERIVATIVES.Sigmoid)],
  ["Tanh", rescale(LOCAL_DERIVATIVES.Tanh)],
  ["Clip", withConstantBounds(rescale(LOCAL_DERIVATIVES.Clip))],
  ["MaxPool", maxPoolRescale],
]);
