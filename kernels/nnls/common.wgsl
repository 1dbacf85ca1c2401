// Shared by the NNLS kernels: the prototype count K (a const because the solver's private arrays are sized by
// it; nnls.ts rewrites both lines from the basis) and the problem's shape.
const K: u32 = 6u;
const KK: u32 = 36u;

struct Params {
  // Positions of the batch: images x (h * w).
  positions: u32,
  // Positions per image (h * w): the stride between channels of one image's NCHW activations.
  hw: u32,
  channels: u32,
  // Relative KKT tolerance (settings.ts NNLS_TOLERANCE).
  tolerance: f32,
}

@group(0) @binding(0) var<uniform> params: Params;

// Invocations per workgroup, set by nnls.ts from NNLS_WORKGROUP (settings.ts), which also sizes its grids.
override WORKGROUP: u32;

// Flat invocation index of a 1-D problem dispatched over an x-y grid (_program.ts dispatchGrid).
fn flatIndex(gid: vec3u, groups: vec3u) -> u32 {
  return gid.x + gid.y * groups.x * WORKGROUP;
}
