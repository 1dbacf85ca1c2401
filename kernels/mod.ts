/**
 * protoscope's WGSL kernels as a library: each family's GPU dispatcher with its CPU twin, the same formula
 * on both, so a caller can check one against the other. Normalization of prepared images, batched NMF
 * (scikit-learn's algorithm), the streaming prototype search and crop composites.
 *
 * @example NMF on the GPU when there is one, else the CPU reference
 * ```ts
 * import { acquireGpu } from "@protoscope/protoscope";
 * import { nmf, NMF_DEFAULTS, nmfReference } from "@protoscope/protoscope/kernels";
 *
 * const v = Float32Array.from({ length: 600 * 64 }, () => Math.random());
 * const gpu = await acquireGpu();
 * const r = gpu ? await nmf(gpu.device, { v, n: 600, c: 64 }) : nmfReference(v, 600, 64);
 * console.log(`k=${NMF_DEFAULTS.k}: relative error ${r.relError}`);
 * ```
 *
 * @module
 */

export { type NoiseOptions, normalizeOnCpu, normalizeOnGpu } from "./normalize/normalize.ts";
export { nmf, nmfBatched, type NmfProblem } from "./nmf/nmf.ts";
export { nmfReference } from "./nmf/reference.ts";
export { NMF_DEFAULTS, type NmfOptions, type NmfResult, type NmfSettings } from "./nmf/settings.ts";
export { PrototypeSearch, type PrototypeSearchOptions } from "./search/prototype_search.ts";
export { type BruteForceOptions, bruteForceSearch, poolImage } from "./search/brute_force.ts";
export type { SearchGeometry, SearchHit, SearchResult } from "./search/hits.ts";
export {
  compositeRgbCpu,
  type CropCell,
  CropCompositor,
  cropGrid,
  cropSize,
  type ImageSource,
} from "./composite/crop_composite.ts";
