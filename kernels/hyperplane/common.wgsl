// Shared by the hyperplane kernels (WGSL has no includes: the dispatcher prepends this file, and the shared
// GEMM tile, kernels/_gemm_tile.wgsl, ahead of logits and gradient). Every class pair's logistic hyperplane is
// trained together: one tile is a block A of classes (label 0) against a block B (label 1), all |A| x |B| pairs
// at once, numbered a * n_b + b. Rows are augmented with a constant 1 so the bias is weight C and every step
// treats it like a channel. Rows of a class start at a multiple of the GEMM tile (padding rows are zero), so a
// row tile never spans two classes. Rows, weight vectors and residual rows are stored with strides rounded up
// to a multiple of 4 (zero padding) so that the tile loads them as vec4s.

struct Params {
  // 0: the block A side (label 0), 1: the block B side (label 1).
  side: u32,
  // 1 on the last epoch: the logits pass also records which rows are classified right.
  last: u32,
  n_a: u32,
  n_b: u32,
  // Width of a row and of a weight vector: channels + 1 (the bias).
  width: u32,
  // Row tiles of this side's block, and how many of them one row of the dispatch grid holds.
  row_tiles: u32,
  grid_x: u32,
  // 1: start from zero instead of the seeded uniform draw.
  zero_init: u32,
  lr: f32,
  bound: f32,
  seed: u32,
  _pad: u32,
}

// Per class of a block: first (padded) row, row count, class index.
struct ClassSlot {
  start: u32,
  count: u32,
  class_index: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;

// The pair of class `own` of this side with class `partner` of the other.
fn pair_of(own: u32, partner: u32) -> u32 {
  if (params.side == 0u) {
    return own * params.n_b + partner;
  }
  return partner * params.n_b + own;
}

// Classes of the other block.
fn partners() -> u32 {
  return select(params.n_a, params.n_b, params.side == 0u);
}

// Row stride of the rows and the weight vectors (the padding is zero in both).
fn width_stride() -> u32 {
  return (params.width + 3u) / 4u * 4u;
}

// Row stride of this side's residuals and hits: one column per partner class.
fn partner_stride() -> u32 {
  return (partners() + 3u) / 4u * 4u;
}
