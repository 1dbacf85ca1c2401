// Synthetic non-negative V for the NMF bench, generated on the GPU so that large batches never pass
// through the CPU: a hash of (seed, index) gives a uniform value, of which about half is kept
// (ReLU-like sparsity, as in network activations).

// Invocations per workgroup, set by the dispatcher from LINEAR_WORKGROUP (kernels/_program.ts), which
// also sizes its grid.
override WORKGROUP: u32;

struct Fill {
  count: u32,
  seed: u32,
  row: u32,     // invocations per grid row (the grid is 2-D when count needs > 65535 workgroups)
  _pad: u32,
}

@group(0) @binding(0) var<uniform> fill: Fill;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

fn pcg(x: u32) -> u32 {
  let state = x * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

@compute @workgroup_size(WORKGROUP)
fn fill_random(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.y * fill.row + gid.x;
  if (i >= fill.count) { return; }
  let u = f32(pcg(i ^ pcg(fill.seed)) >> 8u) / 16777216.0;
  out[i] = max(2.0 * u - 1.0, 0.0);
}
