// NNDSVDa initialization on the GPU. The V products are vtf / vtx from products.wgsl with K = P; this file
// has the moments of V, the orthonormalization of the subspace iteration, the Rayleigh-Ritz step and the
// NNDSVD construction of W and H. Everything is float32, so no step may square a condition number that can
// reach 1 / epsilon: the orthonormalization is Gram-Schmidt (twice) on the vectors themselves, not through
// their Gram matrix, and NNDSVD never divides by a singular value (near-noise Ritz values of a V of lower
// rank than P made s / sigma overflow). The small P x P eigenproblem runs in one workgroup per problem
// (parallel cyclic Jacobi); everything sized by n or c runs one invocation per row or column.
@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read_write> state: array<State>;
@group(0) @binding(2) var<storage, read> v: array<f32>;              // [G][n][c]
@group(0) @binding(3) var<storage, read> src: array<f32>;            // [G][P][c] or [G][P][n]
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;      // [G][P][c], Q^T orthonormalized in place
@group(0) @binding(5) var<storage, read_write> stat_part: array<f32>; // [G][stat_tiles][2]
@group(0) @binding(6) var<storage, read_write> mat: array<f32>;      // [G][P][P] Gram matrix, diagonalized in place
@group(0) @binding(7) var<storage, read_write> vecs: array<f32>;     // [G][P][P] eigenvectors (columns)
@group(0) @binding(8) var<storage, read_write> coef: array<f32>;     // [G][COEF]
@group(0) @binding(9) var<storage, read> part: array<f32>;           // [G][splits][P][c]
@group(0) @binding(10) var<storage, read> yt: array<f32>;            // [G][P][n], (V Q)^T
@group(0) @binding(11) var<storage, read> qt: array<f32>;            // [G][P][c], Q^T
@group(0) @binding(12) var<storage, read_write> out: array<f32>;     // [G][K][n] W^T or [G][K][c] H

// Set at pipeline creation by kernels.ts from plan.ts / settings.ts, which the CPU reference shares.
override STAT_CHUNK: u32;     // elements of V per stats workgroup (a multiple of 256)
override JACOBI_SWEEPS: u32;
override JACOBI_SKIP: f32;
override NNDSVD_EPS: f32;
// Per-problem coefficient block: cw [K][P] | ch [K][P] | sigma [K] | mode [K] | scale_w [K] | scale_h [K].
// Right singular vector j = sum_a ch[j][a] Q_a; x_j = sum_a cw[j][a] (VQ)_a = sigma_j u_j, the left singular
// vector times its singular value (cw = ch: the division by sigma_j cancels in NNDSVD, see nndsvd_scales).
const COEF: u32 = 2u * K * P + 4u * K;
const CH: u32 = K * P;
const SIGMA: u32 = 2u * K * P;
const MODE: u32 = SIGMA + K;
const SCALE_W: u32 = SIGMA + 2u * K;
const SCALE_H: u32 = SIGMA + 3u * K;

var<workgroup> red_stats: array<vec2<f32>, 256>;
var<workgroup> red_orth: array<vec4<f32>, 256>;

// Sum and sum of squares of V, one partial per workgroup (summed in ritz).
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

// Z^T = sum over row blocks of the vtx partials of V^T (V Q), in block order (deterministic).
@compute @workgroup_size(WORKGROUP)
fn sum_splits(@builtin(global_invocation_id) gid: vec3<u32>) {
  let g = gid.y;
  let size = P * prm.c;
  let e = gid.x;
  if (e >= size) { return; }
  var s = 0.0;
  for (var sp = 0u; sp < prm.splits; sp++) { s += part[(g * prm.splits + sp) * size + e]; }
  dst[g * size + e] = s;
}

// Gram matrix of the P rows (length m) of src, one invocation per entry.
fn gram(e: u32, g: u32, m: u32) {
  if (e >= P * P) { return; }
  let a = e / P;
  let b = e % P;
  var sum = 0.0;
  for (var j = 0u; j < m; j++) { sum += src[(g * P + a) * m + j] * src[(g * P + b) * m + j]; }
  mat[g * P * P + e] = sum;
}

@compute @workgroup_size(GRAM_WORKGROUP)
fn gram_tall(@builtin(global_invocation_id) gid: vec3<u32>) {
  gram(gid.x, gid.y, prm.n);
}

// Invocations of the ritz workgroup; only WGSL uses it (the grid is one workgroup per problem).
const JACOBI_LANES: u32 = 64u;
// Rotation (cos, sin) of each pair of the current Jacobi step.
var<workgroup> rot: array<vec2<f32>, (P + 1u) / 2u>;

