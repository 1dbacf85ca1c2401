// CPU reference of the NMF the GPU kernels implement, in float64, written for clarity over speed.
// The tests treat it as ground truth; tasks/nmf.ts falls back to it when there is no WebGPU adapter and
// onnxruntime-node cannot load. The algorithm (nmfSteps) asks its driver for every product with V (the only
// steps that touch all n x c values): nmfReference computes them here in float64, kernels/nmf/native.ts
// with onnxruntime-node's float32 GEMMs; everything else is the same code.
//
// Algorithm (scikit-learn's NMF defaults: init="nndsvda", solver="cd", beta_loss="frobenius", no
// regularization), minimizing 0.5 * ||V - W H||_F^2 with V (n x c) >= 0, W (n x k) >= 0, H (k x c) >= 0:
//
// 1. Top-k singular triplets of V by randomized subspace iteration on V^T V: a seeded Gaussian c x p
//    block Q (p = k + 10, capped at min(n, c)), `svdIterations` times Q <- orth(V^T (V Q)) (orth: modified
//    Gram-Schmidt twice, see orthonormalizeRows), then Rayleigh-Ritz: the p x p matrix (VQ)^T (VQ) is
//    diagonalized by parallel-order cyclic Jacobi (entries at float32 round-off skipped), its eigenvalues
//    order the directions, right singular vectors are Q s and x = V Q s = sigma u with sigma = |x|.
// 2. NNDSVD (Boutsidis & Gallopoulos 2008): component 0 from |u0|, |v0|; component j >= 1 from the
//    positive or the negative parts of (u_j, v_j), whichever has the larger product of norms; entries below
//    1e-6 become 0, and NNDSVDa then fills every zero with mean(V). Written in x so that it never divides
//    by sigma (see nndsvdScales), which in float32 overflowed for near-noise singular values.
// 3. HALS / coordinate descent (Cichocki & Phan 2009), one iteration = one cyclic sweep over the k
//    coordinates of every row of W (using H H^T and V H^T), then of every column of H (using W^T W and
//    V^T W with the new W). Each coordinate step is x <- max(0, x - grad / hess).
// 4. Stopping rule (scikit-learn's 'cd'): the violation of an iteration is the sum over all entries of W
//    and H of |projected gradient| at the moment the entry is updated (projected gradient = min(grad, 0)
//    where the entry is 0, else grad). The first iteration's violation is violation_init; stop after the
//    iteration where violation_init == 0 or violation / violation_init <= tol, or after max_iter.
import { gaussianBlock } from "./random.ts";
import {
  checkShape,
  firstInvalid,
  JACOBI_SKIP,
  JACOBI_SWEEPS,
  type NmfOptions,
  type NmfResult,
  NNDSVD_EPS,
  resolveSettings,
  subspaceSize,
} from "./settings.ts";

type Matrix = Float64Array;

/** Factorizes one non-negative n x c row-major matrix. */
export function nmfReference(
  v: Float32Array | Float64Array,
  n: number,
  c: number,
  opts: NmfOptions = {},
): NmfResult {
  const s = checkedSettings("nmfReference", v, n, c, opts);
  const V = Float64Array.from(v);
  const steps = nmfSteps(n, c, s, meanOf(V));
  let step = steps.next();
  while (!step.done) step = steps.next(productWithV(V, n, c, step.value));
  return finishNmf(V, n, c, s.k, step.value);
}

/** The settings, after checking the shape and that V (host memory) is finite and non-negative. */
export function checkedSettings(
  who: string,
  v: Float32Array | Float64Array,
  n: number,
  c: number,
  opts: NmfOptions,
): ReturnType<typeof resolveSettings> {
  const s = resolveSettings(opts);
  checkShape(n, c, s.k, who);
  if (v.length !== n * c) throw new Error(`${who}: V has ${v.length} values, expected n*c = ${n * c}`);
  const bad = firstInvalid(v);
  if (bad >= 0) {
    throw new Error(
      `${who}: V must be finite and non-negative; V[${Math.floor(bad / c)}, ${bad % c}] = ${v[bad]}`,
    );
  }
  return s;
}

/** A product with V (n x c) the algorithm needs: V X for X (c x p) gives n x p; V^T Y for Y (n x p), c x p. */
export type VProduct = { op: "VX"; x: Matrix; p: number } | { op: "VtY"; y: Matrix; p: number };

/** W (n x k) and H^T (c x k) as the algorithm leaves them, and its iterations. */
export interface NmfFactors {
  w: Matrix;
  ht: Matrix;
  iterations: number;
}

/**
 * The whole algorithm (steps 1-4 above) with `s` resolved and V checked: yields each product with V it
 * needs and continues with the driver's answer (row-major, float64).
 */
