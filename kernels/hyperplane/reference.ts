// The CPU twin of the hyperplane kernels: one pair trained exactly as the reference does, in the GPU's order
// (logits of every row, then the gradient, then the step; accuracy from the last epoch's logits, which come
// before the final step, as in the reference). Dot products and gradient sums accumulate in float64; the
// weights are rounded to float32 after each step, as the GPU stores them.
import { type HyperplaneTraining, initialWeights } from "./settings.ts";

export interface PairHyperplane {
  /** C weights: the normal of the hyperplane (points towards class j). */
  normal: Float32Array;
  bias: number;
  /** Train accuracy: rows with (logit > 0) == label, over both classes' rows. */
  accuracy: number;
}

/**
 * Trains pair (i, j): `xi` (class i's rows, label 0) and `xj` (class j's rows, label 1), each rows x
 * `channels` row-major. `i` and `j` only seed the initial weights.
 */
export function trainPairCpu(
  xi: Float32Array,
  xj: Float32Array,
  channels: number,
  i: number,
  j: number,
  training: HyperplaneTraining,
): PairHyperplane {
  const c = channels;
  const ni = xi.length / c, nj = xj.length / c;
  if (!Number.isInteger(ni) || !Number.isInteger(nj) || ni + nj === 0) {
    throw new Error(`trainPairCpu: rows of ${xi.length} and ${xj.length} values are not whole rows of ${c}`);
  }
  const n = ni + nj;
  const w = initialWeights(i, j, c, training);
  const grad = new Float64Array(c + 1);
  const invN = Math.fround(1 / n);
  let hits = 0;
  for (let epoch = 0; epoch < training.epochs; epoch++) {
    grad.fill(0);
    const last = epoch === training.epochs - 1;
    for (const [x, rows, label] of [[xi, ni, 0], [xj, nj, 1]] as const) {
      for (let r = 0; r < rows; r++) {
        const o = r * c;
        let z = 0;
        for (let k = 0; k < c; k++) z += x[o + k] * w[k];
        z = Math.fround(z + w[c]);
        const s = Math.fround(Math.fround(1 / (1 + Math.exp(-z))) - label);
        if (last && (z > 0 ? 1 : 0) === label) hits++;
        for (let k = 0; k < c; k++) grad[k] += x[o + k] * s;
        grad[c] += s;
      }
    }
    for (let k = 0; k <= c; k++) w[k] = Math.fround(w[k] - Math.fround(training.lr) * (grad[k] * invN));
  }
  return { normal: w.slice(0, c), bias: w[c], accuracy: training.epochs > 0 ? hits / n : 0 };
}