// Pair i of step s of the round-robin ("chess tournament") order over m (even) indices: index 0 stays, the
// other m - 1 rotate, so every pair meets once in m - 1 steps and the m / 2 pairs of a step are disjoint.
// An index >= p (odd p) is a bye. Returned ordered (a < b). Shared with reference.ts's roundRobinPair.
fn round_robin_pair(i: u32, s: u32, m: u32) -> vec2<u32> {
  let ring0 = 1u + (s % (m - 1u));
  var x = 0u;
  var y = ring0;
  if (i > 0u) {
    x = 1u + ((i + s) % (m - 1u));
    y = 1u + ((m - 1u - i + s) % (m - 1u));
  }
  return vec2<u32>(min(x, y), max(x, y));
}

// (x, y) <- (c x - s y, s x + c y) for r = (c, s), on two entries of mat or of vecs.
fn rotate_mat(ia: u32, ib: u32, r: vec2<f32>) {
  let x = mat[ia];
  let y = mat[ib];
  mat[ia] = r.x * x - r.y * y;
  mat[ib] = r.y * x + r.x * y;
}

fn rotate_vecs(ia: u32, ib: u32, r: vec2<f32>) {
  let x = vecs[ia];
  let y = vecs[ib];
  vecs[ia] = r.x * x - r.y * y;
  vecs[ib] = r.y * x + r.x * y;
}

// Parallel cyclic Jacobi (Brent & Luk 1985) on mat[g] (symmetric p x p), accumulating the rotations into
// vecs[g] (from identity): each step rotates its p / 2 disjoint pairs at once, first every pair's
// parameters from the same matrix, then the column rotations, then the row rotations. Disjoint rotations
// commute, so a step equals the same rotations applied one after the other. Called by the whole workgroup.
fn jacobi(g: u32, lid: u32) {
  let p = prm.p;
  let m = p + (p & 1u);
  let half = m / 2u;
  let base = g * P * P;
  for (var e = lid; e < p * p; e += JACOBI_LANES) { vecs[base + e] = select(0.0, 1.0, e / p == e % p); }
  for (var sweep = 0u; sweep < JACOBI_SWEEPS; sweep++) {
    for (var step = 0u; step + 1u < m; step++) {
      if (lid < half) {
        let ab = round_robin_pair(lid, step, m);
        var r = vec2<f32>(1.0, 0.0);
        if (ab.y < p) {
          let app = mat[base + ab.x * p + ab.x];
          let aqq = mat[base + ab.y * p + ab.y];
          let apq = mat[base + ab.x * p + ab.y];
          // An entry at round-off level of its diagonal is zero to float32: rotating on it only churns
          // round-off (and on llvmpipe, past convergence, lost the orthogonality of the eigenvectors).
          if (abs(apq) <= JACOBI_SKIP * sqrt(abs(app)) * sqrt(abs(aqq)) || 2.0 * apq == 0.0) {
            mat[base + ab.x * p + ab.y] = 0.0;
            mat[base + ab.y * p + ab.x] = 0.0;
          } else {
            // Golub & Van Loan's symmetric Schur rotation, which zeroes the (a, b) entry.
            let tau = (aqq - app) / (2.0 * apq);
            var t: f32;
            if (abs(tau) > 1e15) {
              t = 0.5 / tau;
            } else {
              t = select(-1.0, 1.0, tau >= 0.0) / (abs(tau) + sqrt(1.0 + tau * tau));
            }
            let cs = 1.0 / sqrt(1.0 + t * t);
            r = vec2<f32>(cs, t * cs);
          }
        }
        rot[lid] = r;
      }
      storageBarrier();
      workgroupBarrier();
      for (var e = lid; e < half * p; e += JACOBI_LANES) {
        let i = e / p;
        let row = e % p;
        let ab = round_robin_pair(i, step, m);
        let r = rot[i];
        if (ab.y < p && r.y != 0.0) {
          rotate_mat(base + row * p + ab.x, base + row * p + ab.y, r);
          rotate_vecs(base + row * p + ab.x, base + row * p + ab.y, r);
        }
      }
      storageBarrier();
      workgroupBarrier();
      for (var e = lid; e < half * p; e += JACOBI_LANES) {
        let i = e / p;
        let col = e % p;
        let ab = round_robin_pair(i, step, m);
        let r = rot[i];
        if (ab.y < p && r.y != 0.0) { rotate_mat(base + ab.x * p + col, base + ab.y * p + col, r); }
      }
      storageBarrier();
      workgroupBarrier();
    }
  }
}

