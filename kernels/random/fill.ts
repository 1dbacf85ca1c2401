// Synthetic non-negative V for the NMF bench (bench_input.wgsl), written straight into GPU buffers so that
// large batches never pass through the CPU.
import { createUniformBuffer } from "../../src/runtime/gpu.ts";
import { compileProgram, dispatchGrid, encodeDispatch, LINEAR_WORKGROUP } from "../_program.ts";

/** `count` floats of `buffer` (from byte 0) to fill from `seed`. */
export interface RandomFill {
  buffer: GPUBuffer;
  count: number;
  seed: number;
}

/**
 * Fills each buffer with seeded values in [0, 1), about half of them 0 (ReLU-like sparsity), and waits until
 * the GPU is done.
 */
export async function fillSparseRandom(device: GPUDevice, fills: readonly RandomFill[]): Promise<void> {
  const { fill_random: pipeline } = await compileProgram(device, {
    label: "nmf bench input",
    sources: [new URL("./bench_input.wgsl", import.meta.url)],
    entryPoints: ["fill_random"],
    overrides: { WORKGROUP: LINEAR_WORKGROUP },
  });
  const encoder = device.createCommandEncoder({ label: "nmf bench input" });
  const uniforms = fills.map(({ buffer, count, seed }) => {
    const grid = dispatchGrid(
      Math.ceil(count / LINEAR_WORKGROUP),
      device.limits.maxComputeWorkgroupsPerDimension,
    );
    const fill = createUniformBuffer(device, new Uint32Array([count, seed, grid[0] * LINEAR_WORKGROUP, 0]));
    const pass = encoder.beginComputePass();
    encodeDispatch(pass, device, pipeline, [fill, buffer], grid);
    pass.end();
    return fill;
  });
  device.queue.submit([encoder.finish()]);
  await device.queue.onSubmittedWorkDone();
  for (const u of uniforms) u.destroy();
}
