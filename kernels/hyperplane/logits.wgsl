// residual[r, p] = sigmoid(x_r . w + b) - label for each row r of one side and each partner class p: for the
// rows of one class this is a matmul (its rows x the weights of its pairs). Workgroup: TILE rows x TILE
// partners; x and y spread the row tiles (more than one dimension's limit on large blocks), z the partners.
@group(0) @binding(1) var<storage, read> x_self: array<f32>;
@group(0) @binding(2) var<storage, read> slots_self: array<ClassSlot>;
@group(0) @binding(3) var<storage, read> tile_class: array<u32>;
@group(0) @binding(4) var<storage, read> weights: array<f32>;
@group(0) @binding(5) var<storage, read_write> residual: array<f32>;
@group(0) @binding(6) var<storage, read_write> hits: array<u32>;

var<workgroup> x_tile: array<f32, 256>;
var<workgroup> w_tile: array<f32, 256>;

@compute @workgroup_size(16, 16)
fn logits(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row_tile = wg.x + wg.y * params.grid_x;
  if (row_tile >= params.row_tiles) {
    return;
  }
  let own = tile_class[row_tile];
  let n_partners = partners();
  let width = params.width;
  let row0 = row_tile * TILE;
  let p_load = wg.z * TILE + lid.y;
  var acc = 0.0;
  for (var k0 = 0u; k0 < width; k0 += TILE) {
    let k = k0 + lid.x;
    x_tile[lid.y * TILE + lid.x] = select(0.0, x_self[(row0 + lid.y) * width + k], k < width);
    var w = 0.0;
    if (k < width && p_load < n_partners) {
      w = weights[pair_of(own, p_load) * width + k];
    }
    w_tile[lid.y * TILE + lid.x] = w;
    workgroupBarrier();
    for (var t = 0u; t < TILE; t++) {
      acc += x_tile[lid.y * TILE + t] * w_tile[lid.x * TILE + t];
    }
    workgroupBarrier();
  }
  let p = wg.z * TILE + lid.x;
  if (p >= n_partners) {
    return;
  }
  let slot = slots_self[own];
  let row = row0 + lid.y;
  let real = row < slot.start + slot.count;
  let out = row * n_partners + p;
  residual[out] = select(0.0, 1.0 / (1.0 + exp(-acc)) - f32(params.side), real);
  if (params.last == 1u) {
    hits[out] = select(0u, 1u, real && (acc > 0.0) == (params.side == 1u));
  }
}
