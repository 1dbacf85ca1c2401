// Step 2: cosine similarities of a chunk of prototypes against every pooled column of the batch,
// scores[r, n] = sum_c bases_t[c, row_start + r] * pooled[c, n] * inv_norm[n] (bases are unit rows already).
// The product is the shared GEMM tile (kernels/_gemm_tile.wgsl and its K-major loader, compiled ahead of this
// file): a = the bases,
// b = the pooled columns, both stored channel-major with rows padded to a multiple of 4, so every load of a
// tile slice is one vec4 along the output axis.

// Params: common.wgsl, compiled ahead of this file by prototype_search.ts.

@group(0) @binding(0) var<storage, read> bases_t: array<vec4<f32>>;   // [C, bases_stride]
@group(0) @binding(1) var<storage, read> pooled: array<vec4<f32>>;    // [C, column_stride]
@group(0) @binding(2) var<storage, read> inv_norm: array<f32>;        // [N]
@group(0) @binding(3) var<storage, read_write> scores: array<f32>;    // [rows, N]
@group(0) @binding(4) var<uniform> p: Params;

var<private> row0: u32;
var<private> col0: u32;

// The operands of the K-major loader (_gemm_load_kmajor.wgsl, compiled ahead of this file).
fn gemm_fetch_a4(k: u32, q: u32) -> vec4<f32> {
  if (k >= p.channels || row0 + 4u * q >= p.rows) {
    return vec4<f32>(0.0);
  }
  return bases_t[(k * p.bases_stride + p.row_start + row0) / 4u + q];
}

fn gemm_fetch_b4(k: u32, q: u32) -> vec4<f32> {
  if (k >= p.channels || col0 + 4u * q >= p.columns) {
    return vec4<f32>(0.0);
  }
  return pooled[(k * p.column_stride + col0) / 4u + q];
}

@compute @workgroup_size(GEMM_SIDE, GEMM_SIDE)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  row0 = wid.y * GEMM_TILE;
  col0 = wid.x * GEMM_TILE;
  let acc = gemm_tile(lid, li, 0u, p.channels);
  for (var i = 0u; i < 8u; i++) {
    let r = row0 + gemm_row(lid.y, i);
    if (r >= p.rows) {
      continue;
    }
    for (var h = 0u; h < 2u; h++) {
      let c = col0 + gemm_col(lid.x, h);
      let v = acc[2u * i + h];
      for (var j = 0u; j < 4u; j++) {
        if (c + j < p.columns) {
          scores[r * p.columns + c + j] = v[j] * inv_norm[c + j];
        }
      }
    }
  }
}
