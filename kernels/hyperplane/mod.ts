// The hyperplane family: every class pair's logistic hyperplane trained by full-batch gradient descent on
// the GPU (pair_trainer.ts), on the CPU as batched GEMMs run by onnxruntime-node (native_trainer.ts), the CPU
// twin (reference.ts) that both are tested against, and the settings all share.
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
  HYPERPLANE_INITS,
  type HyperplaneInit,
  type HyperplaneTraining,
  initialWeights,
  REFERENCE_TRAINING,
} from "./settings.ts";
