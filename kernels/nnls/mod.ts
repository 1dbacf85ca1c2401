// The nnls family: activations expressed in a class's prototypes with non-negative coefficients per position,
// solved exactly (Lawson-Hanson active set) on the GPU (project.wgsl, solve.wgsl, residual.wgsl) or by the
// CPU twin.
export { nnlsGpu, prepareNnls } from "./nnls.ts";
export { nnlsCpu, type PositionSolve, solveNnlsGram } from "./nnls_cpu.ts";
export { gram, project, residuals } from "./gram.ts";
export { checkNnlsProblem, type NnlsProblem, type NnlsSolution } from "./problem.ts";
export { checkK, NNLS_MAX_K, NNLS_PIVOT_FLOOR, NNLS_TOLERANCE } from "./settings.ts";
