// How a pair's logistic hyperplane is trained (the reference's train_linear_classifier: full-batch gradient
// descent on mean BCE-with-logits, lr 0.01, 100 epochs, nn.Linear's initialization) and the seeded initial
// weights. The initial values come from a counter-based hash of (seed, i, j, channel) rather than a sequential
// generator, so the GPU draws any pair's start independently and the CPU twin reproduces it bit for bit.

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

/** One round of a 32-bit integer finalizer (the same arithmetic as `mix` in hyperplane.wgsl). */
export function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

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
