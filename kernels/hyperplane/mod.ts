/**
 * The hyperplane family: every class pair's logistic hyperplane trained by full-batch gradient descent on the
 * GPU (init.wgsl, logits.wgsl, gradient.wgsl, accuracy.wgsl, driven by pair_trainer.ts; logits and gradient
 * are products through the shared GEMM tile, kernels/_gemm_tile.wgsl), on the CPU as batched GEMMs run by
 * onnxruntime-node (native_trainer.ts), its CPU twin (reference.ts, one pair at a time in the GPU's order)
 * that both are tested against, and the settings all read (settings.ts).
 *
 * @example The hyperplanes of three classes' pairs, on the GPU when there is one
 * ```ts
 * import { acquireGpu } from "@protoscope/protoscope";
 * import { CpuPairSolver, GpuPairSolver, REFERENCE_TRAINING } from "@protoscope/protoscope/kernels";
 *
 * const channels = 16;
 * const rows = new Map([0, 1, 2].map((c) => [c, Float32Array.from({ length: 10 * channels }, Math.random)]));
 * const input = { channels, classes: [0, 1, 2], rows };
 * const gpu = await acquireGpu();
 * const solver = gpu
 *   ? GpuPairSolver.create(gpu, input, REFERENCE_TRAINING)
 *   : new CpuPairSolver(input, REFERENCE_TRAINING);
 * const [tile] = await solver.trainTiles(0, [0]); // pair (a[i], b[j]) at i * b.length + j
 * console.log(tile.accuracy);
 * solver.destroy();
 * ```
 *
 * @module
 */
export {
  type BlockLimits,
  CpuPairSolver,
  GpuPairSolver,
  type GpuSolverOptions,
  type PairSolver,
  type PairTrainingInput,
  planBlocks,
  type TileResult,
} from "./pair_trainer.ts";
export { hyperplaneTileGraph, NativePairSolver, type NativeSolverOptions } from "./native_trainer.ts";
export { type PairHyperplane, trainPairCpu } from "./reference.ts";
export {
  ACCURACY_WORKGROUP,
  DEFAULT_MAX_BLOCK_BYTES,
  DEFAULT_MAX_CLASSES,
  HYPERPLANE_INITS,
  HYPERPLANE_TILE,
  type HyperplaneInit,
  type HyperplaneTraining,
  INIT_WORKGROUP,
  initialWeights,
  REFERENCE_TRAINING,
} from "./settings.ts";
