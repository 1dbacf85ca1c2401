// Turns prepared uint8 images into the model's normalized float input, on the GPU (normalize.wgsl) or, for
// the wasm EP, on the CPU with the same formula and the same noise generator.
import { createStorageBuffer, createUniformBuffer } from "../../src/runtime/gpu.ts";
import { compileProgram, dispatchGrid, encodeDispatch } from "../_program.ts";

import { IMAGENET_MEAN, IMAGENET_STD } from "../../src/data/input_spec.ts";

export interface NoiseOptions {
  /** Noisy copies per image (1 = plain input when sigma is 0). */
  samples: number;
  /** Standard deviation in normalized units. */
  sigma: number;
  seed: number;
  /** Global index of the first output row, so noise is the same however the data is batched. */
  rowOffset?: number;
}

const NO_NOISE: NoiseOptions = { samples: 1, sigma: 0, seed: 0 };

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
  for (let c = 0; c < 3; c++) {
    f[8 + c] = IMAGENET_MEAN[c];
    f[12 + c] = 1 / IMAGENET_STD[c];
  }
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
  });
  const padded = new Uint8Array(Math.ceil(n * h * w * 3 / 4) * 4);
  padded.set(pixels.subarray(0, n * h * w * 3));
  const input = createStorageBuffer(device, padded, 0, "pixels");
  const count = n * noise.samples * 3 * h * w;
  const output = createStorageBuffer(device, count * 4, 0, "normalized");
  const uniforms = createUniformBuffer(device, new Uint8Array(params(n, h, w, noise)));
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  encodeDispatch(pass, device, pipeline, [input, output, uniforms], dispatchGrid(Math.ceil(count / 256)));
  pass.end();
  device.queue.submit([enc.finish()]);
  input.destroy();
  uniforms.destroy();
  return output;
}

function pcg(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

function gaussian(key: number, seedHash: number): number {
  const a = pcg((key ^ seedHash) >>> 0);
  const b = pcg((a ^ 0x9e3779b9) >>> 0);
  const u1 = ((a >>> 8) + 1) / 16777216;
  const u2 = ((b >>> 8) + 1) / 16777216;
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(6.283185307 * u2);
}

/** The CPU twin of normalize.wgsl. */
export function normalizeOnCpu(
  pixels: Uint8Array,
  n: number,
  h: number,
  w: number,
  noise: NoiseOptions = NO_NOISE,
): Float32Array {
  const plane = h * w;
  const out = new Float32Array(n * noise.samples * 3 * plane);
  const seedHash = pcg(noise.seed >>> 0);
  const scale = IMAGENET_STD.map((s) => 1 / s);
  for (let row = 0; row < n * noise.samples; row++) {
    const image = Math.floor(row / noise.samples);
    const globalRow = row + (noise.rowOffset ?? 0);
    for (let c = 0; c < 3; c++) {
      const base = (row * 3 + c) * plane;
      const mean = IMAGENET_MEAN[c];
      for (let pix = 0; pix < plane; pix++) {
        let v = (pixels[(image * plane + pix) * 3 + c] / 255 - mean) * scale[c];
        if (noise.sigma > 0) v += noise.sigma * gaussian(((globalRow * 3 + c) * plane + pix) >>> 0, seedHash);
        out[base + pix] = v;
      }
    }
  }
  return out;
}
