// A transformer-shaped classifier whose network after the tap is linear in the tokens, for an exact truth of
// the shifting test on a token tap: a patch embedding (a Conv with kernel = stride = 32 reading colour
// features of each patch, signed), a class token (the mean of the patch tokens) before the 49 patch tokens, one
// block (x + x A) whose output is the tap, and a head on the mean of all 50 tokens (logits = W mean + b). So
// moving every token by -n x offset moves the logits by -offset x W n exactly, and the shifted probabilities
// follow from the unshifted logits alone.
import { GraphBuilder } from "../../src/onnx/builder.ts";
import { encodeModel } from "../../src/onnx/model.ts";
import { Prng } from "../../fixtures/prng.ts";

export const LINEAR_VIT_CHANNELS = 8;
export const LINEAR_VIT_CLASSES = 8;
/** The tap: the block output, [N, 50, 8]. */
export const LINEAR_VIT_TAP = "block_output";

/** The head's W (K x C, row-major) and b: the truth the test computes shifted logits from. */
export interface LinearVit {
  bytes: Uint8Array;
  w: Float32Array;
  b: Float32Array;
}

export function buildLinearVit(seed = 7): LinearVit {
  const C = LINEAR_VIT_CHANNELS, K = LINEAR_VIT_CLASSES, P = 32;
  const g = new GraphBuilder("linear_vit");
  const input = g.input("input", ["N", 3, 224, 224]);
  // Colour features per patch (means over its pixels): R, G, B, R - G, G - B, B - R, -R, -G.
  const mix = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, -1, 0], [0, 1, -1], [-1, 0, 1], [-1, 0, 0], [0, -1, 0]];
  const conv = new Float32Array(C * 3 * P * P);
  mix.forEach((m, c) =>
    m.forEach((v, ch) => conv.fill(v / (P * P), (c * 3 + ch) * P * P, (c * 3 + ch + 1) * P * P))
  );
  const grid = g.node("Conv", [input, g.weight("conv_w", [C, 3, P, P], conv)], {
    kernel_shape: [P, P],
    strides: [P, P],
  });
  const flat = g.node("Reshape", [grid, g.int64s("flat_shape", [0, C, 49])]);
  const patches = g.node("Transpose", [flat], { perm: [0, 2, 1] });
  const cls = g.node("ReduceMean", [patches], { axes: [1], keepdims: 1 });
  const tokens = g.node("Concat", [cls, patches], { axis: 1 });
  const rng = new Prng(seed);
  const a = Float32Array.from({ length: C * C }, () => 0.3 * (rng.uniform() - 0.5));
  const mixed = g.node("MatMul", [tokens, g.weight("block_a", [C, C], a)]);
  g.node("Add", [tokens, mixed], {}, { outputs: [LINEAR_VIT_TAP] });
  const pooled = g.node("ReduceMean", [LINEAR_VIT_TAP], { axes: [1], keepdims: 0 });
  const w = Float32Array.from({ length: K * C }, () => 4 * (rng.uniform() - 0.5));
  const b = new Float32Array(K);
  g.node("Gemm", [pooled, g.weight("head_w", [K, C], w), g.weight("head_b", [K], b)], { transB: 1 }, {
    outputs: ["logits"],
  });
  g.output("logits", ["N", K]);
  return { bytes: encodeModel(g.model(17)), w, b };
}
