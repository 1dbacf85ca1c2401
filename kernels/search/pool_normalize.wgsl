// Step 1 of the streaming prototype search: tap activations (batch x C x h x w, NCHW) -> 2x2/stride-2 average
// pooled vectors (or the positions themselves when the pooled grid is the tap's own: a transformer's tokens)
// stored channel-major ([C, N], N = batch * ph * pw, column n = b * ph * pw + py * pw + px; rows padded to
// column_stride, a multiple of 4), the layout the similarity matmul loads as vec4s along N; then one inverse L2
// norm per column, applied in the matmul's epilogue instead of rewriting the pooled values.

// Params: common.wgsl, compiled ahead of this file by prototype_search.ts.

// Invocations per workgroup, set by the dispatcher from POOL_WORKGROUP (settings.ts), which also sizes its
// grid.
override WORKGROUP: u32;

@group(0) @binding(0) var<storage, read> activations: array<f32>;
@group(0) @binding(1) var<storage, read_write> pooled: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read_write> inv_norm: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn pool(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * WORKGROUP;
  if (idx >= p.channels * p.columns) {
    return;
  }
  // Consecutive invocations take consecutive columns of one channel: the writes are contiguous and the reads
  // walk one activation plane.
  let c = idx / p.columns;
  let n = idx % p.columns;
  let cells = p.pooled_h * p.pooled_w;
  let b = n / cells;
  let cell = n % cells;
  let py = cell / p.pooled_w;
  let px = cell % p.pooled_w;
  // The pooling side is no member of Params (its layout is fixed): a grid as large as the tap is unpooled (a
  // transformer's tokens, pool 1), a 2x2 pooled one is at most half of it.
  let unpooled = p.pooled_h == p.height && p.pooled_w == p.width;
  let pool = select(2u, 1u, unpooled);
  let top = ((b * p.channels + c) * p.height + pool * py) * p.width + pool * px;
  if (unpooled) {
    pooled[c * p.column_stride + n] = activations[top];
    return;
  }
  let bottom = top + p.width;
  pooled[c * p.column_stride + n] = (activations[top] + activations[top + 1u] + activations[bottom] + activations[bottom + 1u]) * 0.25;
}

@compute @workgroup_size(WORKGROUP)
fn norms(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = gid.x + gid.y * nwg.x * WORKGROUP;
  if (n >= p.columns) {
    return;
  }
  var sum = 0.0;
  for (var c = 0u; c < p.channels; c++) {
    let v = pooled[c * p.column_stride + n];
    sum += v * v;
  }
  // A zero vector (dead ReLU region) has cosine 0 with every prototype, as with a guarded division.
  inv_norm[n] = select(0.0, 1.0 / sqrt(sum), sum > 1e-30);
}
