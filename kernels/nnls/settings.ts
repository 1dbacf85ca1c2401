// The settings of the batched non-negative least squares solver, written once for the WGSL kernels, their
// dispatcher and the CPU twin, so both sides run the same algorithm with the same limits.

/** Invocations per workgroup (`override WORKGROUP` in common.wgsl), one position each: small groups keep a
 * 196-position image on many cores. The dispatcher sizes its grids with it. */
export const NNLS_WORKGROUP = 64;

/** Most prototypes per class the solver takes: the private arrays of solve.wgsl are K x K. */
export const NNLS_MAX_K = 24;

/**
 * Relative KKT tolerance: a prototype enters the solution only while its gradient component exceeds
 * tolerance x max_i |b_i| (b = H a); float32 round-off in b - G x is a few 1e-7 of that scale.
 */
export const NNLS_TOLERANCE = 1e-5;

/**
 * A pivot of the Cholesky factor below this fraction of its diagonal entry is raised to it: two nearly equal
 * prototypes would otherwise make the passive system singular in float32. Lawson-Hanson never adds a
 * column that exact arithmetic would find dependent, so the guard only acts on round-off.
 */
export const NNLS_PIVOT_FLOOR = 1e-7;

/** Outer iterations (prototypes entering) per position: Lawson and Hanson's bound is 3 x k in practice. */
export function maxOuterIterations(k: number): number {
  return 3 * k;
}

/** Checks k against the solver's limit, naming where the k came from. */
export function checkK(k: number, source: string): void {
  if (!Number.isInteger(k) || k < 1 || k > NNLS_MAX_K) {
    throw new Error(`${source}: k = ${k} prototypes, but the NNLS solver takes 1 to ${NNLS_MAX_K}`);
  }
}
