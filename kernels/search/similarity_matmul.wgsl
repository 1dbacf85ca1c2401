// Step 2: cosine similarities of a chunk of prototypes against every pooled column of the batch,
// scores[r, n] = sum_c bases_t[c, row_start + r] * pooled[c, n] * inv_norm[n] (bases are unit rows already).
// Classic shared-memory tiling: a 16x16 workgroup computes a 64x64 output tile, each invocation 4x4 outputs
// strided by 16 so that shared-memory reads are conflict-free and the final stores are coalesced; both
// operands are stored K-major so tile loads are contiguous along the output axes.

// Params: common.wgsl, compiled ahead of this file by prototype_search.ts.

// Output tile side, set by prototype_search.ts, which sizes the grid and the prototype chunks with it. The
// body is written for 64: 16 x 16 invocations of 4 x 4 outputs.
override TILE: u32;
const DEPTH: u32 = 16u;

@group(0) @binding(0) var<storage, read> bases_t: array<f32>;   // [C, P]
@group(0) @binding(1) var<storage, read> pooled: array<f32>;    // [C, N]
@group(0) @binding(2) var<storage, read> inv_norm: array<f32>;  // [N]
@group(0) @binding(3) var<storage, read_write> scores: array<f32>; // [rows, N]
@group(0) @binding(4) var<uniform> p: Params;

// Tiles of DEPTH x TILE values, stored as [DEPTH][16] vec4s whose component i is tile position t + 16 * i:
// invocation (x, y) then fetches its 4 strided columns / rows with one vec4 read. vec4 elements also keep the
// arrays short, which matters on llvmpipe, whose compile time grows with the element count of workgroup arrays.
var<workgroup> tile_b: array<vec4<f32>, 256>;
var<workgroup> tile_a: array<vec4<f32>, 256>;

@compute @workgroup_size(16, 16)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let row0 = wid.y * TILE;
  let col0 = wid.x * TILE;
  // Output rows row0 + lid.y + 16 * i (i = 0..3), columns col0 + lid.x + 16 * j (j = vector component).
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  // Loads: invocation li fills slot li of both tiles, i.e. depth li / 16, positions li % 16 + 16 * i; for a
  // given depth, 16 consecutive invocations read 16 consecutive floats per load.
  let load_k = li / 16u;
  let load_t = li % 16u;
  for (var k0 = 0u; k0 < p.channels; k0 += DEPTH) {
    let k = k0 + load_k;
    var b = vec4<f32>(0.0);
    var a = vec4<f32>(0.0);
    if (k < p.channels) {
      let b_row = k * p.prototypes + p.row_start + row0;
      let a_row = k * p.columns + col0;
      for (var i = 0u; i < 4u; i++) {
        let t = load_t + 16u * i;
        if (row0 + t < p.rows) {
          b[i] = bases_t[b_row + t];
        }
        if (col0 + t < p.columns) {
          a[i] = pooled[a_row + t];
        }
      }
    }
    tile_b[li] = b;
    tile_a[li] = a;
    workgroupBarrier();
    for (var kk = 0u; kk < DEPTH; kk++) {
      let bv = tile_b[kk * 16u + lid.y];
      let av = tile_a[kk * 16u + lid.x];
      acc0 += bv.x * av;
      acc1 += bv.y * av;
      acc2 += bv.z * av;
      acc3 += bv.w * av;
    }
    workgroupBarrier();
  }
  store_row(row0 + lid.y, col0 + lid.x, acc0);
  store_row(row0 + lid.y + 16u, col0 + lid.x, acc1);
  store_row(row0 + lid.y + 32u, col0 + lid.x, acc2);
  store_row(row0 + lid.y + 48u, col0 + lid.x, acc3);
}

fn store_row(r: u32, c: u32, v: vec4<f32>) {
  if (r >= p.rows) {
    return;
  }
  let out = r * p.columns;
  for (var j = 0u; j < 4u; j++) {
    let cj = c + 16u * j;
    if (cj < p.columns) {
      scores[out + cj] = v[j] * inv_norm[cj];
    }
  }
}
