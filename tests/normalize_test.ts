import assert from "node:assert/strict";
import { normalizeOnCpu, normalizeOnGpu } from "../kernels/normalize/mod.ts";
import { IMAGENET_MEAN, IMAGENET_STD } from "../src/data/input_spec.ts";
import { readBuffer } from "../src/runtime/gpu.ts";
import { gpu, noGpu } from "./_helpers/gpu.ts";

function pixels(n: number, h: number, w: number): Uint8Array {
  return Uint8Array.from({ length: n * h * w * 3 }, (_, i) => (i * 37 + 11) % 256);
}

Deno.test("CPU normalization follows torchvision's ToTensor + Normalize, NCHW", () => {
  const px = pixels(2, 3, 5);
  const out = normalizeOnCpu(px, 2, 3, 5);
  assert.deepEqual(out.length, 2 * 3 * 3 * 5);
  // image 1, channel 2, y 1, x 4
  const byte = px[((1 * 3 + 1) * 5 + 4) * 3 + 2];
  const expected = (byte / 255 - IMAGENET_MEAN[2]) / IMAGENET_STD[2];
  assert(Math.abs(out[((1 * 3 + 2) * 3 + 1) * 5 + 4] - expected) < 1e-6);
});

Deno.test("noise tunnel rows: image-major copies with seeded noise of the requested sigma", () => {
  const n = 3, h = 16, w = 16, samples = 4, sigma = 0.25;
  const px = pixels(n, h, w);
  const plain = normalizeOnCpu(px, n, h, w);
  const noisy = normalizeOnCpu(px, n, h, w, { samples, sigma, seed: 7 });
  assert.deepEqual(noisy.length, plain.length * samples);
  const plane = 3 * h * w;
  let sum = 0, sq = 0;
  for (let row = 0; row < n * samples; row++) {
    const image = Math.floor(row / samples);
    for (let j = 0; j < plane; j++) {
      const d = noisy[row * plane + j] - plain[image * plane + j];
      sum += d;
      sq += d * d;
    }
  }
  const count = n * samples * plane;
  const mean = sum / count, std = Math.sqrt(sq / count - mean * mean);
  assert(Math.abs(mean) < 0.01, `noise mean ${mean}`);
  assert(Math.abs(std - sigma) < 0.01, `noise std ${std}`);
  const again = normalizeOnCpu(px, n, h, w, { samples, sigma, seed: 7 });
  assert.deepEqual(again, noisy);
  const other = normalizeOnCpu(px, n, h, w, { samples, sigma, seed: 8 });
  assert(other.some((v, i) => v !== noisy[i]));
  // Batching must not change the noise: the second image alone, with its row offset, gets the same rows.
  const second = normalizeOnCpu(px.subarray(h * w * 3), 1, h, w, {
    samples,
    sigma,
    seed: 7,
    rowOffset: samples,
  });
  assert.deepEqual(second, noisy.subarray(samples * plane, 2 * samples * plane));
});

Deno.test({
  name: "GPU normalization (normalize.wgsl) equals the CPU twin, with and without noise",
  ignore: noGpu,
  fn: async () => {
    const n = 2, h = 24, w = 20;
    const px = pixels(n, h, w);
    for (const noise of [undefined, { samples: 3, sigma: 0.25, seed: 3, rowOffset: 5 }]) {
      const cpu = normalizeOnCpu(px, n, h, w, noise);
      const buf = await normalizeOnGpu(gpu!.device, px, n, h, w, noise);
      const out = new Float32Array(await readBuffer(gpu!.device, buf, cpu.byteLength));
      buf.destroy();
      let worst = 0;
      for (let i = 0; i < cpu.length; i++) worst = Math.max(worst, Math.abs(cpu[i] - out[i]));
      assert(worst < 2e-4, `max difference ${worst}`);
    }
  },
});