fn workgroup_sum(lid: u32, x: vec4<f32>) -> vec4<f32> {
  red_orth[lid] = x;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride /= 2u) {
    if (lid < stride) { red_orth[lid] += red_orth[lid + stride]; }
    workgroupBarrier();
  }
  let sum = red_orth[0];
  workgroupBarrier();
  return sum;
}

// Entry j of row b of dst[g] (length c), or 0 past the p rows.
fn q_at(base: u32, b: u32, j: u32) -> f32 {
  if (b >= prm.p) { return 0.0; }
  return dst[base + b * prm.c + j];
}

// Orthonormalizes the p rows of dst[g] (length c) in place by modified Gram-Schmidt, run twice ("twice is
// enough", Giraud et al. 2005): orthogonal to float32 round-off whatever the rows' condition number. A row
// that is numerically in the span of the earlier ones comes out of the first pass as normalized round-off
// and of the second as a valid further direction (as Householder QR would give); an exactly zero row stays
// zero. One workgroup per problem; the dot products are workgroup reductions in a fixed order, four rows
// per reduction (the projections of one step are independent of each other).
@compute @workgroup_size(256)
fn orthonormalize(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let g = wid.x;
  let p = prm.p;
  let c = prm.c;
  let base = g * P * c;
  for (var round = 0u; round < 2u; round++) {
    for (var a = 0u; a < p; a++) {
      var sq = 0.0;
      for (var j = lid; j < c; j += 256u) { sq += dst[base + a * c + j] * dst[base + a * c + j]; }
      let norm = sqrt(workgroup_sum(lid, vec4<f32>(sq, 0.0, 0.0, 0.0)).x);
      let inv = select(0.0, 1.0 / norm, norm > 0.0);
      for (var j = lid; j < c; j += 256u) { dst[base + a * c + j] *= inv; }
      for (var b = a + 1u; b < p; b += 4u) {
        var d = vec4<f32>();
        for (var j = lid; j < c; j += 256u) {
          let qa = dst[base + a * c + j];
          d += qa * vec4<f32>(q_at(base, b, j), q_at(base, b + 1u, j), q_at(base, b + 2u, j), q_at(base, b + 3u, j));
        }
        let proj = workgroup_sum(lid, d);
        for (var j = lid; j < c; j += 256u) {
          let qa = dst[base + a * c + j];
          for (var u = 0u; u < 4u; u++) {
            if (b + u < p) { dst[base + (b + u) * c + j] -= proj[u] * qa; }
          }
        }
      }
    }
  }
}

// Rayleigh-Ritz on mat = (VQ)^T (VQ) = S diag(sigma^2) S^T: the K largest sigma with their coefficient
// vectors, plus mean(V) and ||V||^2 from the stats partials; resets the solver state. One workgroup per
// problem: the eigenproblem in parallel, the rest (O(p^2 + stat tiles)) in its first invocation.
@compute @workgroup_size(JACOBI_LANES)
fn ritz(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let g = wid.x;
  let p = prm.p;
  let base = g * P * P;
  jacobi(g, lid);
  if (lid != 0u) { return; }
  // Descending eigenvalues, ties by index (selection sort).
  var order: array<u32, P>;
  for (var a = 0u; a < p; a++) { order[a] = a; }
  for (var a = 0u; a < p; a++) {
    var best = a;
    for (var b = a + 1u; b < p; b++) {
      if (mat[base + order[b] * p + order[b]] > mat[base + order[best] * p + order[best]]) { best = b; }
    }
    let tmp = order[a];
    order[a] = order[best];
    order[best] = tmp;
  }
  let cb = g * COEF;
  for (var j = 0u; j < K; j++) {
    let col = order[j];
    for (var a = 0u; a < P; a++) {
      var s = 0.0;
      if (a < p) { s = vecs[base + a * p + col]; }
      coef[cb + CH + j * P + a] = s;
      coef[cb + j * P + a] = s;
    }
  }
  var sum = 0.0;
  var sum_sq = 0.0;
  for (var q = 0u; q < prm.stat_tiles; q++) {
    sum += stat_part[(g * prm.stat_tiles + q) * 2u];
    sum_sq += stat_part[(g * prm.stat_tiles + q) * 2u + 1u];
  }
  state[g] = State(0u, 0u, 0.0, 0.0, 0.0, sum / f32(prm.n * prm.c), sum_sq, 0.0);
}

