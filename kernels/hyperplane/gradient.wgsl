// The gradient of one side's rows, per class c of the side: X_c^T S_c (width x partners), the transposed
// product of the logits pass, one GEMM tile (64 weights x 64 partners) per workgroup over the class's rows.
// Side A stores it; side B adds its own and takes the step w -= lr * (g_A + g_B) / (n_a + n_b), the mean
// BCE's gradient. x: weight tiles, y: partner tiles, z: the class.
@group(0) @binding(1) var<storage, read> x_self: array<vec4<f32>>;     // [rows, width_stride]
@group(0) @binding(2) var<storage, read> slots_self: array<ClassSlot>;
@group(0) @binding(3) var<storage, read> slots_other: array<ClassSlot>;
@group(0) @binding(4) var<storage, read> residual: array<vec4<f32>>;   // [rows, partner_stride]
@group(0) @binding(5) var<storage, read_write> grad: array<f32>;       // [pairs, width_stride]
@group(0) @binding(6) var<storage, read_write> weights: array<f32>;    // [pairs, width_stride]

var<workgroup> rows_shared: vec2<u32>;
var<private> k_first: u32;
var<private> p0: u32;
var<private> row_end: u32;

// Both operands are contiguous along the outputs (weights, partners) with the rows as the depth: the K-major
// loader (_gemm_load_kmajor.wgsl, compiled ahead of this file) reads them as vec4s.
fn gemm_fetch_a4(r: u32, q: u32) -> vec4<f32> {
  let w4 = width_stride() / 4u;
  if (r >= row_end || k_first / 4u + q >= w4) {
    return vec4<f32>(0.0);
  }
  return x_self[r * w4 + k_first / 4u + q];
}

fn gemm_fetch_b4(r: u32, q: u32) -> vec4<f32> {
  let s4 = partner_stride() / 4u;
  if (r >= row_end || p0 / 4u + q >= s4) {
    return vec4<f32>(0.0);
  }
  return residual[r * s4 + p0 / 4u + q];
}

@compute @workgroup_size(GEMM_SIDE, GEMM_SIDE)
fn gradient(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let own = wg.z;
  if (li == 0u) {
    rows_shared = vec2<u32>(slots_self[own].start, slots_self[own].start + slots_self[own].count);
  }
  // The row range is the same for the whole workgroup; the tile's barriers need it to be uniform.
  let rows = workgroupUniformLoad(&rows_shared);
  row_end = rows.y;
  k_first = wg.x * GEMM_TILE;
  p0 = wg.y * GEMM_TILE;
  let acc = gemm_tile(lid, li, rows.x, rows.y);
  let n_partners = partners();
  let stride = width_stride();
  for (var i = 0u; i < 8u; i++) {
    let k = k_first + gemm_row(lid.y, i);
    if (k >= params.width) {
      continue;
    }
    for (var h = 0u; h < 2u; h++) {
      let v = acc[2u * i + h];
      for (var j = 0u; j < 4u; j++) {
        let p = p0 + gemm_col(lid.x, h) + j;
        if (p >= n_partners) {
          continue;
        }
        let n = f32(slots_other[p].count + rows.y - rows.x);
        let e = pair_of(own, p) * stride + k;
        if (params.side == 0u) {
          grad[e] = v[j];
        } else {
          weights[e] = weights[e] - params.lr * ((grad[e] + v[j]) * (1.0 / n));
        }
      }
    }
  }
}
