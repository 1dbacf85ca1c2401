// The integer hashes behind every seeded draw on the GPU (SmoothGrad noise, the hyperplanes' starting weights,
// the bench's random input), written once: a family that draws lists this file in its program's sources.
// Counter-based, so any element is drawn independently of the others and of the dispatch; _hash.ts is the
// CPU twin, bit for bit.

// PCG's output permutation (O'Neill 2014, "RXS M XS"), as a hash of one word.
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

// One round of a 32-bit integer finalizer (the "lowbias32" constants of Wellons' hash-prospector).
fn mix32(x: u32) -> u32 {
  var h = x;
  h = (h ^ (h >> 16u)) * 0x7feb352du;
  h = (h ^ (h >> 15u)) * 0x846ca68bu;
  return h ^ (h >> 16u);
}
