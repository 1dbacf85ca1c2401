// The NMF family: scikit-learn's NMF (NNDSVDa + coordinate descent) batched on the GPU, its float64 CPU
// reference, the same algorithm with onnxruntime-node's GEMMs for the products (native.ts), the settings all
// share, and the bench's synthetic input.
export { nmf, nmfBatched } from "./nmf.ts";
export { type NmfProblem, type NmfTrace, type SolveOptions } from "./solver.ts";
export { nmfReference } from "./reference.ts";
export { type CpuNmf, cpuNmf, nmfNative } from "./native.ts";
export {
  checkShape,
  firstInvalid,
  MAX_K,
  NMF_DEFAULTS,
  type NmfOptions,
  type NmfResult,
  type NmfSettings,
  resolveSettings,
} from "./settings.ts";
export { fillSparseRandom, type RandomFill } from "./bench_input.ts";
