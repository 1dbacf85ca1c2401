// Turns prepared uint8 images into the model's normalized float input on the GPU (normalize.wgsl), with
// optional SmoothGrad noise; normalize_cpu.ts is its CPU twin for the wasm EP.
import { createStorageBuffer, createUniformBuffer } from "../../src/runtime/gpu.ts";
import { NO_NOISE, type NoiseOptions, writeNormalization } from "./params.ts";
import { compileProgram, dispatchGrid, encodeDispatch, LINEAR_WORKGROUP } from "../_program.ts";

function params(n: number, h: number, w: number, noise: NoiseOptions): ArrayBuffer {
  const buf = new ArrayBuffer(64);
  const u = new Uint32Array(buf);
  const f = new Float32Array(buf);
  u[0] = n * noise.samples * 3 * h * w;
  u[1] = h;
  u[2] = w;
  u[3] = noise.samples;
  f[4] = noise.sigma;
  u[5] = noise.seed >>> 0;
  u[6] = noise.rowOffset ?? 0;
  writeNormalization(f);
  return buf;
}

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
    sources: [NORMALIZE_WGSL],
    entryPoints: ["main"],
    overrides: { WORKGROUP: LINEAR_WORKGROUP },
  });
  const padded = new Uint8Array(Math.ceil(n * h * w * 3 / 4) * 4);
  padded.set(pixels.subarray(0, n * h * w * 3));
  const input = createStorageBuffer(device, padded, 0, "pixels");
  const count = n * noise.samples * 3 * h * w;
  const output = createStorageBuffer(device, count * 4, 0, "normalized");
  const uniforms = createUniformBuffer(device, new Uint8Array(params(n, h, w, noise)));
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  encodeDispatch(
    pass,
    device,
    pipeline,
    [input, output, uniforms],
    dispatchGrid(Math.ceil(count / LINEAR_WORKGROUP)),
  );
  pass.end();
  device.queue.submit([enc.finish()]);
  input.destroy();
  uniforms.destroy();
  return output;
}
