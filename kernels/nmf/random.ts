// The seeded Gaussian start block of the randomized subspace iteration. The GPU solver and the CPU
// reference draw it from here, so both begin from the same numbers and a seed fully determines a run.
import { seededRandom } from "../../src/runtime/random.ts";

/**
 * rows x cols standard normal values (row-major), rounded to float32 so that the float32 GPU path and the
 * float64 reference start from exactly the same block.
 */
export function gaussianBlock(seed: number, rows: number, cols: number): Float32Array {
  const next = seededRandom(seed ^ 0x9e3779b9);
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < out.length; i += 2) {
    // Box-Muller; 1 - u keeps the logarithm finite.
    const u = 1 - next();
    const r = Math.sqrt(-2 * Math.log(u));
    const phi = 2 * Math.PI * next();
    out[i] = r * Math.cos(phi);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(phi);
  }
  return out;
}