export function* nmfSteps(
  n: number,
  c: number,
  s: { k: number; seed: number; svdIterations: number; maxIter: number; tol: number },
  mean: number,
): Generator<VProduct, NmfFactors, Matrix> {
  const { w, ht } = yield* nndsvda(n, c, s.k, s.seed, s.svdIterations, mean);
  const iterations = yield* hals(n, c, s.k, w, ht, s.maxIter, s.tol);
  return { w, ht, iterations };
}

/** The result of nmfSteps as an NmfResult (float32 factors, the relative error against V). */
export function finishNmf(V: ArrayLike<number>, n: number, c: number, k: number, f: NmfFactors): NmfResult {
  const h = transpose(f.ht, c, k);
  return {
    w: Float32Array.from(f.w),
    h: Float32Array.from(h),
    iterations: f.iterations,
    relError: relativeError(V, n, c, k, f.w, h),
  };
}

/** mean(V), summed in order in float64 (NNDSVDa's fill value). */
export function meanOf(V: ArrayLike<number>): number {
  let mean = 0;
  for (let i = 0; i < V.length; i++) mean += V[i];
  return mean / V.length;
}

/**
 * The reference's products, in float64. Every output entry sums its terms in ascending order of the shared
 * index (zero entries of V skipped), as the loops before this split did.
 */
export function productWithV(V: Matrix, n: number, c: number, r: VProduct): Matrix {
  const p = r.p;
  if (r.op === "VX") {
    const out = new Float64Array(n * p);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < c; j++) {
        const x = V[i * c + j];
        if (x === 0) continue;
        for (let a = 0; a < p; a++) out[i * p + a] += x * r.x[j * p + a];
      }
    }
    return out;
  }
  const out = new Float64Array(c * p);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < c; j++) {
      const x = V[i * c + j];
      if (x === 0) continue;
      for (let a = 0; a < p; a++) out[j * p + a] += x * r.y[i * p + a];
    }
  }
  return out;
}

/**
 * Orthonormal basis of the span of the p rows (length len) of qt, returned as new rows: modified
 * Gram-Schmidt, run twice ("twice is enough", Giraud et al. 2005), so that the rows are orthonormal to
 * round-off whatever their condition number (a Gram-matrix method squares it, beyond float32's reach). A
 * row numerically in the span of the earlier ones becomes a further orthonormal direction in the second
 * pass; an exactly zero row stays zero. This is the GPU's method (orthonormalize in init.wgsl), where one
 * workgroup runs it with reductions; `round` rounds every operation (Math.fround checks float32).
 */
export function orthonormalizeRows(
  qt: ArrayLike<number>,
  p: number,
  len: number,
  round: (x: number) => number = (x) => x,
): Matrix {
  const rows = Float64Array.from(qt, round);
  for (let pass = 0; pass < 2; pass++) {
    for (let a = 0; a < p; a++) {
      const ra = rows.subarray(a * len, (a + 1) * len);
      const norm = round(Math.sqrt(dot(ra, ra, round)));
      const inv = norm > 0 ? round(1 / norm) : 0;
      for (let j = 0; j < len; j++) ra[j] = round(ra[j] * inv);
      for (let b = a + 1; b < p; b++) {
        const rb = rows.subarray(b * len, (b + 1) * len);
        const proj = dot(ra, rb, round);
        for (let j = 0; j < len; j++) rb[j] = round(rb[j] - round(proj * ra[j]));
      }
    }
  }
  return rows;
}

/**
 * Pair i of step s of the round-robin order over m (even) indices: 0 stays, the other m - 1 rotate, so every
 * pair meets once in m - 1 steps and the pairs of one step are disjoint (init.wgsl's round_robin_pair).
 */
export function roundRobinPair(i: number, s: number, m: number): [number, number] {
  const x = i === 0 ? 0 : 1 + ((i + s) % (m - 1));
  const y = i === 0 ? 1 + (s % (m - 1)) : 1 + ((m - 1 - i + s) % (m - 1));
  return [Math.min(x, y), Math.max(x, y)];
}

/**
 * Parallel-order cyclic Jacobi (Brent & Luk 1985) for a symmetric p x p matrix (overwritten), step for step
 * as the GPU's: each step takes p / 2 disjoint pairs (roundRobinPair), computes every pair's rotation from
 * the same matrix, then applies the column rotations, then the row rotations. Entries at float32 round-off
 * of their diagonal count as zero, as on the GPU. Returns eigenvectors as columns (p x p).
 */
