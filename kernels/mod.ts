/**
 * protoscope's hand-written WebGPU kernels, one family per folder, each with the TypeScript that dispatches
 * it and its CPU twin: `normalize` (uint8 images -> the model's normalized input, with SmoothGrad noise),
 * `nmf` (batched non-negative matrix factorization, scikit-learn's defaults), `search` (streaming prototype
 * search) and `composite` (crop composites). Every family compiles its WGSL through `_program.ts`, which
 * caches pipelines per device and reports compile errors with the file and line.
 *
 * @example
 * ```ts
 * import { acquireGpu } from "../src/runtime/gpu.ts";
 * import { nmf, nmfReference } from "./mod.ts";
 *
 * const v = Float32Array.from({ length: 40 * 12 }, (_, i) => (i * 7919) % 13);
 * const gpu = await acquireGpu();
 * const { w, h, relError } = gpu
 *   ? await nmf(gpu.device, { v, n: 40, c: 12 }, { k: 3 })
 *   : nmfReference(v, 40, 12, { k: 3 });
 * console.log(w.length, h.length, relError); // 120 36 ...
 * ```
 *
 * @module
 */
export {
  IMAGENET_MEAN,
  IMAGENET_STD,
  NO_NOISE,
  type NoiseOptions,
  normalizeOnCpu,
  normalizeOnGpu,
} from "./normalize/mod.ts";
export {
  checkShape,
  fillSparseRandom,
  firstInvalid,
  MAX_K,
  nmf,
  nmfBatched,
  type NmfOptions,
  type NmfProblem,
  nmfReference,
  type NmfResult,
  type NmfSettings,
  type NmfTrace,
  type RandomFill,
  resolveSettings,
  type SolveOptions,
} from "./nmf/mod.ts";
export {
  type BruteForceOptions,
  bruteForceSearch,
  compareHits,
  type HitSource,
  hitSource,
  pooledSize,
  poolImage,
  PrototypeSearch,
  type PrototypeSearchOptions,
  ranksBefore,
  type SearchGeometry,
  type SearchHit,
  type SearchResult,
} from "./search/mod.ts";
export {
  type CompositePixels,
  compositeRgbCpu,
  type CompositeTensor,
  type CropCell,
  CropCompositor,
  cropGrid,
  cropSize,
  type GridOptions,
  type ImageSource,
  PREPARED_IMAGE_SIZE,
} from "./composite/mod.ts";
