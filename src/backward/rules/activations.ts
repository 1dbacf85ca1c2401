// Gradient rules of the elementwise nonlinearities (Relu, LeakyRelu, Sigmoid, Tanh, Clip): g times the
// ordinary local derivative. The derivatives are a table because DeepLift's Rescale rule (deeplift.ts) falls
// back to them where the input barely moves from the baseline.
import { attrFloat, type Node } from "../../onnx/model.ts";
import type { BackwardContext, GradientRule } from "../context.ts";

/** The ordinary local derivative f'(a) of a nonlinearity node, as a float tensor of the input's shape. */
export type LocalDerivative = (ctx: BackwardContext, n: Node) => string;

const positive = (ctx: BackwardContext, n: Node) => ctx.op("Greater", [ctx.fw(n.input[0]), ctx.scalar(0)]);

export const LOCAL_DERIVATIVES = {
  Relu: (ctx, n) => ctx.toFloat(positive(ctx, n)),
  LeakyRelu: (ctx, n) => {
    const alpha = attrFloat(n, "alpha", 0.01);
    return ctx.op("Where", [positive(ctx, n), ctx.scalar(1), ctx.scalar(alpha)]);
  },
  Sigmoid: (ctx, n) => {
    const y = ctx.fw(n.output[0]);
    return ctx.op("Mul", [y, ctx.op("Sub", [ctx.scalar(1), y])]);
  },
  Tanh: (ctx, n) => {
    const y = ctx.fw(n.output[0]);
    return ctx.op("Sub", [ctx.scalar(1), ctx.op("Mul", [y, y])]);
  },
  // Like torch's hardtanh: the derivative is 1 strictly inside (min, max).
  Clip: (ctx, n) => {
    const [x, lo, hi] = n.input;
    let inside = "";
    if (lo) inside = ctx.toFloat(ctx.op("Greater", [ctx.fw(x), ctx.fw(lo)]));
    if (hi) {
      const below = ctx.toFloat(ctx.op("Less", [ctx.fw(x), ctx.fw(hi)]));
      inside = inside ? ctx.op("Mul", [inside, below]) : below;
    }
    return inside || ctx.scalar(1);
  },
} satisfies Record<string, LocalDerivative>;

export type Nonlinearity = keyof typeof LOCAL_DERIVATIVES;

/** A Clip rule that first checks that the bounds are constants (a tap-dependent bound has a gradient too). */
export function withConstantBounds(rule: GradientRule): GradientRule {
  return (ctx, n, g) => {
    const [, lo, hi] = n.input;
    if ((lo && ctx.isActive(lo)) || (hi && ctx.isActive(hi))) {
      throw new Error(`buildBackwardGraph: Clip '${n.name}' has tap-dependent bounds; not supported`);
    }
    rule(ctx, n, g);
  };
}

/** g * f'(a). */
function chainRule(derivative: LocalDerivative): GradientRule {
  return (ctx, n, g) => ctx.grad(n.input[0], ctx.op("Mul", [g, derivative(ctx, n)]));
}

export const ACTIVATION_RULES: Record<Nonlinearity, GradientRule> = {
  // g where a > 0: one Where instead of a Cast and a Mul.
  Relu: (ctx, n, g) => ctx.grad(n.input[0], ctx.op("Where", [positive(ctx, n), g, ctx.scalar(0)])),
  LeakyRelu: chainRule(LOCAL_DERIVATIVES.LeakyRelu),
  Sigmoid: chainRule(LOCAL_DERIVATIVES.Sigmoid),
  Tanh: chainRule(LOCAL_DERIVATIVES.Tanh),
  Clip: withConstantBounds(chainRule(LOCAL_DERIVATIVES.Clip)),
};
