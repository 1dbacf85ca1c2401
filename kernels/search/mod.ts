// The search family: the streaming prototype search on the GPU (pool, cosine similarity, running top-k) and
// its brute-force CPU twin, with the hit records both return.
export { PrototypeSearch, type PrototypeSearchOptions } from "./prototype_search.ts";
export { type BruteForceOptions, bruteForceSearch, poolImage } from "./brute_force.ts";
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
