/**
 * The random family: seeded sparse uniform values written straight into GPU buffers (fill.wgsl, dispatched by
 * fill.ts), so that large synthetic inputs such as the NMF bench's V never pass through the CPU, and its CPU
 * twin (reference.ts). The hashes are kernels/_hash.wgsl's, shared with every family that draws.
 *
 * @example A GPU buffer of 1000 values, checked against the CPU twin
 * ```ts
 * import { acquireGpu, readBuffer } from "../../src/runtime/gpu.ts";
 * import { fillSparseRandom, sparseRandomCpu } from "./mod.ts";
 *
 * const gpu = await acquireGpu();
 * if (gpu) {
 *   const buffer = gpu.device.createBuffer({ size: 4000, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
 *   await fillSparseRandom(gpu.device, [{ buffer, count: 1000, seed: 7 }]);
 *   const values = new Float32Array(await readBuffer(gpu.device, buffer, 4000));
 *   console.log(values[3] === sparseRandomCpu(1000, 7)[3]); // true
 * }
 * ```
 *
 * @module
 */
export { fillSparseRandom } from "./fill.ts";
export { sparseRandomCpu } from "./reference.ts";
export { FILL_WORKGROUP, type RandomFill } from "./settings.ts";