fn left_vector(cb: u32, g: u32, j: u32, i: u32) -> f32 {
  var x = 0.0;
  for (var a = 0u; a < P; a++) { x += coef[cb + j * P + a] * yt[(g * P + a) * prm.n + i]; }
  return x;
}

fn right_vector(cb: u32, g: u32, j: u32, col: u32) -> f32 {
  var y = 0.0;
  for (var a = 0u; a < P; a++) { y += coef[cb + CH + j * P + a] * qt[(g * P + a) * prm.c + col]; }
  return y;
}

// NNDSVD choice per component (one invocation per component j), written for x = sigma u (u the unit left
// singular vector) so that nothing divides by sigma: component 0 is |u| sqrt(sigma), |v| sqrt(sigma), i.e.
// |x| / sqrt(|x|) and |v| sqrt(|x|); component j >= 1 takes the positive or the negative parts of (u, v),
// whichever has the larger product of norms m, scaled by sqrt(sigma m) over the parts' norms, which for x
// is sqrt(|x+-| |v+-|) / |x+-| and sqrt(|x+-| |v+-|) / |v+-|. sigma = |x| here rather than the Ritz value:
// the norm of a computed vector is accurate where the square root of an eigenvalue of a Gram matrix is not.
@compute @workgroup_size(64)
fn nndsvd_scales(@builtin(global_invocation_id) gid: vec3<u32>) {
  let g = gid.y;
  let j = gid.x;
  if (j >= K) { return; }
  let cb = g * COEF;
  var sq = vec4<f32>();   // squared norms: x+, x-, y+, y-
  for (var i = 0u; i < prm.n; i++) {
    let x = left_vector(cb, g, j, i);
    if (x > 0.0) { sq.x += x * x; } else { sq.y += x * x; }
  }
  for (var col = 0u; col < prm.c; col++) {
    let y = right_vector(cb, g, j, col);
    if (y > 0.0) { sq.z += y * y; } else { sq.w += y * y; }
  }
  let nrm = sqrt(sq);
  let sigma = sqrt(sq.x + sq.y);
  var mode = 0.0;
  var scale_w = select(0.0, 1.0 / sqrt(sigma), sigma > 0.0);
  var scale_h = sqrt(sigma);
  if (j > 0u) {
    let mp = nrm.x * nrm.z;
    let mn = nrm.y * nrm.w;
    let positive = mp > mn;
    let xn = select(nrm.y, nrm.x, positive);
    let yn = select(nrm.w, nrm.z, positive);
    let lbd = sqrt(xn) * sqrt(yn);
    mode = select(2.0, 1.0, positive);
    scale_w = select(0.0, lbd / xn, xn > 0.0);
    scale_h = select(0.0, lbd / yn, yn > 0.0);
  }
  coef[cb + SIGMA + j] = sigma;
  coef[cb + MODE + j] = mode;
  coef[cb + SCALE_W + j] = scale_w;
  coef[cb + SCALE_H + j] = scale_h;
}

// The chosen part of a singular vector entry, scaled; entries below 1e-6 become mean(V) (NNDSVDa).
fn nndsvda_entry(cb: u32, j: u32, x: f32, scale: f32, mean: f32) -> f32 {
  let mode = coef[cb + MODE + j];
  var val = abs(x);
  if (mode == 1.0) { val = max(x, 0.0); }
  if (mode == 2.0) { val = max(-x, 0.0); }
  val *= scale;
  return select(val, mean, val < NNDSVD_EPS);
}

@compute @workgroup_size(WORKGROUP)
fn nndsvd_w(@builtin(global_invocation_id) gid: vec3<u32>) {
  let g = gid.y;
  let i = gid.x;
  let n = prm.n;
  if (i >= n) { return; }
  let cb = g * COEF;
  let mean = state[g].mean;
  for (var j = 0u; j < K; j++) {
    out[(g * K + j) * n + i] = nndsvda_entry(cb, j, left_vector(cb, g, j, i), coef[cb + SCALE_W + j], mean);
  }
}

@compute @workgroup_size(WORKGROUP)
fn nndsvd_h(@builtin(global_invocation_id) gid: vec3<u32>) {
  let g = gid.y;
  let col = gid.x;
  let c = prm.c;
  if (col >= c) { return; }
  let cb = g * COEF;
  let mean = state[g].mean;
  for (var j = 0u; j < K; j++) {
    out[(g * K + j) * c + col] = nndsvda_entry(cb, j, right_vector(cb, g, j, col), coef[cb + SCALE_H + j], mean);
  }
}
