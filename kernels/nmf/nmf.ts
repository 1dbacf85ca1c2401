// Public NMF API: V ~ W H with W, H >= 0, scikit-learn's NMF defaults (NNDSVDa init, coordinate descent,
// Frobenius loss, max_iter 200, tol 1e-4) run in WGSL on a GPUDevice, many factorizations at once.
// The algorithm and stopping rule are described in reference.ts (the CPU twin) and the .wgsl files.
import type { NmfOptions, NmfResult } from "./settings.ts";
import { type NmfProblem, solveBatched } from "./solver.ts";

export type { NmfOptions, NmfResult } from "./settings.ts";
export type { NmfProblem } from "./solver.ts";

/**
 * Factorizes every problem (V: n x c, non-negative) into W (n x k) and H (k x c). Problems of the same
 * shape advance together in the same dispatches; a batch too large for one storage binding is split into
 * several dispatch groups. V may already be on the GPU (a GPUBuffer, at byte `offset`); consecutive slices
 * of one buffer are read in place. Host arrays are checked for negative or non-finite values; GPU buffers
 * are not. Deterministic for a given seed, and a problem's result does not depend on its batch.
 */
export function nmfBatched(
  device: GPUDevice,
  problems: NmfProblem[],
  opts: NmfOptions = {},
): Promise<NmfResult[]> {
  return solveBatched(device, problems, opts);
}

/** One factorization; see nmfBatched. */
export async function nmf(device: GPUDevice, problem: NmfProblem, opts: NmfOptions = {}): Promise<NmfResult> {
  const [result] = await solveBatched(device, [problem], opts);
  return result;
}
