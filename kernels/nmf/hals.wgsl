// HALS / coordinate descent, exactly scikit-learn's 'cd' sweep: for each row x of the factor being updated
// (a row of W, or a column of H), for t = 0..K-1 in order:
//   grad = (x G)_t - b_t,  violation += |grad| (or |min(grad, 0)| where x_t == 0),
//   x_t <- max(0, x_t - grad / G_tt)  (skipped when G_tt == 0),
// with G = H H^T, b = (V H^T)_i for W and G = W^T W, b = (V^T W)_j for H. Rows are independent given G and
// b, so one invocation owns a row and the sweep over t stays sequential as in scikit-learn.
// The update kernels also leave, per workgroup, the upper triangle of the new factor's Gram matrix and the
// violation; reduce_w / reduce_h sum these partials in a fixed order (deterministic) into the Gram matrix
// the other half-step needs and into the convergence state.

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read_write> state: array<State>;
@group(0) @binding(2) var<storage, read_write> factor: array<f32>;   // [G][K][m], updated in place
@group(0) @binding(3) var<storage, read> cross: array<f32>;          // [G][parts][K][m], summed over parts
@group(0) @binding(4) var<storage, read> gram: array<f32>;           // [G][K][K]
@group(0) @binding(5) var<storage, read_write> partial: array<f32>;  // [G][tiles][NE]
@group(0) @binding(6) var<storage, read_write> gram_out: array<f32>; // [G][K][K]
@group(0) @binding(7) var<storage, read_write> live: array<u32>;   // [G], first `count` entries used
@group(0) @binding(8) var<storage, read_write> args: array<u32>;     // indirect dispatch sizes

const NG: u32 = K * (K + 1u) / 2u;  // upper-triangular Gram entries
const NE: u32 = NG + 1u;            // plus the violation
const ROUNDS: u32 = (NE + 3u) / 4u;
// Invocations per update workgroup and rows per invocation (a workgroup covers RW * RPT rows), set by
// kernels.ts from plan.ts, which sizes the grid with them.
override RW: u32;
override RPT: u32;
// Invocations per reduce_w / reduce_h workgroup (plan.ts REDUCE_WORKGROUP).
override REDUCE_WORKGROUP: u32;

// Small on purpose: llvmpipe compile time grows steeply with workgroup array length.
var<workgroup> scratch: array<vec4<f32>, RW>;
var<workgroup> sums: array<f32, NE>;

fn acc_at(acc: ptr<function, array<f32, NE>>, e: u32) -> f32 {
  if (e < NE) { return (*acc)[e]; }
  return 0.0;
}

fn update(lid: u32, tile: u32, g: u32, m: u32, parts: u32, tiles: u32) {
  var gm: array<f32, K * K>;
  for (var e = 0u; e < K * K; e++) { gm[e] = gram[g * K * K + e]; }
  var acc: array<f32, NE>;
  let fbase = g * K * m;
  for (var q = 0u; q < RPT; q++) {
    let i = (tile * RPT + q) * RW + lid;
    if (i < m) {
      var x: array<f32, K>;
      var b: array<f32, K>;
      for (var t = 0u; t < K; t++) {
        x[t] = factor[fbase + t * m + i];
        var sum = 0.0;
        for (var p = 0u; p < parts; p++) { sum += cross[((g * parts + p) * K + t) * m + i]; }
        b[t] = sum;
      }
      for (var t = 0u; t < K; t++) {
        var grad = -b[t];
        for (var r = 0u; r < K; r++) { grad += gm[t * K + r] * x[r]; }
        var pg = grad;
        if (x[t] == 0.0) { pg = min(grad, 0.0); }
        acc[NG] += abs(pg);
        let hess = gm[t * K + t];
        if (hess != 0.0) { x[t] = max(x[t] - grad / hess, 0.0); }
      }
      var e = 0u;
      for (var a = 0u; a < K; a++) {
        factor[fbase + a * m + i] = x[a];
        for (var bb = a; bb < K; bb++) {
          acc[e] += x[a] * x[bb];
          e++;
        }
      }
    }
  }
  // Workgroup sum in a fixed order, four partials per round.
  for (var q = 0u; q < ROUNDS; q++) {
    scratch[lid] = vec4<f32>(acc_at(&acc, 4u * q), acc_at(&acc, 4u * q + 1u), acc_at(&acc, 4u * q + 2u),
                             acc_at(&acc, 4u * q + 3u));
    workgroupBarrier();
    if (lid == 0u) {
      var sum = vec4<f32>();
      for (var l = 0u; l < RW; l++) { sum += scratch[l]; }
      for (var u = 0u; u < 4u; u++) {
        if (4u * q + u < NE) { partial[(g * tiles + tile) * NE + 4u * q + u] = sum[u]; }
      }
    }
    workgroupBarrier();
  }
}

