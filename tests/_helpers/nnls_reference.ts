// Independent references for the NNLS decomposition tests: a brute-force solver that tries every support
// (2^k unconstrained least squares problems, k <= 8), the KKT check, and the reference implementation's
// optimizer (Adam, lr 0.01, 500 steps on the MSE with clamping to x >= 0, as core/runtime.py
// decompose_from_nmf_basis does) to compare reconstruction errors against.
import { seededRandom } from "../../src/runtime/random.ts";

/** Solves the symmetric positive (semi)definite system A z = r (m x m) by Gaussian elimination, partial pivots. */
function solveDense(a: Float64Array, r: Float64Array, m: number): Float64Array | undefined {
  const M = Float64Array.from(a);
  const z = Float64Array.from(r);
  for (let c = 0; c < m; c++) {
    let piv = c;
    for (let i = c + 1; i < m; i++) if (Math.abs(M[i * m + c]) > Math.abs(M[piv * m + c])) piv = i;
    if (Math.abs(M[piv * m + c]) < 1e-12) return undefined;
    if (piv !== c) {
      for (let j = 0; j < m; j++) [M[c * m + j], M[piv * m + j]] = [M[piv * m + j], M[c * m + j]];
      [z[c], z[piv]] = [z[piv], z[c]];
    }
    for (let i = c + 1; i < m; i++) {
      const f = M[i * m + c] / M[c * m + c];
      for (let j = c; j < m; j++) M[i * m + j] -= f * M[c * m + j];
      z[i] -= f * z[c];
    }
  }
  for (let c = m - 1; c >= 0; c--) {
    for (let j = c + 1; j < m; j++) z[c] -= M[c * m + j] * z[j];
    z[c] /= M[c * m + c];
  }
  return z;
}

/** 0.5 x^T G x - b.x: the NNLS objective up to the constant ||a||^2 / 2. */
export function objective(
  g: ArrayLike<number>,
  b: ArrayLike<number>,
  x: ArrayLike<number>,
  k: number,
): number {
  let f = 0;
  for (let i = 0; i < k; i++) {
    let gx = 0;
    for (let j = 0; j < k; j++) gx += g[i * k + j] * x[j];
    f += 0.5 * x[i] * gx - b[i] * x[i];
  }
  return f;
}

/** The best feasible point over all 2^k supports (each solved without constraints). */
export function bruteForceNnls(g: ArrayLike<number>, b: ArrayLike<number>, k: number): Float64Array {
  if (k > 12) throw new Error(`bruteForceNnls: k = ${k} is too large to enumerate`);
  let best = new Float64Array(k);
  let bestF = 0;
  for (let mask = 1; mask < 1 << k; mask++) {
    const idx = [...Array(k).keys()].filter((i) => mask & (1 << i));
    const m = idx.length;
    const a = new Float64Array(m * m);
    const r = new Float64Array(m);
    idx.forEach((i, p) => {
      r[p] = b[i];
      idx.forEach((j, q) => a[p * m + q] = g[i * k + j]);
    });
    const z = solveDense(a, r, m);
    if (!z || z.some((v) => v < 0)) continue;
    const x = new Float64Array(k);
    idx.forEach((i, p) => x[i] = z[p]);
    const f = objective(g, b, x, k);
    if (f < bestF) {
      bestF = f;
      best = x;
    }
  }
  return best;
}

/** The worst violation of the KKT conditions relative to max|b|: x >= 0, g = Gx - b >= 0, g_i = 0 where x_i > 0. */
export function kktViolation(
  g: ArrayLike<number>,
  b: ArrayLike<number>,
  x: ArrayLike<number>,
  k: number,
): number {
  let scale = 1e-30;
  for (let i = 0; i < k; i++) scale = Math.max(scale, Math.abs(b[i]));
  let worst = 0;
  for (let i = 0; i < k; i++) {
    let grad = -b[i];
    for (let j = 0; j < k; j++) grad += g[i * k + j] * x[j];
    worst = Math.max(worst, -x[i] / Math.max(1e-30, Math.abs(x[i]) + 1), -grad / scale);
    if (x[i] > 0) worst = Math.max(worst, Math.abs(grad) / scale);
  }
  return worst;
}

/**
 * The reference's optimizer over a whole batch: coefficients (positions x k) from uniform [0, 1), Adam (torch
 * defaults beta 0.9/0.999, eps 1e-8) on mean((H^T x - a)^2) over all channels and positions, clamped to
 * x >= 0 after each step. Works from G and b: the gradient is 2 (G x - b) / (C x positions).
 */
export function adamNnls(
  g: ArrayLike<number>,
  b: ArrayLike<number>,
  k: number,
  positions: number,
  channels: number,
  opts: { steps?: number; lr?: number; seed?: number } = {},
): Float64Array {
  const steps = opts.steps ?? 500, lr = opts.lr ?? 0.01;
  const rand = seededRandom(opts.seed ?? 1);
  const x = Float64Array.from({ length: positions * k }, () => rand());
  const m = new Float64Array(x.length);
  const v = new Float64Array(x.length);
  const scale = 2 / (channels * positions);
  for (let t = 1; t <= steps; t++) {
    const c1 = 1 - 0.9 ** t, c2 = 1 - 0.999 ** t;
    for (let q = 0; q < positions; q++) {
      const grad = new Float64Array(k);
      for (let i = 0; i < k; i++) {
        let s = -b[q * k + i];
        for (let j = 0; j < k; j++) s += g[i * k + j] * x[q * k + j];
        grad[i] = scale * s;
      }
      for (let i = 0; i < k; i++) {
        const e = q * k + i;
        m[e] = 0.9 * m[e] + 0.1 * grad[i];
        v[e] = 0.999 * v[e] + 0.001 * grad[i] * grad[i];
        x[e] = Math.max(0, x[e] - lr * (m[e] / c1) / (Math.sqrt(v[e] / c2) + 1e-8));
      }
    }
  }
  return x;
}
