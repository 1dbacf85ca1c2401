/**
 * The nnls family: activations expressed in a class's prototypes with non-negative coefficients per position,
 * solved exactly (Lawson-Hanson active set) on the GPU (project.wgsl, solve.wgsl, residual.wgsl, dispatched by
 * nnls.ts) or by the CPU twin (reference.ts; gram.ts holds the products both use).
 *
 * @example Two images of 4 x 4 positions and 8 channels in 3 prototypes, on the GPU when there is one
 * ```ts
 * import { acquireGpu } from "@protoscope/protoscope";
 * import { nnlsCpu, nnlsGpu } from "@protoscope/protoscope/kernels";
 *
 * const problem = {
 *   activations: Float32Array.from({ length: 2 * 8 * 16 }, () => Math.random()),
 *   basis: Float32Array.from({ length: 3 * 8 }, () => Math.random()),
 *   n: 2,
 *   channels: 8,
 *   hw: 16,
 *   k: 3,
 * };
 * const gpu = await acquireGpu();
 * const { x, error } = gpu ? await nnlsGpu(gpu.device, problem) : nnlsCpu(problem);
 * ```
 *
 * @module
 */
export { nnlsGpu, prepareNnls } from "./nnls.ts";
export { nnlsCpu, type PositionSolve, solveNnlsGram } from "./reference.ts";
export { gram, project, residuals } from "./gram.ts";
export { checkNnlsProblem, type NnlsProblem, type NnlsSolution } from "./problem.ts";
export { checkK, NNLS_MAX_K, NNLS_PIVOT_FLOOR, NNLS_TOLERANCE, NNLS_WORKGROUP } from "./settings.ts";
