// How a pair's logistic hyperplane is trained (the reference's train_linear_classifier: full-batch gradient
// descent on mean BCE-with-logits, lr 0.01, 100 epochs, nn.Linear's initialization) and the seeded initial
// weights. The initial values come from a counter-based hash of (seed, i, j, channel) rather than a sequential
// generator, so the GPU draws any pair's start independently and the CPU twin reproduces it bit for bit.
// The kernels' sizes are here too, written once: the WGSL takes them as overrides or rewritten constants.
import { LINEAR_WORKGROUP } from "../_program.ts";
import { mix32 } from "../_hash.ts";
import { GEMM_TILE } from "../_gemm_tile.ts";

/**
 * Rows (logits.wgsl) or weights (gradient.wgsl) by partner classes per workgroup: the side of the shared GEMM
 * tile (kernels/_gemm_tile.ts, whose constants the two kernels are compiled with). A class's rows start at a
 * multiple of it, so a row tile never spans two classes.
 */
export const HYPERPLANE_TILE = GEMM_TILE;
/** Invocations per workgroup of init.wgsl (its `override WORKGROUP`), one weight each. */
export const INIT_WORKGROUP = LINEAR_WORKGROUP;
/** Invocations per workgroup of accuracy.wgsl (its `override WORKGROUP`), one pair each. */
export const ACCURACY_WORKGROUP = 64;
/** Classes per block by default: a tile trains at most its square of pairs at once. */
export const DEFAULT_MAX_CLASSES = 64;
/** Largest buffer a block binds by default, below the device's own limit. */
export const DEFAULT_MAX_BLOCK_BYTES = 2 ** 30;

export type HyperplaneInit = "torch" | "zeros";
export const HYPERPLANE_INITS: readonly HyperplaneInit[] = ["torch", "zeros"];

export interface HyperplaneTraining {
  epochs: number;
  lr: number;
  /** torch: U(-1/sqrt(C), 1/sqrt(C)) for weight and bias, as nn.Linear; zeros: start at 0 ((j, i) = -(i, j)). */
  init: HyperplaneInit;
  seed: number;
}

export const REFERENCE_TRAINING: HyperplaneTraining = { epochs: 100, lr: 0.01, init: "torch", seed: 0 };

/** Uniform in [0, 1) with 24 bits (exact in float32) for element k of pair (i, j); k = C is the bias. */
export function initUniform(seed: number, i: number, j: number, k: number): number {
  const h = mix32((mix32((mix32((mix32(seed) ^ i) >>> 0) + j) >>> 0) ^ k) >>> 0);
  return (h >>> 8) / 16777216;
}

/** nn.Linear's bound 1/sqrt(fan_in), as the float32 the GPU receives. */
export function initBound(channels: number): number {
  return Math.fround(1 / Math.sqrt(channels));
}

/** The starting weights of pair (i, j): C weights then the bias, float32 (what the GPU's init writes). */
export function initialWeights(i: number, j: number, channels: number, t: HyperplaneTraining): Float32Array {
  const w = new Float32Array(channels + 1);
  if (t.init === "zeros") return w;
  const bound = initBound(channels);
  for (let k = 0; k <= channels; k++) w[k] = (initUniform(t.seed, i, j, k) * 2 - 1) * bound;
  return w;
}
