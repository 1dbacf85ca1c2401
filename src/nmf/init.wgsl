// NNDSVDa initialization on the GPU: moments of V, the randomized subspace iteration's orthonormalization
// and partial-sum reduction, and the final Rayleigh-Ritz + NNDSVD step. The V products themselves are
// vtf / vtx from products.wgsl with K = P.

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read_write> state: array<State>;
@group(0) @binding(2) var<storage, read> v: array<f32>;            // [G][n][c]
@group(0) @binding(3) var<storage, read_write> qt: array<f32>;     // [G][P][c], Q^T
@group(0) @binding(4) var<storage, read> yt: array<f32>;           // [G][P][n], (V Q)^T
@group(0) @binding(5) var<storage, read_write> stat_part: array<f32>; // [G][stat_tiles][2]
@group(0) @binding(6) var<storage, read_write> wt: array<f32>;     // [G][K][n], W^T
@group(0) @binding(7) var<storage, read_write> h: array<f32>;      // [G][K][c]
@group(0) @binding(8) var<storage, read_write> hht: array<f32>;    // [G][K][K]
@group(0) @binding(9) var<storage, read> part: array<f32>;         // [G][splits][P][c]

// Invocations of the one-workgroup-per-problem kernels; kernels.ts lowers it for large P so that `dots`
// fits in 16 KiB.
const WGM: u32 = 256u;
const JACOBI_SWEEPS: u32 = 10u;
const NNDSVD_EPS: f32 = 1e-6;
const NG: u32 = K * (K + 1u) / 2u;

var<workgroup> dots: array<f32, P * WGM>;
var<workgroup> red4: array<vec4<f32>, WGM>;
var<workgroup> mm: array<f32, P * P>;
var<workgroup> evec: array<f32, P * P>;
var<workgroup> rot: vec2<f32>;
var<workgroup> cw: array<f32, K * P>;     // left singular vector j = sum_a cw[j][a] * (VQ)_a
var<workgroup> ch: array<f32, K * P>;     // right singular vector j = sum_a ch[j][a] * Q_a
var<workgroup> mode: array<u32, K>;       // 0: |x|, 1: max(x, 0), 2: max(-x, 0)
var<workgroup> scale_w: array<f32, K>;
var<workgroup> scale_h: array<f32, K>;
var<workgroup> order: array<u32, P>;
var<workgroup> red_stats: array<vec2<f32>, 256>;

// Sum and sum of squares of V, one partial per workgroup (reduced in nndsvda).
@compute @workgroup_size(256)
fn stats(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let g = wid.y;
  let total = prm.n * prm.c;
  let start = wid.x * STAT_CHUNK;
  var s = vec2<f32>();
  for (var q = 0u; q < STAT_CHUNK / 256u; q++) {
    let e = start + q * 256u + lid;
    if (e < total) {
      let x = v[g * total + e];
      s += vec2<f32>(x, x * x);
    }
  }
  red_stats[lid] = s;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride /= 2u) {
    if (lid < stride) { red_stats[lid] += red_stats[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let o = (g * prm.stat_tiles + wid.x) * 2u;
    stat_part[o] = red_stats[0].x;
    stat_part[o + 1u] = red_stats[0].y;
  }
}

// Tree-sums dots[b * WGM + 0..WGM] for b in [b0, b1) into dots[b * WGM].
fn tree_sum_dots(lid: u32, b0: u32, b1: u32) {
  workgroupBarrier();
  for (var stride = WGM / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      for (var b = b0; b < b1; b++) { dots[b * WGM + lid] += dots[b * WGM + lid + stride]; }
    }
    workgroupBarrier();
  }
}

fn tree_sum_red4(lid: u32) -> vec4<f32> {
  workgroupBarrier();
  for (var stride = WGM / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { red4[lid] += red4[lid + stride]; }
    workgroupBarrier();
  }
  let total = red4[0];
  workgroupBarrier();
  return total;
}

// Orthonormalizes the P rows of Q^T (length c) of one problem: classical Gram-Schmidt applied twice per row
// ("twice is enough"), which stays orthogonal to working precision even when V^T V Q is ill-conditioned.
// A row that vanishes (V of rank < P) becomes zero rather than NaN.
@compute @workgroup_size(WGM)
fn orthonormalize(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let c = prm.c;
  let base = wid.x * P * c;
  for (var a = 0u; a < P; a++) {
    for (var rep = 0u; rep < 2u && a > 0u; rep++) {
      var d: array<f32, P>;
      for (var j = lid; j < c; j += WGM) {
        let x = qt[base + a * c + j];
        for (var b = 0u; b < a; b++) { d[b] += x * qt[base + b * c + j]; }
      }
      for (var b = 0u; b < a; b++) { dots[b * WGM + lid] = d[b]; }
      tree_sum_dots(lid, 0u, a);
      for (var j = lid; j < c; j += WGM) {
        var x = qt[base + a * c + j];
        for (var b = 0u; b < a; b++) { x -= dots[b * WGM] * qt[base + b * c + j]; }
        qt[base + a * c + j] = x;
      }
      workgroupBarrier();
    }
    var s = 0.0;
    for (var j = lid; j < c; j += WGM) {
      let x = qt[base + a * c + j];
      s += x * x;
    }
    red4[lid] = vec4<f32>(s, 0.0, 0.0, 0.0);
    let norm = sqrt(tree_sum_red4(lid).x);
    for (var j = lid; j < c; j += WGM) {
      var x = 0.0;
      if (norm > 0.0) { x = qt[base + a * c + j] / norm; }
      qt[base + a * c + j] = x;
    }
  }
}

