// The settings of the search family, written once for the WGSL kernels (as overrides), their dispatcher
// (prototype_search.ts) and the CPU twin: defaults, limits, the tile sizes that size the dispatch grids,
// and the sentinels of an empty top-k slot.
import { LINEAR_WORKGROUP } from "../_program.ts";

/** Invocations per workgroup of pool_normalize.wgsl (its `override WORKGROUP`), which also sizes the grid. */
export const POOL_WORKGROUP = LINEAR_WORKGROUP;
/** Output tile side of similarity_matmul.wgsl (its `override TILE`): sizes its grid and the prototype chunks. */
export const MATMUL_TILE = 64;
/** Invocations per topk_merge.wgsl workgroup (its `override WG`); also the largest topK it can keep. */
export const MERGE_WORKGROUP = 64;
/** Images per GPU step when PrototypeSearchOptions.maxBatch is not given. */
export const DEFAULT_MAX_BATCH = 64;
/** Keeps one scores chunk a modest allocation even where the device allows huge bindings. */
export const MAX_SCORES_BYTES = 256 * 1024 * 1024;
/** An empty slot's score (`override EMPTY_SCORE` of topk_merge.wgsl): every real cosine (>= -1) ranks before it. */
export const EMPTY_SCORE = -3.0e38;
/** An empty slot's key (`override EMPTY_KEY`): also one past the largest position key the search takes. */
export const EMPTY_KEY = 0xffffffff;
