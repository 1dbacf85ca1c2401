// Gradient rule of BatchNormalization in inference mode: an affine map per channel, so the gradient is g
// times scale / sqrt(var + eps), broadcast over the channel axis.
import { attrFloat, attrInt } from "../../onnx/model.ts";
import type { GradientRule } from "../context.ts";

const batchNormalization: GradientRule = (ctx, n, g) => {
  const [x, scale, , , variance] = n.input;
  if (attrInt(n, "training_mode", 0) === 1) {
    throw new Error(
      `buildBackwardGraph: BatchNormalization '${n.name}' is in training mode; export in eval()`,
    );
  }
  if (n.input.slice(1).some((i) => ctx.isActive(i))) {
    throw new Error(`buildBackwardGraph: BatchNormalization '${n.name}' has tap-dependent parameters`);
  }
  const rank = ctx.shape(x).length;
  const eps = attrFloat(n, "epsilon", 1e-5);
  const std = ctx.op("Sqrt", [ctx.op("Add", [ctx.fw(variance), ctx.scalar(eps)])]);
  const perChannel = ctx.op("Reshape", [
    ctx.op("Div", [ctx.fw(scale), std]),
    ctx.ints([-1, ...new Array(rank - 2).fill(1)]),
  ]);
  ctx.grad(x, ctx.op("Mul", [g, perChannel]));
};

export const NORMALIZATION_RULES: Record<string, GradientRule> = { BatchNormalization: batchNormalization };