export function jacobiEigen(m: Matrix, p: number, sweeps = JACOBI_SWEEPS): Matrix {
  const vec = new Float64Array(p * p);
  for (let a = 0; a < p; a++) vec[a * p + a] = 1;
  const even = p + (p % 2);
  const half = even / 2;
  const rot: { a: number; b: number; cs: number; sn: number }[] = [];
  for (let sweep = 0; sweep < sweeps; sweep++) {
    for (let step = 0; step + 1 < even; step++) {
      rot.length = 0;
      for (let i = 0; i < half; i++) {
        const [a, b] = roundRobinPair(i, step, even);
        if (b >= p) continue;
        const app = m[a * p + a], aqq = m[b * p + b], apq = m[a * p + b];
        if (Math.abs(apq) <= JACOBI_SKIP * Math.sqrt(Math.abs(app)) * Math.sqrt(Math.abs(aqq))) {
          m[a * p + b] = m[b * p + a] = 0;
          continue;
        }
        const [cs, sn] = rotation(app, aqq, apq);
        if (sn !== 0) rot.push({ a, b, cs, sn });
      }
      for (const { a, b, cs, sn } of rot) {
        rotateColumns(m, p, a, b, cs, sn);
        rotateColumns(vec, p, a, b, cs, sn);
      }
      for (const { a, b, cs, sn } of rot) {
        for (let r = 0; r < p; r++) {
          const x = m[a * p + r], y = m[b * p + r];
          m[a * p + r] = cs * x - sn * y;
          m[b * p + r] = sn * x + cs * y;
        }
      }
    }
  }
  return vec;
}

/** Cosine and sine of the Jacobi rotation that zeroes the (a, b) entry (Golub & Van Loan 8.4.2). */
export function rotation(app: number, aqq: number, apq: number): [number, number] {
  if (apq === 0) return [1, 0];
  const tau = (aqq - app) / (2 * apq);
  const t = Math.abs(tau) > 1e15
    ? 1 / (2 * tau)
    : Math.sign(tau || 1) / (Math.abs(tau) + Math.sqrt(1 + tau * tau));
  const cs = 1 / Math.sqrt(1 + t * t);
  return [cs, t * cs];
}

function rotateColumns(m: Matrix, p: number, a: number, b: number, cs: number, sn: number): void {
  for (let r = 0; r < p; r++) {
    const x = m[r * p + a], y = m[r * p + b];
    m[r * p + a] = cs * x - sn * y;
    m[r * p + b] = sn * x + cs * y;
  }
}

/** NNDSVDa start: W (n x k, row-major) and H^T (c x k, row-major). */
function* nndsvda(
  n: number,
  c: number,
  k: number,
  seed: number,
  svdIterations: number,
  mean: number,
): Generator<VProduct, { w: Matrix; ht: Matrix }, Matrix> {
  const p = subspaceSize(k, n, c);
  // Q is kept as rows (p x c), the products take and give columns: Yt = (V Q)^T, Zt = (V^T Y)^T.
  const timesQ = function* (qt: Matrix): Generator<VProduct, Matrix, Matrix> {
    return transpose(yield { op: "VX", x: transpose(qt, p, c), p }, n, p);
  };
  let qt = orthonormalizeRows(gaussianBlock(seed, p, c), p, c);
  for (let it = 0; it < svdIterations; it++) {
    const yt = yield* timesQ(qt);
    const zt = transpose(yield { op: "VtY", y: transpose(yt, p, n), p }, c, p);
    qt = orthonormalizeRows(zt, p, c);
  }
  const yt = yield* timesQ(qt);
  const m = new Float64Array(p * p);
  for (let a = 0; a < p; a++) {
    for (let b = a; b < p; b++) {
      m[a * p + b] = m[b * p + a] = dot(yt.subarray(a * n, (a + 1) * n), yt.subarray(b * n, (b + 1) * n));
    }
  }
  const vec = jacobiEigen(m, p);
  const order = [...Array(p).keys()].sort((x, y) => m[y * p + y] - m[x * p + x] || x - y);

  const w = new Float64Array(n * k);
  const ht = new Float64Array(c * k);
  for (let j = 0; j < k; j++) {
    const e = order[j];
    const x = new Float64Array(n); // sigma times the left singular vector
    const y = new Float64Array(c); // right singular vector
    for (let a = 0; a < p; a++) {
      const coef = vec[a * p + e];
      for (let i = 0; i < n; i++) x[i] += coef * yt[a * n + i];
      for (let col = 0; col < c; col++) y[col] += coef * qt[a * c + col];
    }
    const { part, scaleW, scaleH } = nndsvdScales(x, y, j);
    for (let i = 0; i < n; i++) {
      const val = scaleW * part(x[i]);
      w[i * k + j] = val < NNDSVD_EPS ? mean : val;
    }
    for (let col = 0; col < c; col++) {
      const val = scaleH * part(y[col]);
      ht[col * k + j] = val < NNDSVD_EPS ? mean : val;
    }
  }
  return { w, ht };
}

