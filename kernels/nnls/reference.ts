// The CPU twin of solve.wgsl (Lawson-Hanson NNLS on the normal equations, one position at a time, in float64)
// and of the whole batched decomposition (project -> solve -> residual), for the wasm path and the tests.
import { NNLS_PIVOT_FLOOR, NNLS_TOLERANCE } from "./settings.ts";
import { gram, project, residuals } from "./gram.ts";
import type { NnlsProblem, NnlsSolution } from "./problem.ts";

/** Result of one position's solve. */
export interface PositionSolve {
  x: Float64Array;
  /** Outer iterations (prototypes that entered). */
  iterations: number;
  /** The KKT conditions held within the tolerance (false: the iteration cap of 3k was reached). */
  converged: boolean;
}

/**
 * min_x ||a - H^T x||^2 s.t. x >= 0 given G = H H^T (k x k) and b = H a: Lawson and Hanson's active-set method.
 * A prototype enters while its gradient component b - G x exceeds tolerance x max|b|.
 */
export function solveNnlsGram(
  g: ArrayLike<number>,
  b: ArrayLike<number>,
  k: number,
  tolerance = NNLS_TOLERANCE,
): PositionSolve {
  const x = new Float64Array(k);
  const s = new Float64Array(k);
  const passive = new Array<boolean>(k).fill(false);
  let scale = 0;
  for (let i = 0; i < k; i++) scale = Math.max(scale, Math.abs(b[i]));
  const tol = tolerance * scale;
  let iterations = 0;
  let converged = false;
  for (; iterations < 3 * k; iterations++) {
    let enter = -1;
    let best = tol;
    for (let i = 0; i < k; i++) {
      if (passive[i]) continue;
      let w = b[i];
      for (let j = 0; j < k; j++) w -= g[i * k + j] * x[j];
      if (w > best) {
        best = w;
        enter = i;
      }
    }
    if (enter < 0) {
      converged = true;
      break;
    }
    passive[enter] = true;
    for (let inner = 0; inner <= k; inner++) {
      solvePassive(g, b, k, passive, s);
      let alpha = 1;
      let blocking = -1;
      for (let i = 0; i < k; i++) {
        if (passive[i] && s[i] <= 0) {
          const a = x[i] > s[i] ? x[i] / (x[i] - s[i]) : 0;
          if (a < alpha) {
            alpha = a;
            blocking = i;
          }
        }
      }
      if (blocking < 0) {
        x.set(s);
        break;
      }
      for (let i = 0; i < k; i++) {
        if (!passive[i]) continue;
        x[i] += alpha * (s[i] - x[i]);
        if (i === blocking || x[i] <= 0) {
          x[i] = 0;
          passive[i] = false;
        }
      }
    }
  }
  return { x, iterations, converged };
}

/** s = the unconstrained least squares solution on the passive set (0 elsewhere), by Cholesky of G_PP. */
function solvePassive(
  g: ArrayLike<number>,
  b: ArrayLike<number>,
  k: number,
  passive: readonly boolean[],
  s: Float64Array,
): void {
  const members: number[] = [];
  for (let i = 0; i < k; i++) if (passive[i]) members.push(i);
  s.fill(0);
  const m = members.length;
  const chol = new Float64Array(m * m);
  for (let r = 0; r < m; r++) {
    for (let c = 0; c <= r; c++) {
      let v = g[members[r] * k + members[c]];
      for (let t = 0; t < c; t++) v -= chol[r * m + t] * chol[c * m + t];
      if (c === r) {
        const diag = g[members[r] * k + members[r]];
        chol[r * m + r] = Math.sqrt(Math.max(v, NNLS_PIVOT_FLOOR * diag, 1e-30));
      } else {
        chol[r * m + c] = v / chol[c * m + c];
      }
    }
  }
  for (let r = 0; r < m; r++) {
    let v = b[members[r]];
    for (let t = 0; t < r; t++) v -= chol[r * m + t] * s[members[t]];
    s[members[r]] = v / chol[r * m + r];
  }
  for (let r = m - 1; r >= 0; r--) {
    let v = s[members[r]];
    for (let t = r + 1; t < m; t++) v -= chol[t * m + r] * s[members[t]];
    s[members[r]] = v / chol[r * m + r];
  }
}

/** The batched decomposition on the CPU: the twin of nnlsGpu. */
export function nnlsCpu(problem: NnlsProblem & { activations: Float32Array }): NnlsSolution {
  const { activations, basis, n, channels, hw, k } = problem;
  const tolerance = problem.tolerance ?? NNLS_TOLERANCE;
  const g = gram(basis, k, channels);
  const b = project(activations, basis, n, channels, hw, k);
  const positions = n * hw;
  const x = new Float32Array(positions * k);
  const iterations = new Uint32Array(positions);
  const converged = new Uint8Array(positions);
  for (let q = 0; q < positions; q++) {
    const r = solveNnlsGram(g, b.subarray(q * k, (q + 1) * k), k, tolerance);
    x.set(r.x, q * k);
    iterations[q] = r.iterations;
    converged[q] = r.converged ? 1 : 0;
  }
  const { error, norm } = residuals(activations, basis, x, n, channels, hw, k);
  return { x, iterations, converged, error, norm };
}
