// The one GEMM tile of protoscope's kernels: out[r, c] = sum_k a[k, r] * b[k, c] for a 64 x 64 block of
// outputs, used by the search's similarities and the hyperplanes' logits and gradients (each family compiles
// this file ahead of its own, as WGSL has no includes). Its sizes are written once, in kernels/_gemm_tile.ts,
// whose GEMM_CONSTANTS rewrite the `const GEMM_TILE` and `const GEMM_DEPTH` lines below (the values here are
// only placeholders); the rest is derived from them. The body is written for 8 x 8 outputs per invocation.
//
// A workgroup is 8 x 8 invocations; invocation (x, y) computes 8 x 8 outputs: rows 4y..4y+3 and 32+4y..32+4y+3,
// columns 4x..4x+3 and 32+4x..32+4x+3. The depth goes in slices of 32 through workgroup memory, stored
// depth-major as vec4s of 4 consecutive output positions: gemm_a[kk * 16 + q] holds rows 4q..4q+3 at depth
// kk. At each depth step the 8 invocations of a row of the workgroup read 8 consecutive vec4s of gemm_b (no two
// in the same bank) and one vec4 of gemm_a that they share (a broadcast); each read feeds 16 vec4 FMAs.
//
// The family provides `fn gemm_load(k0: u32, li: u32)`: fill gemm_a and gemm_b with depth slice
// [k0, k0 + GEMM_DEPTH) (zeros beyond the data), through gemm_put_a4 / gemm_put_b4 when the data is contiguous
// along the outputs (_gemm_load_kmajor.wgsl is that loader), or gemm_put_a / gemm_put_b element by element when
// it is contiguous along the depth (the hyperplane logits).

// Output rows and columns of one workgroup, and the depth of one slice through workgroup memory (rewritten
// from _gemm_tile.ts).
const GEMM_TILE: u32 = 64u;
const GEMM_DEPTH: u32 = 32u;
// vec4 slots per depth row of a tile.
const GEMM_SLOTS: u32 = GEMM_TILE / 4u;
// Invocations per workgroup side (each covers 8 rows and 8 columns: two vec4s a side), and per workgroup (what
// each gemm_load call is shared by). The families' kernels use @workgroup_size(GEMM_SIDE, GEMM_SIDE).
const GEMM_SIDE: u32 = GEMM_TILE / 8u;
const GEMM_INVOCATIONS: u32 = GEMM_SIDE * GEMM_SIDE;
// Half the tile: the second vec4 of an invocation's rows / columns starts there.
const GEMM_HALF: u32 = GEMM_TILE / 2u;

// GEMM_DEPTH x GEMM_SLOTS vec4s each: 2 x 8 KiB at 64 x 32.
var<workgroup> gemm_a: array<vec4<f32>, GEMM_DEPTH * GEMM_SLOTS>;
var<workgroup> gemm_b: array<vec4<f32>, GEMM_DEPTH * GEMM_SLOTS>;

// Output positions 4 q .. 4 q + 3 at depth kk.
fn gemm_put_a4(kk: u32, q: u32, v: vec4<f32>) {
  gemm_a[kk * GEMM_SLOTS + q] = v;
}
fn gemm_put_b4(kk: u32, q: u32, v: vec4<f32>) {
  gemm_b[kk * GEMM_SLOTS + q] = v;
}
// Output position `pos` at depth kk.
fn gemm_put_a(kk: u32, pos: u32, v: f32) {
  gemm_a[kk * GEMM_SLOTS + pos / 4u][pos % 4u] = v;
}
fn gemm_put_b(kk: u32, pos: u32, v: f32) {
  gemm_b[kk * GEMM_SLOTS + pos / 4u][pos % 4u] = v;
}

// Row of the tile that accumulator i (0..7) of invocation row y holds; its two vec4s (acc[2 i], acc[2 i + 1])
// hold columns gemm_col(x, 0) .. + 3 and gemm_col(x, 1) .. + 3.
fn gemm_row(y: u32, i: u32) -> u32 {
  return 4u * y + i % 4u + GEMM_HALF * (i / 4u);
}
fn gemm_col(x: u32, half: u32) -> u32 {
  return 4u * x + GEMM_HALF * half;
}

// The 8 x 8 outputs of invocation (x, y) = lid.xy over depth [k_begin, k_end), as acc[2 i + h] (row
// gemm_row(y, i), columns gemm_col(x, h) + 0..3). k_begin and k_end must be uniform: the loop has barriers.
fn gemm_tile(lid: vec3<u32>, li: u32, k_begin: u32, k_end: u32) -> array<vec4<f32>, 16> {
  var acc: array<vec4<f32>, 16>;
  for (var k0 = k_begin; k0 < k_end; k0 += GEMM_DEPTH) {
    gemm_load(k0, li);
    workgroupBarrier();
    for (var kk = 0u; kk < GEMM_DEPTH; kk++) {
      let a0 = gemm_a[kk * GEMM_SLOTS + lid.y];
      let a1 = gemm_a[kk * GEMM_SLOTS + GEMM_SIDE + lid.y];
      let b0 = gemm_b[kk * GEMM_SLOTS + lid.x];
      let b1 = gemm_b[kk * GEMM_SLOTS + GEMM_SIDE + lid.x];
      acc[0] += a0.x * b0;
      acc[1] += a0.x * b1;
      acc[2] += a0.y * b0;
      acc[3] += a0.y * b1;
      acc[4] += a0.z * b0;
      acc[5] += a0.z * b1;
      acc[6] += a0.w * b0;
      acc[7] += a0.w * b1;
      acc[8] += a1.x * b0;
      acc[9] += a1.x * b1;
      acc[10] += a1.y * b0;
      acc[11] += a1.y * b1;
      acc[12] += a1.z * b0;
      acc[13] += a1.z * b1;
      acc[14] += a1.w * b0;
      acc[15] += a1.w * b1;
    }
    workgroupBarrier();
  }
  return acc;
}
