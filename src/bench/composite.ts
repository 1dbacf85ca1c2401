// Bench hook for `deno task bench`: how many crop composites per second the GPU compositor assembles, with the
// prepared images already on the GPU and with them gathered from a CPU cache and uploaded on every call.
import { createStorageBuffer } from "../runtime/gpu.ts";
import { seededRandom } from "../runtime/random.ts";
import { PREPARED_IMAGE_SIZE } from "../data/input_spec.ts";
import { CropCompositor, cropSize, type ImageSource } from "../../kernels/composite/mod.ts";

export interface CompositeBenchOptions {
  classes: number;
  k: number;
  /** Crop side: 32 (layer3.5) or 74 (layer4.2). */
  size: number;
  repeats?: number;
}

export interface CompositeBenchResult {
  /** Normalized composites per second, images already on the GPU. */
  compositesPerSecond: number;
  /** The same with the needed images gathered from a CPU cache and uploaded on every call. */
  compositesPerSecondWithUpload: number;
  seconds: number;
}

/** Assembles `classes` random composites of k crops, `repeats` times, from 64 random prepared images. */
export async function benchComposites(
  device: GPUDevice,
  opts: CompositeBenchOptions,
): Promise<CompositeBenchResult> {
  const pooledWidth = Math.floor(PREPARED_IMAGE_SIZE / opts.size);
  if (cropSize(pooledWidth) !== opts.size) {
    throw new Error(`benchComposites: size ${opts.size} is not floor(224 / n) for any pooled width n`);
  }
  const repeats = opts.repeats ?? 5;
  const imageCount = 64;
  const random = seededRandom(99);
  const cache = Uint8Array.from(
    { length: imageCount * PREPARED_IMAGE_SIZE * PREPARED_IMAGE_SIZE * 3 },
    () => random() * 256,
  );
  const composites = Array.from(
    { length: opts.classes },
    () =>
      Array.from({ length: opts.k }, () => ({
        image: Math.floor(random() * imageCount),
        y: Math.floor(random() * pooledWidth),
        x: Math.floor(random() * pooledWidth),
      })),
  );
  const compositor = await CropCompositor.create(device);
  const onGpu = createStorageBuffer(device, cache, 0, "bench.images");
  const time = async (source: ImageSource) => {
    compositor.normalized(source, composites, pooledWidth).buffer.destroy(); // warm-up
    await device.queue.onSubmittedWorkDone();
    const t0 = performance.now();
    for (let i = 0; i < repeats; i++) compositor.normalized(source, composites, pooledWidth).buffer.destroy();
    await device.queue.onSubmittedWorkDone();
    return (performance.now() - t0) / 1000;
  };
  try {
    const seconds = await time(onGpu);
    const withUpload = await time(cache);
    const made = opts.classes * repeats;
    return { compositesPerSecond: made / seconds, compositesPerSecondWithUpload: made / withUpload, seconds };
  } finally {
    onGpu.destroy();
  }
}
