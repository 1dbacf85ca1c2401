// Seeded sparse uniform values written straight into a storage buffer, so that large synthetic inputs (the
// NMF bench's V) never pass through the CPU: a hash of (seed, index) gives a uniform u in [0, 1) and the value
// is max(2u - 1, 0), about half of them 0 (ReLU-like sparsity, as in network activations).
// pcg: kernels/_hash.wgsl, compiled ahead of this file. reference.ts is the CPU twin.

// Invocations per workgroup, set by fill.ts from FILL_WORKGROUP (settings.ts), which also sizes its grid.
override WORKGROUP: u32;

struct Fill {
  count: u32,
  seed: u32,
  row: u32,     // invocations per grid row (the grid is 2-D when count needs > 65535 workgroups)
  _pad: u32,
}

@group(0) @binding(0) var<uniform> fill: Fill;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn fill_random(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.y * fill.row + gid.x;
  if (i >= fill.count) { return; }
  let u = f32(pcg(i ^ pcg(fill.seed)) >> 8u) / 16777216.0;
  out[i] = max(2.0 * u - 1.0, 0.0);
}
