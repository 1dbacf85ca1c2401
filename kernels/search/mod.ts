/**
 * The search family: the streaming prototype search on the GPU (pool_normalize.wgsl, similarity_matmul.wgsl,
 * topk_merge.wgsl, driven by prototype_search.ts: pooling, cosine similarity through the shared GEMM tile
 * (kernels/_gemm_tile.wgsl), and in one pass a running top-k per prototype over all images and a top-k among
 * images of other classes) and its brute-force CPU twin (reference.ts), with the hit records both return
 * (hits.ts).
 *
 * @example The best 8 positions of 2 prototypes over 3 images of 64 x 14 x 14 activations
 * ```ts
 * import { acquireGpu } from "@protoscope/protoscope";
 * import { bruteForceSearch, PrototypeSearch } from "@protoscope/protoscope/kernels";
 *
 * const geometry = { channels: 64, height: 14, width: 14, topK: 8 };
 * const bank = Float32Array.from({ length: 3 * 64 * 14 * 14 }, () => Math.random());
 * const bases = Float32Array.from({ length: 2 * 64 }, () => Math.random());
 * const classes = Int32Array.of(0, 1); // class of each prototype
 * const predicted = Int32Array.of(0, 1, 1); // predicted class of each image
 * const gpu = await acquireGpu();
 * if (gpu) {
 *   const search = await PrototypeSearch.create(gpu.device, bases, classes, geometry);
 *   search.addBatch(bank, 3, 0, predicted);
 *   console.log((await search.finish()).topK[0]);
 *   search.destroy();
 * } else {
 *   console.log(bruteForceSearch(bank, 3, bases, classes, predicted, geometry).topK[0]);
 * }
 * ```
 *
 * @module
 */
export { PrototypeSearch, type PrototypeSearchOptions } from "./prototype_search.ts";
export { type BruteForceOptions, bruteForceSearch, poolImage } from "./reference.ts";
export {
  compareHits,
  type HitSource,
  hitSource,
  pooledSize,
  ranksBefore,
  type SearchGeometry,
  type SearchHit,
  type SearchResult,
} from "./hits.ts";
export {
  DEFAULT_EXCLUDED_TOP_K,
  DEFAULT_MAX_BATCH,
  MATMUL_TILE,
  MAX_SCORES_BYTES,
  MERGE_WORKGROUP,
} from "./settings.ts";
