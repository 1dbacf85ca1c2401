// residual[r, p] = sigmoid(x_r . w + b) - label for each row r of one side and each partner class p: for the
// rows of one class this is a matmul (its rows x the weights of its pairs). Workgroup: BLOCK rows x BLOCK
// partners, RB x RB per invocation (rows ly + TILE * i, partners lx + TILE * j); x and y spread the row tiles
// (more than one dimension's limit on large blocks), z the partner tiles.
@group(0) @binding(1) var<storage, read> x_self: array<f32>;
@group(0) @binding(2) var<storage, read> slots_self: array<ClassSlot>;
@group(0) @binding(3) var<storage, read> tile_class: array<u32>;
@group(0) @binding(4) var<storage, read> weights: array<f32>;
@group(0) @binding(5) var<storage, read_write> residual: array<f32>;
@group(0) @binding(6) var<storage, read_write> hits: array<u32>;

// [BLOCK rows or partners][TILE weights].
var<workgroup> x_tile: array<f32, BLOCK * TILE>;
var<workgroup> w_tile: array<f32, BLOCK * TILE>;

@compute @workgroup_size(TILE, TILE)
fn logits(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row_tile = wg.x + wg.y * params.grid_x;
  if (row_tile >= params.row_tiles) {
    return;
  }
  let own = tile_class[row_tile];
  let n_partners = partners();
  let width = params.width;
  let row0 = row_tile * BLOCK;
  let p0 = wg.z * BLOCK;
  var acc: array<f32, RB * RB>;
  for (var k0 = 0u; k0 < width; k0 += TILE) {
    let k = k0 + lid.x;
    for (var i = 0u; i < RB; i++) {
      let r = lid.y + TILE * i;
      x_tile[r * TILE + lid.x] = select(0.0, x_self[(row0 + r) * width + k], k < width);
      let p = p0 + r;
      var w = 0.0;
      if (k < width && p < n_partners) {
        w = weights[pair_of(own, p) * width + k];
      }
      w_tile[r * TILE + lid.x] = w;
    }
    workgroupBarrier();
    for (var t = 0u; t < TILE; t++) {
      var xs: array<f32, RB>;
      for (var i = 0u; i < RB; i++) {
        xs[i] = x_tile[(lid.y + TILE * i) * TILE + t];
      }
      for (var j = 0u; j < RB; j++) {
        let w = w_tile[(lid.x + TILE * j) * TILE + t];
        for (var i = 0u; i < RB; i++) {
          acc[i * RB + j] += xs[i] * w;
        }
      }
    }
    workgroupBarrier();
  }
  let slot = slots_self[own];
  let label = f32(params.side);
  for (var j = 0u; j < RB; j++) {
    let p = p0 + lid.x + TILE * j;
    if (p >= n_partners) {
      continue;
    }
    for (var i = 0u; i < RB; i++) {
      let row = row0 + lid.y + TILE * i;
      let z = acc[i * RB + j];
      let real = row < slot.start + slot.count;
      let out = row * n_partners + p;
      residual[out] = select(0.0, 1.0 / (1.0 + exp(-z)) - label, real);
      if (params.last == 1u) {
        hits[out] = select(0u, 1u, real && (z > 0.0) == (params.side == 1u));
      }
    }
  }
}
