// Settings shared by the GPU solver and the CPU reference, so that both run the same algorithm.

/** Each setting is optional; an unset one takes its value from NMF_DEFAULTS. */
export interface NmfOptions extends Partial<NmfSettings> {
  /**
   * Stops the solver between iterations (the GPU solver: between readbacks) by throwing its reason; the
   * explorer's cancel button. The float64 reference runs in one synchronous stretch and does not look at it.
   */
  signal?: AbortSignal;
}

/** Side of the square workgroup tile of weighted_rows.wgsl (its TILE override: 16 x 16 = 256 invocations). */
export const WEIGHTED_ROWS_TILE = 16;

export interface NmfSettings {
  /** Number of components (rows of H). */
  k: number;
  /** Iteration cap, as scikit-learn's max_iter. */
  maxIter: number;
  /** Stopping tolerance on the relative projected-gradient violation, as scikit-learn's tol. */
  tol: number;
  /** Seed of the randomized SVD start block. */
  seed: number;
  /** Power (subspace) iterations of the randomized SVD behind NNDSVDa. */
  svdIterations: number;
}

/**
 * The defaults, written once: the library, the tasks' flags and their help all read them. maxIter and tol
 * are scikit-learn's NMF defaults (its init is NNDSVDa here, always); k is the paper's 6 prototypes per
 * class.
 */
export const NMF_DEFAULTS: Readonly<NmfSettings> = Object.freeze({
  k: 6,
  maxIter: 200,
  tol: 1e-4,
  seed: 0,
  svdIterations: 10,
});

export interface NmfResult {
  /** n x k, row-major. */
  w: Float32Array;
  /** k x c, row-major: the components (scikit-learn's components_). */
  h: Float32Array;
  /** Iterations run (scikit-learn's n_iter_). */
  iterations: number;
  /** ||V - WH||_F / ||V||_F (0 when V is all zeros). */
  relError: number;
}

/** Extra random directions of the subspace iteration, as scikit-learn's randomized_svd n_oversamples. */
export const OVERSAMPLES = 10;
/** NNDSVD truncates entries below this to zero before NNDSVDa fills zeros with mean(V) (scikit-learn's eps). */
export const NNDSVD_EPS = 1e-6;
/** Cyclic Jacobi sweeps for the small Rayleigh-Ritz eigenproblem; 16x16 converges in far fewer. */
export const JACOBI_SWEEPS = 10;
/**
 * A Jacobi rotation is skipped (the entry set to zero) where |a_pq| <= JACOBI_SKIP sqrt(|a_pp| |a_qq|): float32
 * epsilon, the level below which an off-diagonal entry is round-off of its diagonal in the GPU's arithmetic.
 */
export const JACOBI_SKIP = 2 ** -23;
/** Largest k the GPU kernels are built for (per-thread arrays hold k x k Gram entries). */
export const MAX_K = 24;

export function resolveSettings(opts: NmfOptions = {}): NmfSettings {
  const s: NmfSettings = {
    k: opts.k ?? NMF_DEFAULTS.k,
    maxIter: opts.maxIter ?? NMF_DEFAULTS.maxIter,
    tol: opts.tol ?? NMF_DEFAULTS.tol,
    seed: opts.seed ?? NMF_DEFAULTS.seed,
    svdIterations: opts.svdIterations ?? NMF_DEFAULTS.svdIterations,
  };
  if (!Number.isInteger(s.k) || s.k < 1 || s.k > MAX_K) {
    throw new Error(`nmf: k must be an integer in 1..${MAX_K}, got ${opts.k}`);
  }
  if (!Number.isInteger(s.maxIter) || s.maxIter < 1) {
    throw new Error(`nmf: maxIter must be a positive integer, got ${opts.maxIter}`);
  }
  if (!(s.tol >= 0) || !Number.isFinite(s.tol)) {
    throw new Error(`nmf: tol must be a finite number >= 0, got ${opts.tol}`);
  }
  if (!Number.isInteger(s.seed) || s.seed < 0 || s.seed > 0xffffffff) {
    throw new Error(`nmf: seed must be an integer in 0..2^32-1, got ${opts.seed}`);
  }
  if (!Number.isInteger(s.svdIterations) || s.svdIterations < 0) {
    throw new Error(`nmf: svdIterations must be an integer >= 0, got ${opts.svdIterations}`);
  }
  return s;
}

/** Width of the subspace iteration block: k plus oversampling, never more than V's smaller side. */
export function subspaceSize(k: number, n: number, c: number): number {
  return Math.min(k + OVERSAMPLES, n, c);
}

/** NNDSVD needs k singular triplets, so k may not exceed min(n, c) (scikit-learn refuses likewise). */
export function checkShape(n: number, c: number, k: number, what: string): void {
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(c) || c < 1) {
    throw new Error(`${what}: n and c must be positive integers, got n=${n}, c=${c}`);
  }
  if (k > Math.min(n, c)) {
    throw new Error(
      `${what}: k=${k} exceeds min(n, c) = ${Math.min(n, c)}; NNDSVDa needs k singular vectors`,
    );
  }
}

/** Index of the first negative or non-finite value, or -1. */
export function firstInvalid(v: ArrayLike<number>): number {
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (!(x >= 0) || x === Infinity) return i;
  }
  return -1;
}
