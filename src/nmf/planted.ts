// Planted low-rank non-negative matrices V = W0 H0 (+ noise) for tests and benches: with sparse factors
// every component has "pure" rows, so the factorization is unique up to permutation and scale and a
// solver can be checked for recovering it.
import { gaussianBlock } from "./random.ts";

export interface PlantedProblem {
  /** n x c, row-major. */
  v: Float32Array<ArrayBuffer>;
  /** n x k. */
  w0: Float32Array<ArrayBuffer>;
  /** k x c. */
  h0: Float32Array<ArrayBuffer>;
}

export function plantedProblem(
  seed: number,
  n: number,
  c: number,
  k: number,
  opts: { density?: number; noise?: number } = {},
): PlantedProblem {
  const density = opts.density ?? 0.3;
  const noise = opts.noise ?? 0;
  const gw = gaussianBlock(seed * 3 + 1, n, k);
  const gh = gaussianBlock(seed * 3 + 2, k, c);
  const gn = gaussianBlock(seed * 3 + 3, n, c);
  // A Gaussian's CDF rank decides sparsity; its magnitude gives the value: cheap, seeded, repeatable.
  const sparse = (g: number) => (Math.abs(g) < density * 1.6 ? 0.5 + Math.abs(g) : 0);
  const w0 = gw.map(sparse);
  const h0 = gh.map(sparse);
  const v = new Float32Array(n * c);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < c; j++) {
      let x = 0;
      for (let t = 0; t < k; t++) x += w0[i * k + t] * h0[t * c + j];
      v[i * c + j] = x + noise * Math.abs(gn[i * c + j]);
    }
  }
  return { v, w0, h0 };
}

/** For each row of `truth` (k x c), the best cosine similarity with any row of `found` (k' x c). */
export function matchedCosines(truth: Float32Array, found: Float32Array, c: number): number[] {
  const rows = (m: Float32Array) =>
    Array.from({ length: m.length / c }, (_, r) => m.subarray(r * c, (r + 1) * c));
  const cos = (x: Float32Array, y: Float32Array) => {
    let xy = 0, xx = 0, yy = 0;
    for (let j = 0; j < c; j++) {
      xy += x[j] * y[j];
      xx += x[j] * x[j];
      yy += y[j] * y[j];
    }
    return xx > 0 && yy > 0 ? xy / Math.sqrt(xx * yy) : 0;
  };
  return rows(truth).map((t) => Math.max(...rows(found).map((f) => cos(t, f))));
}
