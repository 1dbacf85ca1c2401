// The CPU twin of fill.wgsl: the same hash of (seed, index), so both give the same values bit for bit.
import { pcg } from "../_hash.ts";

/** `count` seeded values in [0, 1), about half of them 0: element i equals the GPU fill's element i. */
export function sparseRandomCpu(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  const seedHash = pcg(seed >>> 0);
  for (let i = 0; i < count; i++) {
    const u = Math.fround((pcg((i ^ seedHash) >>> 0) >>> 8) / 16777216);
    out[i] = Math.max(Math.fround(2 * u - 1), 0);
  }
  return out;
}
