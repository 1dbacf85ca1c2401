// What the batched NNLS decomposition takes and returns, shared by the GPU dispatcher and the CPU twin, and
// the shape check both run before any compute.
import { checkK } from "./settings.ts";

/** Activations of n images (NCHW, C x hw per image) to express in a k x C basis with x >= 0 per position. */
export interface NnlsProblem {
  /** n x C x hw float32: a CPU array, or (GPU path) a buffer on the solver's device, e.g. ORT's tap output. */
  activations: Float32Array | GPUBuffer;
  /** k x C, rows = prototypes. */
  basis: Float32Array;
  n: number;
  channels: number;
  /** Positions per image (h x w). */
  hw: number;
  k: number;
  /** Relative KKT tolerance (default settings.ts NNLS_TOLERANCE). */
  tolerance?: number;
}

/** Per position q = image * hw + p. */
export interface NnlsSolution {
  /** Coefficients, positions x k. */
  x: Float32Array;
  /** Outer iterations of each position's solve. */
  iterations: Uint32Array;
  /** 1 where the KKT conditions held within the tolerance. */
  converged: Uint8Array;
  /** ||a_q - H^T x_q||^2. */
  error: Float64Array;
  /** ||a_q||^2. */
  norm: Float64Array;
}

/** Validates the shapes, naming the field and the numbers. */
export function checkNnlsProblem(p: NnlsProblem): void {
  checkK(p.k, "NNLS basis");
  for (const [name, v] of [["n", p.n], ["channels", p.channels], ["hw", p.hw]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new Error(`NNLS problem: ${name} must be a positive integer, got ${v}`);
    }
  }
  if (p.basis.length !== p.k * p.channels) {
    throw new Error(
      `NNLS problem: the basis has ${p.basis.length} values, expected k x C = ${p.k} x ${p.channels}`,
    );
  }
  const want = p.n * p.channels * p.hw;
  const have = p.activations instanceof Float32Array
    ? p.activations.length
    : Math.floor(p.activations.size / 4);
  if (have < want) {
    throw new Error(
      `NNLS problem: ${have} activations, expected n x C x hw = ${p.n} x ${p.channels} x ${p.hw} = ${want}`,
    );
  }
}
