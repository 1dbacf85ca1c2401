// Gradient rules of the ops that move values without changing them: Reshape and its kin (Flatten, Squeeze,
// Unsqueeze), Transpose, Concat, and Identity/Dropout (identity at inference). Reshape targets are constants
// from the static shapes, so no Shape op sends the gradient to the CPU.
import { attrInt, attrInts } from "../../onnx/model.ts";
import type { GradientRule } from "../context.ts";
import { normalizeAxis } from "../shapes.ts";

const passThrough: GradientRule = (ctx, n, g) => ctx.grad(n.input[0], g);

// The shape/axes input is integer: it carries no gradient even when computed from the tap's shape.
const reshapeLike: GradientRule = (ctx, n, g) =>
  ctx.grad(n.input[0], ctx.op("Reshape", [g, ctx.shapeOf(n.input[0])]));

const transpose: GradientRule = (ctx, n, g) => {
  const rank = ctx.shape(n.input[0]).length;
  const perm = attrInts(n, "perm", Array.from({ length: rank }, (_, i) => rank - 1 - i));
  const inverse = new Array<number>(rank);
  perm.forEach((p, i) => (inverse[p] = i));
  ctx.grad(n.input[0], ctx.op("Transpose", [g], { perm: inverse }));
};

const concat: GradientRule = (ctx, n, g) => {
  const rank = ctx.shape(n.output[0]).length;
  const axis = normalizeAxis(attrInt(n, "axis", 0), rank);
  let offset = 0;
  for (const input of n.input) {
    const size = ctx.shape(input)[axis];
    if (size < 0) {
      throw new Error(
        `buildBackwardGraph: Concat '${n.name}' along a batch-dependent axis is not supported`,
      );
    }
    if (ctx.isActive(input)) {
      ctx.grad(
        input,
        ctx.op("Slice", [g, ctx.ints([offset]), ctx.ints([offset + size]), ctx.ints([axis])]),
      );
    }
    offset += size;
  }
};

export const SHAPE_RULES: Record<string, GradientRule> = {
  Flatten: reshapeLike,
  Reshape: reshapeLike,
  Squeeze: reshapeLike,
  Unsqueeze: reshapeLike,
  Identity: passThrough,
  Dropout: passThrough,
  Transpose: transpose,
  Concat: concat,
};
