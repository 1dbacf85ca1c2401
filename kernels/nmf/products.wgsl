// The two skinny products that dominate NMF, both streaming V once with coalesced loads:
//   vtf: out[g][t][i] = sum_j V[g][i][j] F[g][t][j]   (F = H or Q^T, K x c)  -> V H^T, V Q
//   vtx: out[g][s][t][j] = sum_{i in row block s} V[g][i][j] X[g][t][i]   (X^T = W^T or (VQ)^T, K x n)
// The problem axis of the grid indexes `live`, the list of problems still iterating, so converged problems
// are not visited. Workgroup memory is kept to one 256 x vec4 scratch array: llvmpipe compile time grows
// steeply with workgroup array length.

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> live: array<u32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> factor: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// Rows per 32-lane group in vtf; kernels.ts lowers it for wide K to bound the accumulators (R * K).
const R: u32 = 4u;
const LANES: u32 = 32u;
// Lane groups per vtf workgroup (GROUPS * LANES invocations, GROUPS * R rows of V) and columns per vtx
// workgroup, set by kernels.ts from plan.ts, which sizes the grid with them.
override GROUPS: u32;
override VTX_COLUMNS: u32;
const RK: u32 = R * K;
const ROUNDS: u32 = (RK + 3u) / 4u;

var<workgroup> scratch: array<vec4<f32>, GROUPS * LANES>;

fn acc_at(acc: ptr<function, array<f32, RK>>, e: u32) -> f32 {
  if (e < RK) { return (*acc)[e]; }
  return 0.0;
}

// 32 lanes sweep one block of R rows together, lane l taking columns l, l + 32, ...: every V load of a
// lane group is one contiguous 128-byte segment, and each F value loaded serves R rows. The lane partial
// sums are then added in a fixed order through workgroup memory, four accumulators per round.
@compute @workgroup_size(GROUPS * LANES)
fn vtf(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let g = live[wid.y];
  let n = prm.n;
  let c = prm.c;
  let lane = lid % LANES;
  let grp = lid / LANES;
  let row0 = (wid.x * GROUPS + grp) * R;
  let vbase = g * n * c;
  let fbase = g * K * c;
  var acc: array<f32, RK>;
  for (var j = lane; j < c; j += LANES) {
    var f: array<f32, K>;
    for (var t = 0u; t < K; t++) { f[t] = factor[fbase + t * c + j]; }
    for (var r = 0u; r < R; r++) {
      let row = row0 + r;
      if (row < n) {
        let x = v[vbase + row * c + j];
        for (var t = 0u; t < K; t++) { acc[r * K + t] += x * f[t]; }
      }
    }
  }
  for (var q = 0u; q < ROUNDS; q++) {
    scratch[lid] = vec4<f32>(acc_at(&acc, 4u * q), acc_at(&acc, 4u * q + 1u), acc_at(&acc, 4u * q + 2u),
                             acc_at(&acc, 4u * q + 3u));
    workgroupBarrier();
    if (lane == 0u) {
      var sum = vec4<f32>();
      for (var l = 0u; l < LANES; l++) { sum += scratch[lid + l]; }
      for (var u = 0u; u < 4u; u++) {
        let e = 4u * q + u;
        let row = row0 + e / K;
        if (e < RK && row < n) { out[g * K * n + (e % K) * n + row] = sum[u]; }
      }
    }
    workgroupBarrier();
  }
}

// One invocation per column j of one row block: consecutive invocations read consecutive columns of each
// row of V (coalesced), and all of them read the same X^T[t][i] (a broadcast load). No workgroup memory.
// The row-block partials are summed in block order by the consumer (update_h or sum_splits), so the
// result does not depend on scheduling.
@compute @workgroup_size(VTX_COLUMNS)
fn vtx(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let g = live[wid.z];
  let n = prm.n;
  let c = prm.c;
  let j = gid.x;
  let split = wid.y;
  if (j >= c) { return; }
  let r_begin = split * prm.rows_per_split;
  let r_end = min(n, r_begin + prm.rows_per_split);
  let vbase = g * n * c;
  let xbase = g * K * n;
  var acc: array<f32, K>;
  for (var i = r_begin; i < r_end; i++) {
    let x = v[vbase + i * c + j];
    for (var t = 0u; t < K; t++) { acc[t] += x * factor[xbase + t * n + i]; }
  }
  let obase = (g * prm.splits + split) * K * c;
  for (var t = 0u; t < K; t++) { out[obase + t * c + j] = acc[t]; }
}
