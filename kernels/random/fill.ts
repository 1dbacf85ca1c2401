// Seeded sparse random values written straight into GPU buffers (fill.wgsl), so that large synthetic inputs
// never pass through the CPU; reference.ts is the CPU twin.
import { createUniformBuffer } from "../../src/runtime/gpu.ts";
import {
  compileProgram,
  dispatchGrid,
  encodeDispatch,
  HASH_WGSL,
  packUniforms,
  uniformLayout,
} from "../_program.ts";
import { FILL_WORKGROUP, type RandomFill } from "./settings.ts";

const FILL_WGSL = new URL("./fill.wgsl", import.meta.url);

/**
 * Fills each buffer with seeded values in [0, 1), about half of them 0 (ReLU-like sparsity), and waits until
 * the GPU is done.
 */
export async function fillSparseRandom(device: GPUDevice, fills: readonly RandomFill[]): Promise<void> {
  const { fill_random: pipeline } = await compileProgram(device, {
    label: "random fill",
    sources: [HASH_WGSL, FILL_WGSL],
    entryPoints: ["fill_random"],
    overrides: { WORKGROUP: FILL_WORKGROUP },
  });
  const layout = await uniformLayout(FILL_WGSL, "Fill");
  const encoder = device.createCommandEncoder({ label: "random fill" });
  const uniforms = fills.map(({ buffer, count, seed }) => {
    const grid = dispatchGrid(
      Math.ceil(count / FILL_WORKGROUP),
      device.limits.maxComputeWorkgroupsPerDimension,
    );
    const fill = createUniformBuffer(
      device,
      packUniforms(layout, { count, seed, row: grid[0] * FILL_WORKGROUP }),
    );
    const pass = encoder.beginComputePass();
    encodeDispatch(pass, device, pipeline, [fill, buffer], grid);
    pass.end();
    return fill;
  });
  device.queue.submit([encoder.finish()]);
  await device.queue.onSubmittedWorkDone();
  for (const u of uniforms) u.destroy();
}