// Q^T = sum over row blocks of the vtx partials of V^T (V Q), in block order.
@compute @workgroup_size(256)
fn sum_splits(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let g = wid.y;
  let size = P * prm.c;
  let e = wid.x * 256u + lid;
  if (e >= size) { return; }
  var s = 0.0;
  for (var sp = 0u; sp < prm.splits; sp++) { s += part[(g * prm.splits + sp) * size + e]; }
  qt[g * size + e] = s;
}

fn jacobi_rotation(app: f32, aqq: f32, apq: f32) -> vec2<f32> {
  if (apq == 0.0) { return vec2<f32>(1.0, 0.0); }
  let tau = (aqq - app) / (2.0 * apq);
  var t: f32;
  if (abs(tau) > 1e15) {
    t = 0.5 / tau;
  } else {
    t = select(-1.0, 1.0, tau >= 0.0) / (abs(tau) + sqrt(1.0 + tau * tau));
  }
  let cs = 1.0 / sqrt(1.0 + t * t);
  return vec2<f32>(cs, t * cs);
}

// One workgroup per problem. With Q (c x P, orthonormal) and Y = V Q:
// 1. M = Y^T Y = Q^T V^T V Q; cyclic Jacobi gives M = S diag(sigma^2) S^T (rotations applied in parallel).
// 2. The k largest: right singular vectors Q s_j, left singular vectors Y s_j / sigma_j.
// 3. NNDSVD as scikit-learn: component 0 from |u0|, |v0| scaled by sqrt(sigma0); component j >= 1 from
//    the positive (or negative) parts of (u_j, v_j), whichever has the larger norm product m, scaled by
//    sqrt(sigma_j m) over the parts' norms; then entries < 1e-6 are set to mean(V) (NNDSVDa).
// 4. H H^T for the first W step, and the solver state reset.
@compute @workgroup_size(WGM)
fn nndsvda(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let g = wid.x;
  let n = prm.n;
  let c = prm.c;
  let ybase = g * P * n;
  let qbase = g * P * c;

  for (var a = 0u; a < P; a++) {
    var d: array<f32, P>;
    for (var i = lid; i < n; i += WGM) {
      let ya = yt[ybase + a * n + i];
      for (var b = a; b < P; b++) { d[b] += ya * yt[ybase + b * n + i]; }
    }
    for (var b = a; b < P; b++) { dots[b * WGM + lid] = d[b]; }
    tree_sum_dots(lid, a, P);
    if (lid < P && lid >= a) {
      mm[a * P + lid] = dots[lid * WGM];
      mm[lid * P + a] = dots[lid * WGM];
    }
    workgroupBarrier();
  }
  for (var e = lid; e < P * P; e += WGM) { evec[e] = select(0.0, 1.0, e / P == e % P); }

  for (var sweep = 0u; sweep < JACOBI_SWEEPS; sweep++) {
    for (var a = 0u; a + 1u < P; a++) {
      for (var b = a + 1u; b < P; b++) {
        workgroupBarrier();  // the previous rotation's row step must land before thread 0 reads mm
        if (lid == 0u) { rot = jacobi_rotation(mm[a * P + a], mm[b * P + b], mm[a * P + b]); }
        let cs = workgroupUniformLoad(&rot);
        if (cs.y != 0.0) {
          if (lid < P) {
            let x = mm[lid * P + a];
            let y = mm[lid * P + b];
            mm[lid * P + a] = cs.x * x - cs.y * y;
            mm[lid * P + b] = cs.y * x + cs.x * y;
            let ex = evec[lid * P + a];
            let ey = evec[lid * P + b];
            evec[lid * P + a] = cs.x * ex - cs.y * ey;
            evec[lid * P + b] = cs.y * ex + cs.x * ey;
          }
          workgroupBarrier();
          if (lid < P) {
            let x = mm[a * P + lid];
            let y = mm[b * P + lid];
            mm[a * P + lid] = cs.x * x - cs.y * y;
            mm[b * P + lid] = cs.y * x + cs.x * y;
          }
        }
      }
    }
  }
  workgroupBarrier();

  if (lid == 0u) {
    // Descending eigenvalues, ties by index (selection sort over P <= 42 values).
    for (var a = 0u; a < P; a++) { order[a] = a; }
    for (var a = 0u; a < P; a++) {
      var best = a;
      for (var b = a + 1u; b < P; b++) {
        if (mm[order[b] * P + order[b]] > mm[order[best] * P + order[best]]) { best = b; }
      }
      let tmp = order[a];
      order[a] = order[best];
      order[best] = tmp;
    }
  }
  workgroupBarrier();
  for (var e = lid; e < K * P; e += WGM) {
    let j = e / P;
    let col = order[j];
    let sigma = sqrt(max(mm[col * P + col], 0.0));
    let s = evec[(e % P) * P + col];
    ch[e] = s;
    cw[e] = select(0.0, s / sigma, sigma > 0.0);
  }

  var mom = vec4<f32>();
  for (var q = lid; q < prm.stat_tiles; q += WGM) {
    let o = (g * prm.stat_tiles + q) * 2u;
    mom += vec4<f32>(stat_part[o], stat_part[o + 1u], 0.0, 0.0);
  }
  red4[lid] = mom;
  let totals = tree_sum_red4(lid);
  let mean = totals.x / f32(n * c);

  for (var j = 0u; j < K; j++) {
    var sq = vec4<f32>();   // squared norms: x+, x-, y+, y-
    for (var i = lid; i < n; i += WGM) {
      var x = 0.0;
      for (var a = 0u; a < P; a++) { x += cw[j * P + a] * yt[ybase + a * n + i]; }
      if (x > 0.0) { sq.x += x * x; } else { sq.y += x * x; }
    }
    for (var col = lid; col < c; col += WGM) {
      var y = 0.0;
      for (var a = 0u; a < P; a++) { y += ch[j * P + a] * qt[qbase + a * c + col]; }
      if (y > 0.0) { sq.z += y * y; } else { sq.w += y * y; }
    }
    red4[lid] = sq;
    let nrm = sqrt(tree_sum_red4(lid));
    if (lid == 0u) {
      let col = order[j];
      let sigma = sqrt(max(mm[col * P + col], 0.0));
      if (j == 0u) {
        mode[j] = 0u;
        scale_w[j] = sqrt(sigma);
        scale_h[j] = sqrt(sigma);
      } else {
        let mp = nrm.x * nrm.z;
        let mn = nrm.y * nrm.w;
        var xn = nrm.y;
        var yn = nrm.w;
        var prod = mn;
        mode[j] = 2u;
        if (mp > mn) {
          xn = nrm.x;
          yn = nrm.z;
          prod = mp;
          mode[j] = 1u;
        }
        let lbd = sqrt(sigma * prod);
        scale_w[j] = select(0.0, lbd / xn, xn > 0.0);
        scale_h[j] = select(0.0, lbd / yn, yn > 0.0);
      }
    }
    workgroupBarrier();
  }

  for (var i = lid; i < n; i += WGM) {
    var y: array<f32, P>;
    for (var a = 0u; a < P; a++) { y[a] = yt[ybase + a * n + i]; }
    for (var j = 0u; j < K; j++) {
      var x = 0.0;
      for (var a = 0u; a < P; a++) { x += cw[j * P + a] * y[a]; }
      var val = 0.0;
      if (mode[j] == 0u) { val = abs(x); } else if (mode[j] == 1u) { val = max(x, 0.0); } else { val = max(-x, 0.0); }
      val *= scale_w[j];
      if (val < NNDSVD_EPS) { val = mean; }
      wt[g * K * n + j * n + i] = val;
    }
  }
  var gacc: array<f32, NG>;
  for (var col = lid; col < c; col += WGM) {
    var q: array<f32, P>;
    for (var a = 0u; a < P; a++) { q[a] = qt[qbase + a * c + col]; }
    var hv: array<f32, K>;
    for (var j = 0u; j < K; j++) {
      var y = 0.0;
      for (var a = 0u; a < P; a++) { y += ch[j * P + a] * q[a]; }
      var val = 0.0;
      if (mode[j] == 0u) { val = abs(y); } else if (mode[j] == 1u) { val = max(y, 0.0); } else { val = max(-y, 0.0); }
      val *= scale_h[j];
      if (val < NNDSVD_EPS) { val = mean; }
      h[g * K * c + j * c + col] = val;
      hv[j] = val;
    }
    var e = 0u;
    for (var a = 0u; a < K; a++) {
      for (var b = a; b < K; b++) {
        gacc[e] += hv[a] * hv[b];
        e++;
      }
    }
  }
  // Upper triangle of H H^T, four entries per tree reduction.
  for (var e0 = 0u; e0 < NG; e0 += 4u) {
    var four = vec4<f32>();
    for (var u = 0u; u < 4u; u++) {
      if (e0 + u < NG) { four[u] = gacc[e0 + u]; }
    }
    red4[lid] = four;
    let sums = tree_sum_red4(lid);
    if (lid == 0u) {
      var e = 0u;
      for (var a = 0u; a < K; a++) {
        for (var b = a; b < K; b++) {
          if (e >= e0 && e < e0 + 4u) {
            hht[g * K * K + a * K + b] = sums[e - e0];
            hht[g * K * K + b * K + a] = sums[e - e0];
          }
          e++;
        }
      }
    }
  }
  if (lid == 0u) {
    state[g] = State(0u, 0u, 0.0, 0.0, 0.0, mean, totals.y, 0.0);
  }
}
