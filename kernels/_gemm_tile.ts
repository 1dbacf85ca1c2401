// The TypeScript side of the one GEMM tile (_gemm_tile.wgsl): its sources, for the families that compile them
// ahead of their own kernel, and its sizes, written once here: the families plan their grids with them and pass
// GEMM_CONSTANTS to compileProgram, which rewrites the tile's `const` lines, so no number is mirrored by hand.
// (The tile's body is written for 8 x 8 outputs per invocation: GEMM_TILE / 8 invocations a side.)

/** The shared tile's WGSL: compile it ahead of the family's file, which defines `gemm_load`. */
export const GEMM_TILE_SOURCE = new URL("./_gemm_tile.wgsl", import.meta.url);
/**
 * The `gemm_load` for operands stored depth-major (contiguous along the outputs): compile it after the tile;
 * the family's file then defines `gemm_fetch_a4` and `gemm_fetch_b4`.
 */
export const GEMM_LOAD_KMAJOR_SOURCE = new URL("./_gemm_load_kmajor.wgsl", import.meta.url);

/** Output rows and columns of one workgroup (`const GEMM_TILE` in the WGSL, rewritten). */
export const GEMM_TILE = 64;
/** Depth of one slice through workgroup memory (`const GEMM_DEPTH`, rewritten); GEMM_TILE is a multiple of it. */
export const GEMM_DEPTH = 32;

/** The tile's `const` lines as ProgramSpec.constants: every program that compiles GEMM_TILE_SOURCE passes them. */
export const GEMM_CONSTANTS: Readonly<Record<string, number>> = { GEMM_TILE, GEMM_DEPTH };

/** `n` rounded up to a multiple of 4: the row stride of operands the tile loads as vec4s. */
export function vec4Stride(n: number): number {
  return Math.ceil(n / 4) * 4;
}
