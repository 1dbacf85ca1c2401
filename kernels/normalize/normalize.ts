// Turns prepared uint8 images into the model's normalized float input on the GPU (normalize.wgsl), with
// optional SmoothGrad noise; reference.ts is its CPU twin for the wasm EP.
import { createStorageBuffer, createUniformBuffer } from "../../src/runtime/gpu.ts";
import { NO_NOISE, type NoiseOptions, normalizationUniforms, NORMALIZE_WORKGROUP } from "./settings.ts";
import {
  compileProgram,
  dispatchGrid,
  encodeDispatch,
  HASH_WGSL,
  packUniforms,
  uniformLayout,
} from "../_program.ts";

const NORMALIZE_WGSL = new URL("./normalize.wgsl", import.meta.url);

/**
 * Uploads `n` images (n x h x w x 3 uint8) and returns a GPU buffer holding the normalized NCHW float input
 * (n * samples rows). The caller owns the returned buffer.
 */
export async function normalizeOnGpu(
  device: GPUDevice,
  pixels: Uint8Array,
  n: number,
  h: number,
  w: number,
  noise: NoiseOptions = NO_NOISE,
): Promise<GPUBuffer> {
  const { main: pipeline } = await compileProgram(device, {
    label: "normalize",
    sources: [HASH_WGSL, NORMALIZE_WGSL],
    entryPoints: ["main"],
    overrides: { WORKGROUP: NORMALIZE_WORKGROUP },
  });
  const padded = new Uint8Array(Math.ceil(n * h * w * 3 / 4) * 4);
  padded.set(pixels.subarray(0, n * h * w * 3));
  const input = createStorageBuffer(device, padded, 0, "pixels");
  const count = n * noise.samples * 3 * h * w;
  const output = createStorageBuffer(device, count * 4, 0, "normalized");
  const uniforms = createUniformBuffer(
    device,
    packUniforms(await uniformLayout(NORMALIZE_WGSL, "Params"), {
      count,
      h,
      w,
      samples: noise.samples,
      sigma: noise.sigma,
      seed: noise.seed >>> 0,
      row_offset: noise.rowOffset ?? 0,
      ...normalizationUniforms(),
    }),
  );
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  encodeDispatch(
    pass,
    device,
    pipeline,
    [input, output, uniforms],
    dispatchGrid(Math.ceil(count / NORMALIZE_WORKGROUP)),
  );
  pass.end();
  device.queue.submit([enc.finish()]);
  input.destroy();
  uniforms.destroy();
  return output;
}
