// The settings of the search family, written once for the WGSL kernels (as overrides), their dispatcher
// (prototype_search.ts) and the CPU twin: defaults, limits, the tile sizes that size the dispatch grids,
// and the sentinels of an empty top-k slot.
import { LINEAR_WORKGROUP } from "../_program.ts";
import { GEMM_TILE } from "../_gemm_tile.ts";

/** Invocations per workgroup of pool_normalize.wgsl (its `override WORKGROUP`), which also sizes the grid. */
export const POOL_WORKGROUP = LINEAR_WORKGROUP;
/**
 * Output tile side of similarity_matmul.wgsl: the shared GEMM tile's (kernels/_gemm_tile.ts, whose constants
 * the matmul is compiled with). Sizes its grid and the prototype chunks.
 */
export const MATMUL_TILE = GEMM_TILE;
/** Invocations per topk_merge.wgsl workgroup (its `override WG`); also the largest topK / excludedTopK it keeps. */
export const MERGE_WORKGROUP = 64;
/** Positions kept among other classes' images when excludedTopK is not given: the single best, `bestOther`. */
export const DEFAULT_EXCLUDED_TOP_K = 1;
/** Images per GPU step when PrototypeSearchOptions.maxBatch is not given. */
export const DEFAULT_MAX_BATCH = 64;
/** Keeps one scores chunk a modest allocation even where the device allows huge bindings. */
export const MAX_SCORES_BYTES = 256 * 1024 * 1024;
/** An empty slot's score (`override EMPTY_SCORE` of topk_merge.wgsl): every real cosine (>= -1) ranks before it. */
export const EMPTY_SCORE = -3.0e38;
/** An empty slot's key (`override EMPTY_KEY`): also one past the largest position key the search takes. */
export const EMPTY_KEY = 0xffffffff;
