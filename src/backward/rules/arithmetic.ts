// Gradient rules of the broadcasting arithmetic ops (Add, Sub, Mul, Div) and Neg. A broadcast operand gets
// its gradient summed back to its own shape; both operands may depend on the tap (a residual Add, or a value
// centred by its own mean).
import type { GradientRule } from "../context.ts";

function addSub(subtract: boolean): GradientRule {
  return (ctx, n, g) => {
    const [a, b] = n.input;
    const ys = ctx.shape(n.output[0]);
    if (ctx.isActive(a)) ctx.grad(a, ctx.reduceTo(g, ys, a));
    if (ctx.isActive(b)) {
      const gb = ctx.reduceTo(g, ys, b);
      ctx.grad(b, subtract ? ctx.op("Neg", [gb]) : gb);
    }
  };
}

const mul: GradientRule = (ctx, n, g) => {
  const [a, b] = n.input;
  const ys = ctx.shape(n.output[0]);
  if (ctx.isActive(a)) ctx.grad(a, ctx.reduceTo(ctx.op("Mul", [g, ctx.fw(b)]), ys, a));
  if (ctx.isActive(b)) ctx.grad(b, ctx.reduceTo(ctx.op("Mul", [g, ctx.fw(a)]), ys, b));
};

const div: GradientRule = (ctx, n, g) => {
  const [a, b] = n.input;
  const ys = ctx.shape(n.output[0]);
  const ga = ctx.op("Div", [g, ctx.fw(b)]);
  if (ctx.isActive(a)) ctx.grad(a, ctx.reduceTo(ga, ys, a));
  // d(a/b)/db = -(a/b)/b
  if (ctx.isActive(b)) {
    const gb = ctx.op("Neg", [ctx.op("Mul", [ga, ctx.fw(n.output[0])])]);
    ctx.grad(b, ctx.reduceTo(gb, ys, b));
  }
};

export const ARITHMETIC_RULES: Record<string, GradientRule> = {
  Add: addSub(false),
  Sub: addSub(true),
  Mul: mul,
  Div: div,
  Neg: (ctx, n, g) => ctx.grad(n.input[0], ctx.op("Neg", [g])),
};