// W half-step: factor = W^T [K][n], cross = (V H^T)^T [K][n], gram = H H^T.
@compute @workgroup_size(RW)
fn update_w(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  update(lid, wid.x, live[wid.y], prm.n, 1u, prm.w_tiles);
}

// H half-step: factor = H [K][c], cross = V^T W as `splits` row-block partials, gram = W^T W.
@compute @workgroup_size(RW)
fn update_h(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  update(lid, wid.x, live[wid.y], prm.c, prm.splits, prm.h_tiles);
}

// Sums the update partials of one problem into its full K x K Gram matrix; returns the violation.
fn reduce(lid: u32, g: u32, tiles: u32) -> f32 {
  for (var e = lid; e < NE; e += REDUCE_WORKGROUP) {
    var sum = 0.0;
    for (var q = 0u; q < tiles; q++) { sum += partial[(g * tiles + q) * NE + e]; }
    sums[e] = sum;
  }
  workgroupBarrier();
  for (var e = lid; e < K * K; e += REDUCE_WORKGROUP) {
    let lo = min(e / K, e % K);
    let hi = max(e / K, e % K);
    gram_out[g * K * K + e] = sums[lo * (2u * K - lo + 1u) / 2u + hi - lo];
  }
  return sums[NG];
}

// After the W half-step: W^T W for update_h, and the W half of the violation.
@compute @workgroup_size(REDUCE_WORKGROUP)
fn reduce_w(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let g = live[wid.x];
  let viol = reduce(lid, g, prm.w_tiles);
  if (lid == 0u) { state[g].viol_w = viol; }
}

// After the H half-step: H H^T for the next update_w, and scikit-learn's stopping rule for 'cd':
// stop after the iteration where violation_init == 0 or violation / violation_init <= tol, where
// violation_init is the first iteration's violation; or after max_iter iterations.
@compute @workgroup_size(REDUCE_WORKGROUP)
fn reduce_h(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let g = live[wid.x];
  let viol_h = reduce(lid, g, prm.h_tiles);
  if (lid == 0u) {
    let total = state[g].viol_w + viol_h;
    let it = state[g].iter + 1u;
    var init = state[g].viol_init;
    if (it == 1u) { init = total; }
    state[g].iter = it;
    state[g].viol_init = init;
    state[g].viol = total;
    if (init == 0.0 || total / init <= prm.tol || it >= prm.max_iter) { state[g].done = 1u; }
  }
}

// Rebuilds the active list of one dispatch group (one invocation) and the indirect dispatch sizes of the
// iteration kernels: 5 x (x, y, z) for vtf, update_w, reduce_*, vtx, update_h. With no problem left the
// sizes are 0 and the recorded iterations cost nothing.
@compute @workgroup_size(1)
fn compact() {
  let total = arrayLength(&state);
  var count = 0u;
  for (var g = 0u; g < total; g++) {
    if (state[g].done == 0u) {
      live[count] = g;
      count++;
    }
  }
  args[0] = prm.vtf_tiles; args[1] = count; args[2] = 1u;
  args[3] = prm.w_tiles; args[4] = count; args[5] = 1u;
  args[6] = count; args[7] = 1u; args[8] = 1u;
  args[9] = prm.vtx_tiles; args[10] = prm.splits; args[11] = count;
  args[12] = prm.h_tiles; args[13] = count; args[14] = 1u;
}

// H H^T of the initial H for the first W step: one invocation per entry, summing over the c columns.
@compute @workgroup_size(GRAM_WORKGROUP)
fn gram_h(@builtin(global_invocation_id) gid: vec3<u32>) {
  let g = gid.y;
  let e = gid.x;
  if (e >= K * K) { return; }
  let a = e / K;
  let b = e % K;
  let c = prm.c;
  var sum = 0.0;
  for (var j = 0u; j < c; j++) { sum += factor[(g * K + a) * c + j] * factor[(g * K + b) * c + j]; }
  gram_out[g * K * K + e] = sum;
}
