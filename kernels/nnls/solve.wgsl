// Lawson and Hanson's active-set NNLS (Solving Least Squares Problems, 1974, ch. 23) on the normal equations:
// per position q, min_x ||a_q - H^T x||^2 s.t. x >= 0, given G = H H^T (shared) and b_q = H a_q. One invocation
// per position; the passive (free) set's system G_PP s = b_P is solved by Cholesky in private arrays.
// reference.ts is the twin, step for step.
@group(0) @binding(1) var<storage, read> gram: array<f32>;
@group(0) @binding(2) var<storage, read> projected: array<f32>;
@group(0) @binding(3) var<storage, read_write> coefficients: array<f32>;
// Per position: outer iterations used, and 1 when the KKT conditions were met (0: iteration cap reached).
@group(0) @binding(4) var<storage, read_write> status: array<u32>;

// settings.ts NNLS_PIVOT_FLOOR, set by nnls.ts.
override PIVOT_FLOOR: f32;

var<private> b: array<f32, K>;
var<private> x: array<f32, K>;
var<private> s: array<f32, K>;
var<private> passive: array<bool, K>;
var<private> chol: array<f32, KK>;
var<private> members: array<u32, K>;

// s = argmin over the passive set of ||a - H_P^T s_P|| (s = 0 elsewhere): Cholesky of G_PP, two substitutions.
fn solvePassive() {
  var m = 0u;
  for (var i = 0u; i < K; i++) {
    s[i] = 0.0;
    if (passive[i]) {
      members[m] = i;
      m++;
    }
  }
  for (var r = 0u; r < m; r++) {
    for (var c = 0u; c <= r; c++) {
      var v = gram[members[r] * K + members[c]];
      for (var t = 0u; t < c; t++) {
        v -= chol[r * K + t] * chol[c * K + t];
      }
      if (c == r) {
        let diag = gram[members[r] * K + members[r]];
        chol[r * K + r] = sqrt(max(v, max(PIVOT_FLOOR * diag, 1e-30)));
      } else {
        chol[r * K + c] = v / chol[c * K + c];
      }
    }
  }
  // Forward (L y = b_P) into s at the members' slots, then backward (L^T z = y).
  for (var r = 0u; r < m; r++) {
    var v = b[members[r]];
    for (var t = 0u; t < r; t++) {
      v -= chol[r * K + t] * s[members[t]];
    }
    s[members[r]] = v / chol[r * K + r];
  }
  for (var rr = 0u; rr < m; rr++) {
    let r = m - 1u - rr;
    var v = s[members[r]];
    for (var t = r + 1u; t < m; t++) {
      v -= chol[t * K + r] * s[members[t]];
    }
    s[members[r]] = v / chol[r * K + r];
  }
}

@compute @workgroup_size(WORKGROUP)
fn solve(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let q = flatIndex(gid, groups);
  if (q >= params.positions) {
    return;
  }
  var scale = 0.0;
  for (var i = 0u; i < K; i++) {
    b[i] = projected[q * K + i];
    x[i] = 0.0;
    passive[i] = false;
    scale = max(scale, abs(b[i]));
  }
  let tol = params.tolerance * scale;
  var iterations = 0u;
  var converged = 0u;
  for (; iterations < 3u * K; iterations++) {
    // The prototype whose gradient most wants to grow enters; none above the tolerance: KKT holds.
    var enter = K;
    var best = tol;
    for (var i = 0u; i < K; i++) {
      if (!passive[i]) {
        var w = b[i];
        for (var j = 0u; j < K; j++) {
          w -= gram[i * K + j] * x[j];
        }
        if (w > best) {
          best = w;
          enter = i;
        }
      }
    }
    if (enter == K) {
      converged = 1u;
      break;
    }
    passive[enter] = true;
    for (var inner = 0u; inner <= K; inner++) {
      solvePassive();
      // Step from x towards s as far as feasibility allows; the blocking coordinate leaves the passive set.
      var alpha = 1.0;
      var blocking = K;
      for (var i = 0u; i < K; i++) {
        if (passive[i] && s[i] <= 0.0) {
          // x = s = 0 (an entering prototype round-off left at zero) blocks at once.
          let a = select(0.0, x[i] / (x[i] - s[i]), x[i] > s[i]);
          if (a < alpha) {
            alpha = a;
            blocking = i;
          }
        }
      }
      if (blocking == K) {
        for (var i = 0u; i < K; i++) {
          x[i] = s[i];
        }
        break;
      }
      for (var i = 0u; i < K; i++) {
        if (passive[i]) {
          x[i] += alpha * (s[i] - x[i]);
          if (i == blocking || x[i] <= 0.0) {
            x[i] = 0.0;
            passive[i] = false;
          }
        }
      }
    }
  }
  for (var i = 0u; i < K; i++) {
    coefficients[q * K + i] = x[i];
  }
  status[q * 2u] = iterations;
  status[q * 2u + 1u] = converged;
}
