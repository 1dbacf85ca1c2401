// Final relative reconstruction error ||V - W H||_F / ||V||_F, computed elementwise (not from Gram
// identities, whose cancellation would swamp small errors in float32).

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read_write> state: array<State>;
@group(0) @binding(2) var<storage, read> v: array<f32>;            // [G][n][c]
@group(0) @binding(3) var<storage, read> wt: array<f32>;           // [G][K][n]
@group(0) @binding(4) var<storage, read> h: array<f32>;            // [G][K][c]
@group(0) @binding(5) var<storage, read_write> res_part: array<f32>; // [G][res_tiles]

// Rows of V per residual workgroup, set by kernels.ts from plan.ts (which sizes the grid).
override RES_ROWS: u32;

var<workgroup> wrows: array<f32, RES_ROWS * K>;
var<workgroup> red: array<f32, 256>;

fn tree_sum(lid: u32) {
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride /= 2u) {
    if (lid < stride) { red[lid] += red[lid + stride]; }
    workgroupBarrier();
  }
}

// Squared residual of RES_ROWS rows of V; invocations take consecutive columns (coalesced V reads).
@compute @workgroup_size(256)
fn residual(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let g = wid.y;
  let n = prm.n;
  let c = prm.c;
  let row0 = wid.x * RES_ROWS;
  for (var e = lid; e < RES_ROWS * K; e += 256u) {
    let row = row0 + e / K;
    var x = 0.0;
    if (row < n) { x = wt[g * K * n + (e % K) * n + row]; }
    wrows[e] = x;
  }
  workgroupBarrier();
  var s = 0.0;
  for (var j = lid; j < c; j += 256u) {
    var hv: array<f32, K>;
    for (var t = 0u; t < K; t++) { hv[t] = h[g * K * c + t * c + j]; }
    for (var r = 0u; r < RES_ROWS; r++) {
      let row = row0 + r;
      if (row < n) {
        var wh = 0.0;
        for (var t = 0u; t < K; t++) { wh += wrows[r * K + t] * hv[t]; }
        let d = v[g * n * c + row * c + j] - wh;
        s += d * d;
      }
    }
  }
  red[lid] = s;
  tree_sum(lid);
  if (lid == 0u) { res_part[g * prm.res_tiles + wid.x] = red[0]; }
}

@compute @workgroup_size(256)
fn finish(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let g = wid.x;
  var s = 0.0;
  for (var q = lid; q < prm.res_tiles; q += 256u) { s += res_part[g * prm.res_tiles + q]; }
  red[lid] = s;
  tree_sum(lid);
  if (lid == 0u) {
    let norm_sq = state[g].norm_sq;
    state[g].rel_err = select(0.0, sqrt(red[0] / norm_sq), norm_sq > 0.0);
  }
}
