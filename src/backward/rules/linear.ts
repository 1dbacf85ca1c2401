// Gradient rules of the matrix products, Gemm and MatMul: the gradient of each tap-dependent operand is a
// product of g with the other operand, transposed as the forward op transposed it; MatMul's batch axes are
// summed back where an operand was broadcast.
import { attrFloat, attrInt } from "../../onnx/model.ts";
import type { GradientRule } from "../context.ts";

const gemm: GradientRule = (ctx, n, g) => {
  const [a, b, c] = n.input;
  const alpha = { f: attrFloat(n, "alpha", 1) };
  const beta = attrFloat(n, "beta", 1);
  const transA = attrInt(n, "transA", 0);
  const transB = attrInt(n, "transB", 0);
  // Y = alpha * A' B' + beta * C with A' = transA ? A^T : A, B' likewise.
  if (ctx.isActive(a)) {
    ctx.grad(
      a,
      transA
        ? ctx.op("Gemm", [ctx.fw(b), g], { alpha, transA: transB, transB: 1 })
        : ctx.op("Gemm", [g, ctx.fw(b)], { alpha, transA: 0, transB: transB ? 0 : 1 }),
    );
  }
  if (ctx.isActive(b)) {
    ctx.grad(
      b,
      transB
        ? ctx.op("Gemm", [g, ctx.fw(a)], { alpha, transA: 1, transB: transA })
        : ctx.op("Gemm", [ctx.fw(a), g], { alpha, transA: transA ? 0 : 1, transB: 0 }),
    );
  }
  if (c && ctx.isActive(c)) {
    const scaled = beta === 1 ? g : ctx.op("Mul", [g, ctx.scalar(beta)]);
    ctx.grad(c, ctx.reduceTo(scaled, ctx.shape(n.output[0]), c));
  }
};

const matMul: GradientRule = (ctx, n, g) => {
  const [a, b] = n.input;
  const as = ctx.shape(a);
  const bs = ctx.shape(b);
  const ys = ctx.shape(n.output[0]);
  if (as.length < 2 || bs.length < 2) {
    throw new Error(`buildBackwardGraph: MatMul '${n.name}' with a 1-D operand is not supported`);
  }
  const swapLast = (v: string, rank: number) =>
    ctx.op("Transpose", [v], {
      perm: [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2],
    });
  const batch = ys.slice(0, -2);
  if (ctx.isActive(a)) {
    const ga = ctx.op("MatMul", [g, swapLast(ctx.fw(b), bs.length)]);
    ctx.grad(a, ctx.reduceTo(ga, [...batch, as[as.length - 2], as[as.length - 1]], a));
  }
  if (ctx.isActive(b)) {
    const gb = ctx.op("MatMul", [swapLast(ctx.fw(a), as.length), g]);
    ctx.grad(b, ctx.reduceTo(gb, [...batch, bs[bs.length - 2], bs[bs.length - 1]], b));
  }
};

export const LINEAR_RULES: Record<string, GradientRule> = { Gemm: gemm, MatMul: matMul };