/**
 * NNDSVD's choice for component j from x = sigma u (u, v the unit singular vectors), with sigma = |x|:
 * component 0 is sqrt(sigma) (|u|, |v|) = (|x| / sqrt|x|, |v| sqrt|x|); component j >= 1 the positive or
 * the negative parts, whichever has the larger product of norms m, times sqrt(sigma m) over the part's
 * norm, which for x is sqrt(|x+-| |v+-|) / |x+-| (sigma cancels: no division by a near-zero sigma).
 */
function nndsvdScales(x: Matrix, y: Matrix, j: number) {
  const [xp, xn] = partNorms(x), [yp, yn] = partNorms(y);
  if (j === 0) {
    const sigma = Math.hypot(xp, xn);
    return { part: Math.abs, scaleW: sigma > 0 ? 1 / Math.sqrt(sigma) : 0, scaleH: Math.sqrt(sigma) };
  }
  const positive = xp * yp > xn * yn;
  const [xs, ys] = positive ? [xp, yp] : [xn, yn];
  const lbd = Math.sqrt(xs) * Math.sqrt(ys);
  return {
    part: positive ? (z: number) => Math.max(z, 0) : (z: number) => Math.max(-z, 0),
    scaleW: xs > 0 ? lbd / xs : 0,
    scaleH: ys > 0 ? lbd / ys : 0,
  };
}

function partNorms(x: Matrix): [number, number] {
  let pos = 0, neg = 0;
  for (const z of x) {
    if (z > 0) pos += z * z;
    else neg += z * z;
  }
  return [Math.sqrt(pos), Math.sqrt(neg)];
}

/** Runs coordinate-descent iterations in place on W (n x k) and H^T (c x k); returns iterations done. */
function* hals(
  n: number,
  c: number,
  k: number,
  w: Matrix,
  ht: Matrix,
  maxIter: number,
  tol: number,
): Generator<VProduct, number, Matrix> {
  let violationInit = 0;
  for (let iter = 1; iter <= maxIter; iter++) {
    // W step: V H^T (n x k) and H H^T (k x k).
    const vht = yield { op: "VX", x: ht, p: k };
    let violation = sweep(w, n, k, gram(ht, c, k), vht);
    // H step: V^T W (c x k) and W^T W (k x k), with the new W.
    const vtw = yield { op: "VtY", y: w, p: k };
    violation += sweep(ht, c, k, gram(w, n, k), vtw);
    if (iter === 1) violationInit = violation;
    if (violationInit === 0 || violation / violationInit <= tol) return iter;
  }
  return maxIter;
}

/** One cyclic coordinate sweep over the k columns of x (rows x k), minimizing 0.5 x G x^T - b x^T per row. */
function sweep(x: Matrix, rows: number, k: number, g: Matrix, b: Matrix): number {
  let violation = 0;
  for (let i = 0; i < rows; i++) {
    const row = i * k;
    for (let t = 0; t < k; t++) {
      let grad = -b[row + t];
      for (let r = 0; r < k; r++) grad += g[t * k + r] * x[row + r];
      violation += Math.abs(x[row + t] === 0 ? Math.min(grad, 0) : grad);
      const hess = g[t * k + t];
      if (hess !== 0) x[row + t] = Math.max(x[row + t] - grad / hess, 0);
    }
  }
  return violation;
}

/** X^T X for X (rows x k, row-major). */
function gram(x: Matrix, rows: number, k: number): Matrix {
  const g = new Float64Array(k * k);
  for (let i = 0; i < rows; i++) {
    for (let a = 0; a < k; a++) {
      const xa = x[i * k + a];
      for (let b = 0; b < k; b++) g[a * k + b] += xa * x[i * k + b];
    }
  }
  return g;
}

function transpose(x: Matrix, rows: number, cols: number): Matrix {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j];
  return out;
}

function dot(x: Matrix, y: Matrix, round: (x: number) => number = (x) => x): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s = round(s + round(x[i] * y[i]));
  return s;
}

/** ||V - W H||_F / ||V||_F for W (n x k) and H (k x c). */
export function relativeError(
  V: ArrayLike<number>,
  n: number,
  c: number,
  k: number,
  w: ArrayLike<number>,
  h: ArrayLike<number>,
): number {
  let res = 0, norm = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < c; j++) {
      let wh = 0;
      for (let t = 0; t < k; t++) wh += w[i * k + t] * h[t * c + j];
      const x = V[i * c + j];
      res += (x - wh) ** 2;
      norm += x * x;
    }
  }
  return norm > 0 ? Math.sqrt(res / norm) : 0;
}
