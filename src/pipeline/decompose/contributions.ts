// What a decomposition says about one image, from its NNLS coefficients: per prototype a contribution map and
// its summary, and the reconstruction error's statistics.
//
// The contribution of prototype j at position q is x_j(q) x ||H_j||: the length of the prototype's part
// x_j(q) H_j of the reconstruction, in activation units. Raw coefficients would rank prototypes by how short
// their basis rows are (NMF's scale is split arbitrarily between basis and coefficients); the contribution
// does not. A prototype's share is its total contribution over the sum of all prototypes' totals.
import type { NnlsSolution } from "../../../kernels/nnls/mod.ts";

export interface PrototypeSummary {
  /** Row of the class's basis. */
  prototype: number;
  /** Sum over positions of x_j(q) ||H_j||. */
  totalContribution: number;
  /** totalContribution / the sum of every prototype's totalContribution (0 when all are 0). */
  share: number;
  /** Position (row, col on the layer's grid) with the largest contribution, and that contribution. */
  peak: { row: number; col: number; value: number };
  /** Positions where the prototype's coefficient is positive. */
  activePositions: number;
}

export interface ErrorSummary {
  /** sqrt(sum_q ||a_q - H^T x_q||^2 / sum_q ||a_q||^2) over the image (0 for an all-zero image). */
  relative: number;
  /** Statistics of the per-position relative error sqrt(error_q / ||a_q||^2), over positions with a != 0. */
  perPosition: { min: number; median: number; mean: number; max: number; positions: number };
  /** Positions whose activations are all zero (nothing to explain; coefficients 0). */
  zeroPositions: number;
  /** Positions whose solve stopped at the iteration cap before the KKT conditions held. */
  unconverged: number;
}

/** ||H_j|| of every row of a k x C basis. */
export function prototypeNorms(basis: Float32Array, k: number, channels: number): Float64Array {
  return Float64Array.from({ length: k }, (_, j) => {
    let s = 0;
    for (let c = 0; c < channels; c++) s += basis[j * channels + c] ** 2;
    return Math.sqrt(s);
  });
}

/** The k x hw contribution maps of image `image` of a batched solution (prototype-major, like the basis). */
export function contributionMaps(
  solution: NnlsSolution,
  norms: Float64Array,
  image: number,
  hw: number,
): Float32Array {
  const k = norms.length;
  const maps = new Float32Array(k * hw);
  for (let p = 0; p < hw; p++) {
    const q = image * hw + p;
    for (let j = 0; j < k; j++) maps[j * hw + p] = solution.x[q * k + j] * norms[j];
  }
  return maps;
}

/** The k x hw coefficient maps of one image (prototype-major). */
export function coefficientMaps(solution: NnlsSolution, k: number, image: number, hw: number): Float32Array {
  const out = new Float32Array(k * hw);
  for (let p = 0; p < hw; p++) {
    for (let j = 0; j < k; j++) out[j * hw + p] = solution.x[(image * hw + p) * k + j];
  }
  return out;
}

export function summarizePrototypes(maps: Float32Array, k: number, width: number): PrototypeSummary[] {
  const hw = maps.length / k;
  const totals = Array.from(
    { length: k },
    (_, j) => maps.subarray(j * hw, (j + 1) * hw).reduce((s, v) => s + v, 0),
  );
  const all = totals.reduce((s, v) => s + v, 0);
  return totals.map((total, j) => {
    const row = maps.subarray(j * hw, (j + 1) * hw);
    let peak = 0;
    for (let p = 1; p < hw; p++) if (row[p] > row[peak]) peak = p;
    return {
      prototype: j,
      totalContribution: total,
      share: all > 0 ? total / all : 0,
      peak: { row: Math.floor(peak / width), col: peak % width, value: row[peak] },
      activePositions: row.reduce((n, v) => n + (v > 0 ? 1 : 0), 0),
    };
  });
}

export function summarizeError(solution: NnlsSolution, image: number, hw: number): ErrorSummary {
  let error = 0, norm = 0, zeroPositions = 0, unconverged = 0;
  const rel: number[] = [];
  for (let p = 0; p < hw; p++) {
    const q = image * hw + p;
    error += solution.error[q];
    norm += solution.norm[q];
    if (!solution.converged[q]) unconverged++;
    if (solution.norm[q] > 0) rel.push(Math.sqrt(Math.max(0, solution.error[q]) / solution.norm[q]));
    else zeroPositions++;
  }
  rel.sort((a, b) => a - b);
  const median = rel.length === 0
    ? 0
    : rel.length % 2
    ? rel[(rel.length - 1) / 2]
    : (rel[rel.length / 2 - 1] + rel[rel.length / 2]) / 2;
  return {
    relative: norm > 0 ? Math.sqrt(Math.max(0, error) / norm) : 0,
    perPosition: {
      min: rel[0] ?? 0,
      median,
      mean: rel.length ? rel.reduce((s, v) => s + v, 0) / rel.length : 0,
      max: rel.at(-1) ?? 0,
      positions: rel.length,
    },
    zeroPositions,
    unconverged,
  };
}
