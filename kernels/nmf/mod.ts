/**
 * The NMF family: scikit-learn's NMF (NNDSVDa start, coordinate descent, Frobenius loss) batched on the GPU
 * (init.wgsl, products.wgsl, hals.wgsl, error.wgsl, driven by solver.ts through nmf.ts), its float64 CPU
 * twin (reference.ts), the same algorithm with onnxruntime-node's GEMMs for the products (native.ts), and
 * the settings all read (settings.ts; the grid geometry is plan.ts's).
 *
 * @example One factorization on the GPU when there is one, else on the CPU
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
