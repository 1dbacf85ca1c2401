// Declarations shared by every NMF kernel: the dispatch-group layout, the per-dispatch Params and the
// per-problem solver State; kernels.ts compiles this file ahead of each kernel file (WGSL has no includes).
// Layout of one dispatch group (G problems of the same n x c, problem g = the last workgroup id axis):
//   V       [G][n][c]  row-major, read-only
//   tallT   [G][K][n]  W^T, V H^T (HALS, K = k) or (V Q)^T (subspace iteration, K = p)
//   wideT   [G][K][c]  H, Q^T; all factors are stored component-major so that per-row / per-column
//                      work items read and write them coalesced.
//   active  [G]        indices of the problems still iterating (compact in hals.wgsl); the iteration
//                      kernels map workgroup -> problem through it and are dispatched indirectly with
//                      the active count, so a converged problem costs nothing and stops changing.
// Workgroup arrays stay at <= 256 elements (vec4 where more data is needed): on wgpu's GL backend over
// llvmpipe (CI's software WebGPU) compile time grows steeply with their length (about 3 s for 1024 f32,
// minutes for 4096), which rules out the usual 64 x 64 shared-memory tiles.

// Rewritten per program by kernels.ts: K is the factor width (k or p), P the subspace width. They size
// function-scope arrays, which WGSL allows only for creation-time constants, not overrides.
const K: u32 = 6u;
const P: u32 = 16u;

// Invocations per workgroup of the kernels that take one element each (sum_splits, nndsvd_w, nndsvd_h) and
// of the Gram kernels (gram_tall, gram_h), set by kernels.ts from the TypeScript
// that sizes their grids.
override WORKGROUP: u32;
override GRAM_WORKGROUP: u32;

struct Params {
  n: u32,
  c: u32,
  splits: u32,        // row blocks of V^T X; each writes its own partial product
  rows_per_split: u32,
  w_tiles: u32,       // workgroups of update_w (each leaves one Gram/violation partial)
  h_tiles: u32,       // workgroups of update_h
  max_iter: u32,
  tol: f32,
  stat_tiles: u32,    // workgroups of stats
  res_tiles: u32,     // workgroups of residual
  p: u32,             // P at run time: loop bounds of the one-invocation kernels (keeps llvmpipe from unrolling)
  k: u32,
  vtf_tiles: u32,     // workgroups of vtf with K = k along x
  vtx_tiles: u32,     // workgroups of vtx along x
  _pad0: u32,
  _pad1: u32,
}

// Per-problem solver state, kept on the GPU; the host reads it back only every few iterations.
struct State {
  iter: u32,          // iterations done
  done: u32,          // 1 once converged or at max_iter: every kernel then leaves this problem alone
  viol_init: f32,     // violation of iteration 1
  viol: f32,          // violation of the last iteration
  viol_w: f32,        // W half of the current iteration's violation
  mean: f32,          // mean(V), the NNDSVDa fill value
  norm_sq: f32,       // ||V||_F^2
  rel_err: f32,       // ||V - WH||_F / ||V||_F, written by finish
}

