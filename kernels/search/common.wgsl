// The uniform parameters shared by the three search kernels (pool_normalize, similarity_matmul,
// topk_merge); prototype_search.ts compiles it ahead of each and fills it per dispatch.

struct Params {
  batch: u32,
  channels: u32,
  height: u32,
  width: u32,
  pooled_h: u32,
  pooled_w: u32,
  columns: u32,       // N
  bases_stride: u32,  // row stride of the transposed bases: P rounded up to a multiple of 4
  row_start: u32,     // first prototype of this dispatch's chunk
  rows: u32,          // prototypes in the chunk
  first_key: u32,     // first image index * ph * pw: key of column 0
  column_stride: u32, // row stride of the pooled columns: N rounded up to a multiple of 4
}
