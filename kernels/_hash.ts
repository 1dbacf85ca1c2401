// The CPU twin of _hash.wgsl: the same integer hashes in 32-bit arithmetic, so the CPU twins of the families
// that draw seeded values reproduce the GPU's draws bit for bit.

/** PCG's output permutation as a hash of one word (`pcg` in _hash.wgsl). */
export function pcg(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** One round of a 32-bit integer finalizer (`mix32` in _hash.wgsl). */
export function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
