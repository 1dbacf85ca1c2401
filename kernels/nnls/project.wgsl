// b = H a per position: b[q * K + j] = sum_c basis[j, c] * activations[image, c, p] for q = image * hw + p.
// One invocation per (prototype, position), positions fastest, so neighbouring invocations read neighbouring
// activations of one channel plane.
@group(0) @binding(1) var<storage, read> basis: array<f32>;
@group(0) @binding(2) var<storage, read> activations: array<f32>;
@group(0) @binding(3) var<storage, read_write> projected: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn project(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let t = flatIndex(gid, groups);
  if (t >= params.positions * K) {
    return;
  }
  let j = t / params.positions;
  let q = t % params.positions;
  let start = (q / params.hw) * params.channels * params.hw + q % params.hw;
  var s = 0.0;
  for (var c = 0u; c < params.channels; c++) {
    s += basis[j * params.channels + c] * activations[start + c * params.hw];
  }
  projected[q * K + j] = s;
}
