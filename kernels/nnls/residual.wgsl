// Per position q: error[q] = ||a_q - H^T x_q||^2 and norm[q] = ||a_q||^2, summed over the channels directly
// (||a||^2 - 2 x.b + x^T G x would cancel catastrophically when the fit is good).
@group(0) @binding(1) var<storage, read> basis: array<f32>;
@group(0) @binding(2) var<storage, read> activations: array<f32>;
@group(0) @binding(3) var<storage, read> coefficients: array<f32>;
@group(0) @binding(4) var<storage, read_write> sums: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn residual(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let q = flatIndex(gid, groups);
  if (q >= params.positions) {
    return;
  }
  var x: array<f32, K>;
  for (var j = 0u; j < K; j++) {
    x[j] = coefficients[q * K + j];
  }
  let start = (q / params.hw) * params.channels * params.hw + q % params.hw;
  var error = 0.0;
  var norm = 0.0;
  for (var c = 0u; c < params.channels; c++) {
    let a = activations[start + c * params.hw];
    var r = a;
    for (var j = 0u; j < K; j++) {
      r -= basis[j * params.channels + c] * x[j];
    }
    error += r * r;
    norm += a * a;
  }
  sums[q * 2u] = error;
  sums[q * 2u + 1u] = norm;
}
