// residual[r, p] = sigmoid(x_r . w + b) - label for each row r of one side and each partner class p: for the
// rows of one class this is a matmul (its rows x the weights of its pairs), one GEMM tile (64 rows x 64
// partners) per workgroup; x and y spread the row tiles (more than one dimension's limit on large blocks),
// z the partner tiles.
@group(0) @binding(1) var<storage, read> x_self: array<vec4<f32>>;     // [rows, width_stride]
@group(0) @binding(2) var<storage, read> slots_self: array<ClassSlot>;
@group(0) @binding(3) var<storage, read> tile_class: array<u32>;
@group(0) @binding(4) var<storage, read> weights: array<vec4<f32>>;    // [pairs, width_stride]
@group(0) @binding(5) var<storage, read_write> residual: array<f32>;   // [rows, partner_stride]
@group(0) @binding(6) var<storage, read_write> hits: array<u32>;       // [rows, partner_stride]

var<private> row0: u32;
var<private> p0: u32;
var<private> own: u32;

// Both operands are contiguous along the depth (the channels): with D4 = GEMM_DEPTH / 4 vec4s per row of a
// slice (8 at depth 32), slot li + 64 m is tile position (li + 64 m) / D4 at depths 4 ((li + 64 m) % D4) + 0..3,
// so D4 consecutive invocations read a slice's row (128 bytes at depth 32).
fn gemm_load(k0: u32, li: u32) {
  let w4 = width_stride() / 4u;
  let n_partners = partners();
  let d4 = GEMM_DEPTH / 4u;
  for (var m = 0u; m < GEMM_DEPTH * GEMM_SLOTS / GEMM_INVOCATIONS; m++) {
    let slot = li + GEMM_INVOCATIONS * m;
    let pos = slot / d4;
    let kv = slot % d4;
    let k4 = k0 / 4u + kv;
    var a = vec4<f32>(0.0);
    var b = vec4<f32>(0.0);
    if (k4 < w4) {
      a = x_self[(row0 + pos) * w4 + k4];
      if (p0 + pos < n_partners) {
        b = weights[pair_of(own, p0 + pos) * w4 + k4];
      }
    }
    for (var c = 0u; c < 4u; c++) {
      gemm_put_a(4u * kv + c, pos, a[c]);
      gemm_put_b(4u * kv + c, pos, b[c]);
    }
  }
}

@compute @workgroup_size(GEMM_SIDE, GEMM_SIDE)
fn logits(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let row_tile = wg.x + wg.y * params.grid_x;
  if (row_tile >= params.row_tiles) {
    return;
  }
  own = tile_class[row_tile];
  row0 = row_tile * GEMM_TILE;
  p0 = wg.z * GEMM_TILE;
  let acc = gemm_tile(lid, li, 0u, params.width);
  let n_partners = partners();
  let stride = partner_stride();
  let slot = slots_self[own];
  let label = f32(params.side);
  for (var i = 0u; i < 8u; i++) {
    let row = row0 + gemm_row(lid.y, i);
    let real = row < slot.start + slot.count;
    for (var h = 0u; h < 2u; h++) {
      let v = acc[2u * i + h];
      for (var j = 0u; j < 4u; j++) {
        let p = p0 + gemm_col(lid.x, h) + j;
        if (p >= stride) {
          continue;
        }
        // Padding rows and partner columns get 0: the gradient pass sums them.
        let counted = real && p < n_partners;
        let z = v[j];
        let out = row * stride + p;
        residual[out] = select(0.0, 1.0 / (1.0 + exp(-z)) - label, counted);
        if (params.last == 1u) {
          hits[out] = select(0u, 1u, counted && (z > 0.0) == (params.side == 1u));
        }
      }
    }
  }
}
