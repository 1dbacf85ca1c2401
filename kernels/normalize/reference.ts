// The CPU twin of normalize.wgsl, for the wasm EP and as the tests' reference: the same formula and the same
// counter-based noise generator, so both paths give the same input to float32 rounding.
import { NO_NOISE, type NoiseOptions } from "./settings.ts";
import { IMAGENET_MEAN, IMAGENET_STD } from "../../src/data/input_spec.ts";
import { pcg } from "../_hash.ts";

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
