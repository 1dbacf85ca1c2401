// Starting weights of every pair of a tile: zero, or nn.Linear's U(-bound, bound) drawn from a hash of
// (seed, i, j, k), the same arithmetic as settings.ts's initUniform, so the CPU twin starts identically.
// Weight vectors are stored with width_stride(), their padding zero.
@group(0) @binding(1) var<storage, read> slots_a: array<ClassSlot>;
@group(0) @binding(2) var<storage, read> slots_b: array<ClassSlot>;
@group(0) @binding(3) var<storage, read_write> weights: array<f32>;

// Invocations per workgroup, set by pair_trainer.ts from INIT_WORKGROUP (settings.ts), which also sizes its
// grid. mix32: kernels/_hash.wgsl, compiled ahead of this file.
override WORKGROUP: u32;

@compute @workgroup_size(WORKGROUP)
fn init_weights(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let e = gid.x + gid.y * groups.x * WORKGROUP;
  let stride = width_stride();
  if (e >= params.n_a * params.n_b * stride) {
    return;
  }
  let pair = e / stride;
  let k = e % stride;
  // The padding stays zero: the logits read it as weights of channels that are zero.
  if (params.zero_init == 1u || k >= params.width) {
    weights[e] = 0.0;
    return;
  }
  let i = slots_a[pair / params.n_b].class_index;
  let j = slots_b[pair % params.n_b].class_index;
  let h = mix32(mix32(mix32(mix32(params.seed) ^ i) + j) ^ k);
  let u = f32(h >> 8u) / 16777216.0;
  weights[e] = (u * 2.0 - 1.0) * params.bound;
}
