// The hyperplane family: every class pair's logistic hyperplane trained by full-batch gradient descent on
// the GPU (pair_trainer.ts), its CPU twin (reference.ts) and the settings both share.
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
export { type PairHyperplane, trainPairCpu } from "./reference.ts";
export {
  HYPERPLANE_INITS,
  type HyperplaneInit,
  type HyperplaneTraining,
  initialWeights,
  REFERENCE_TRAINING,
} from "./settings.ts";
