// Train accuracy of every pair of a tile from the last epoch's logits (before the last step, as the
// reference reports it): hits of A's rows in column b and of B's rows in column a, over n_a + n_b.
@group(0) @binding(1) var<storage, read> slots_a: array<ClassSlot>;
@group(0) @binding(2) var<storage, read> slots_b: array<ClassSlot>;
@group(0) @binding(3) var<storage, read> hits_a: array<u32>;
@group(0) @binding(4) var<storage, read> hits_b: array<u32>;
@group(0) @binding(5) var<storage, read_write> accuracy: array<f32>;

// Invocations per workgroup, set by pair_trainer.ts from ACCURACY_WORKGROUP (settings.ts), which also sizes
// its grid.
override WORKGROUP: u32;

@compute @workgroup_size(WORKGROUP)
fn pair_accuracy(@builtin(global_invocation_id) gid: vec3<u32>) {
  let pair = gid.x;
  if (pair >= params.n_a * params.n_b) {
    return;
  }
  let ia = pair / params.n_b;
  let ib = pair % params.n_b;
  let a = slots_a[ia];
  let b = slots_b[ib];
  // Each side's hits have one column per partner class, rows padded to a multiple of 4 (logits.wgsl).
  let stride_a = (params.n_b + 3u) / 4u * 4u;
  let stride_b = (params.n_a + 3u) / 4u * 4u;
  var count = 0u;
  for (var r = a.start; r < a.start + a.count; r++) {
    count += hits_a[r * stride_a + ib];
  }
  for (var r = b.start; r < b.start + b.count; r++) {
    count += hits_b[r * stride_b + ia];
  }
  accuracy[pair] = f32(count) / f32(a.count + b.count);
}
