// The TypeScript side of the one GEMM tile (_gemm_tile.wgsl): its source, for the families that compile it
// ahead of their own kernel, and the sizes their dispatchers plan with. The numbers mirror the WGSL consts
// (the tile's body is written for them: 8 x 8 invocations of 8 x 8 outputs); change both together.

/** The shared tile's WGSL: compile it ahead of the family's file, which defines `gemm_load`. */
export const GEMM_TILE_SOURCE = new URL("./_gemm_tile.wgsl", import.meta.url);
/**
 * The `gemm_load` for operands stored depth-major (contiguous along the outputs): compile it after the tile;
 * the family's file then defines `gemm_fetch_a4` and `gemm_fetch_b4`.
 */
export const GEMM_LOAD_KMAJOR_SOURCE = new URL("./_gemm_load_kmajor.wgsl", import.meta.url);

/** Output rows and columns of one workgroup (GEMM_TILE in the WGSL). */
export const GEMM_TILE = 64;
/** Depth of one slice through workgroup memory (GEMM_DEPTH): per-class row ranges align to it. */
export const GEMM_DEPTH = 32;

/** `n` rounded up to a multiple of 4: the row stride of operands the tile loads as vec4s. */
export function vec4Stride(n: number): number {
  return Math.ceil(n / 4) * 4;
}
