// The gradient of one side's rows, per class c of the side: X_c^T S_c (width x partners), the transposed
// product of the logits pass. Side A stores it; side B adds its own and takes the step
// w -= lr * (g_A + g_B) / (n_a + n_b), the mean BCE's gradient. Workgroup: BLOCK weights x BLOCK partners
// of one class, RB x RB per invocation (weights lx + TILE * i, partners ly + TILE * j); x: weight tiles,
// y: partner tiles, z: the class.
@group(0) @binding(1) var<storage, read> x_self: array<f32>;
@group(0) @binding(2) var<storage, read> slots_self: array<ClassSlot>;
@group(0) @binding(3) var<storage, read> slots_other: array<ClassSlot>;
@group(0) @binding(4) var<storage, read> residual: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad: array<f32>;
@group(0) @binding(6) var<storage, read_write> weights: array<f32>;

// [TILE rows][BLOCK weights or partners].
var<workgroup> x_tile: array<f32, TILE * BLOCK>;
var<workgroup> s_tile: array<f32, TILE * BLOCK>;
var<workgroup> rows_shared: vec2<u32>;

@compute @workgroup_size(TILE, TILE)
fn gradient(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let own = wg.z;
  if (lid.x == 0u && lid.y == 0u) {
    rows_shared = vec2<u32>(slots_self[own].start, slots_self[own].start + slots_self[own].count);
  }
  // The row range is the same for the whole workgroup; the barrier inside the loop needs it to be uniform.
  let rows = workgroupUniformLoad(&rows_shared);
  let n_partners = partners();
  let width = params.width;
  let k0 = wg.x * BLOCK;
  let p0 = wg.y * BLOCK;
  var acc: array<f32, RB * RB>;
  for (var r0 = rows.x; r0 < rows.y; r0 += TILE) {
    let r = r0 + lid.y;
    for (var i = 0u; i < RB; i++) {
      let c = lid.x + TILE * i;
      let k = k0 + c;
      x_tile[lid.y * BLOCK + c] = select(0.0, x_self[r * width + k], k < width);
      let p = p0 + c;
      s_tile[lid.y * BLOCK + c] = select(0.0, residual[r * n_partners + p], p < n_partners);
    }
    workgroupBarrier();
    for (var t = 0u; t < TILE; t++) {
      var xs: array<f32, RB>;
      for (var i = 0u; i < RB; i++) {
        xs[i] = x_tile[t * BLOCK + lid.x + TILE * i];
      }
      for (var j = 0u; j < RB; j++) {
        let s = s_tile[t * BLOCK + lid.y + TILE * j];
        for (var i = 0u; i < RB; i++) {
          acc[i * RB + j] += xs[i] * s;
        }
      }
    }
    workgroupBarrier();
  }
  for (var j = 0u; j < RB; j++) {
    let p = p0 + lid.y + TILE * j;
    if (p >= n_partners) {
      continue;
    }
    let n = f32(slots_other[p].count + rows.y - rows.x);
    for (var i = 0u; i < RB; i++) {
      let k = k0 + lid.x + TILE * i;
      if (k >= width) {
        continue;
      }
      let e = pair_of(own, p) * width + k;
      if (params.side == 0u) {
        grad[e] = acc[i * RB + j];
      } else {
        weights[e] = weights[e] - params.lr * ((grad[e] + acc[i * RB + j]) * (1.0 / n));
      }
    }
  }
}
