// The gradient of one side's rows, per class c of the side: X_c^T S_c (width x partners), the transposed
// product of the logits pass. Side A stores it; side B adds its own and takes the step
// w -= lr * (g_A + g_B) / (n_a + n_b), the mean BCE's gradient. Workgroup: TILE weights x TILE partners of
// one class; x: weight tiles, y: partner tiles, z: the class.
@group(0) @binding(1) var<storage, read> x_self: array<f32>;
@group(0) @binding(2) var<storage, read> slots_self: array<ClassSlot>;
@group(0) @binding(3) var<storage, read> slots_other: array<ClassSlot>;
@group(0) @binding(4) var<storage, read> residual: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad: array<f32>;
@group(0) @binding(6) var<storage, read_write> weights: array<f32>;

var<workgroup> x_tile: array<f32, 256>;
var<workgroup> s_tile: array<f32, 256>;
var<workgroup> rows_shared: vec2<u32>;

@compute @workgroup_size(16, 16)
fn gradient(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let own = wg.z;
  if (lid.x == 0u && lid.y == 0u) {
    rows_shared = vec2<u32>(slots_self[own].start, slots_self[own].start + slots_self[own].count);
  }
  // The row range is the same for the whole workgroup; the barrier inside the loop needs it to be uniform.
  let rows = workgroupUniformLoad(&rows_shared);
  let n_partners = partners();
  let width = params.width;
  let k_load = wg.x * TILE + lid.x;
  let p_load = wg.y * TILE + lid.x;
  var acc = 0.0;
  for (var r0 = rows.x; r0 < rows.y; r0 += TILE) {
    let r = r0 + lid.y;
    x_tile[lid.y * TILE + lid.x] = select(0.0, x_self[r * width + k_load], k_load < width);
    s_tile[lid.y * TILE + lid.x] = select(0.0, residual[r * n_partners + p_load], p_load < n_partners);
    workgroupBarrier();
    for (var t = 0u; t < TILE; t++) {
      acc += x_tile[t * TILE + lid.x] * s_tile[t * TILE + lid.y];
    }
    workgroupBarrier();
  }
  let k = k_load;
  let p = wg.y * TILE + lid.y;
  if (k >= width || p >= n_partners) {
    return;
  }
  let e = pair_of(own, p) * width + k;
  if (params.side == 0u) {
    grad[e] = acc;
    return;
  }
  let n = f32(slots_other[p].count + rows.y - rows.x);
  weights[e] = weights[e] - params.lr * ((grad[e] + acc) * (1.0 / n));
}
