/**
 * protoscope's WGSL kernels as a library: each family's GPU dispatcher with its CPU twin, the same formula
 * on both, so a caller can check one against the other. Normalization of prepared images, batched NMF
 * (scikit-learn's algorithm), the streaming prototype search, crop composites and the
 * class-pair hyperplanes (batched logistic regression), and the exact per-position NNLS decomposition of
 * activations in a class's prototypes.
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
export { NO_NOISE, type NoiseOptions, normalizeOnCpu, normalizeOnGpu } from "./normalize/mod.ts";
export {
  checkShape,
  cpuNmf,
  firstInvalid,
  MAX_K,
  nmf,
  NMF_DEFAULTS,
  nmfBatched,
  nmfNative,
  type NmfOptions,
  type NmfProblem,
  nmfReference,
  type NmfResult,
  type NmfSettings,
  type NmfTrace,
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
  cropBox,
  type CropCell,
  CropCompositor,
  cropGrid,
  cropSize,
  type GridOptions,
  type ImageSource,
} from "./composite/mod.ts";
export {
  CpuPairSolver,
  GpuPairSolver,
  HYPERPLANE_INITS,
  type HyperplaneInit,
  type HyperplaneTraining,
  NativePairSolver,
  type PairHyperplane,
  REFERENCE_TRAINING,
  trainPairCpu,
} from "./hyperplane/mod.ts";
export {
  checkK,
  NNLS_MAX_K,
  nnlsCpu,
  nnlsGpu,
  type NnlsProblem,
  type NnlsSolution,
  solveNnlsGram,
} from "./nnls/mod.ts";
