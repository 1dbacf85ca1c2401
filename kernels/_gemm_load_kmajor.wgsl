// gemm_load for the shared GEMM tile (_gemm_tile.wgsl) when both operands are stored depth-major, contiguous
// along the outputs: each slot of a tile slice is one vec4 load. Compiled after _gemm_tile.wgsl by the
// families whose operands are laid out so (the search's similarities, the hyperplane gradient); the family
// provides the two fetches, zero outside its data:
//   fn gemm_fetch_a4(k: u32, q: u32) -> vec4<f32>   output rows 4 q .. 4 q + 3 of the tile at depth k
//   fn gemm_fetch_b4(k: u32, q: u32) -> vec4<f32>   output columns 4 q .. 4 q + 3 of the tile at depth k

// Slots li + 64 m (m = 0..7) of both tiles: depth (li + 64 m) / 16, output positions 4 ((li + 64 m) % 16) + 0..3,
// so 16 consecutive invocations read 256 contiguous bytes of one depth row.
fn gemm_load(k0: u32, li: u32) {
  for (var m = 0u; m < GEMM_DEPTH * GEMM_SLOTS / GEMM_INVOCATIONS; m++) {
    let slot = li + GEMM_INVOCATIONS * m;
    let kk = slot / GEMM_SLOTS;
    let q = slot % GEMM_SLOTS;
    gemm_put_a4(kk, q, gemm_fetch_a4(k0 + kk, q));
    gemm_put_b4(kk, q, gemm_fetch_b4(k0 + kk, q));
  }
}
