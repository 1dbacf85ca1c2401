// Crop composites assembled on the GPU (crop_composite.wgsl), many at once, either as the model's normalized
// NCHW input (left on the GPU for ort.Tensor.fromGpuBuffer) or as uint8 RGB for figures. crop_cells.ts says
// what a crop is; crop_composite_cpu.ts is the CPU twin.
import { writeNormalization } from "../normalize/params.ts";
import { createStorageBuffer, createUniformBuffer, readBuffer } from "../../src/runtime/gpu.ts";
import { compileProgram, dispatchGrid, encodeDispatch, LINEAR_WORKGROUP } from "../_program.ts";
import {
  checkComposites,
  type CompositePixels,
  type CompositeTensor,
  cpuImage,
  type CropCell,
  cropSize,
  imageBytes,
  type ImageSource,
} from "./crop_cells.ts";
import { PREPARED_IMAGE_SIZE } from "../../src/data/input_spec.ts";
import { seededRandom } from "../../src/runtime/random.ts";

const PARAMS_BYTES = 64;

export class CropCompositor {
  private constructor(
    private readonly device: GPUDevice,
    private readonly normalizedPipeline: GPUComputePipeline,
    private readonly rgbPipeline: GPUComputePipeline,
  ) {}

  static async create(device: GPUDevice): Promise<CropCompositor> {
    const { normalized, rgb8 } = await compileProgram(device, {
      label: "crop_composite",
      sources: [new URL("./crop_composite.wgsl", import.meta.url)],
      entryPoints: ["normalized", "rgb8"],
      overrides: { WORKGROUP: LINEAR_WORKGROUP },
    });
    return new CropCompositor(device, normalized, rgb8);
  }

  /**
   * composites[i] holds the k cells of composite i (one class's prototypes), top to bottom. Returns the
   * ImageNet-normalized float32 NCHW tensor [composites, 3, k * size, size] on the GPU; nothing is awaited.
   */
  normalized(
    images: ImageSource,
    composites: CropCell[][],
    pooledWidth: number,
    imageSize = PREPARED_IMAGE_SIZE,
  ): CompositeTensor {
    const k = checkComposites(composites, pooledWidth, "CropCompositor.normalized");
    const size = cropSize(pooledWidth, imageSize);
    const count = composites.length * 3 * k * size * size;
    const output = this.outputBuffer(count * 4, "CropCompositor.normalized", "composites.normalized");
    this.run(this.normalizedPipeline, 3, output, images, composites, k, size, imageSize, count);
    return { buffer: output, dims: [composites.length, 3, k * size, size] };
  }

  /** The same composites as uint8 RGB on the CPU (one readback), e.g. for JPEG figures. */
  async rgb(
    images: ImageSource,
    composites: CropCell[][],
    pooledWidth: number,
    imageSize = PREPARED_IMAGE_SIZE,
  ): Promise<CompositePixels> {
    const k = checkComposites(composites, pooledWidth, "CropCompositor.rgb");
    const size = cropSize(pooledWidth, imageSize);
    const bytes = composites.length * k * size * size * 3;
    const words = Math.ceil(bytes / 4);
    const output = this.outputBuffer(words * 4, "CropCompositor.rgb", "composites.rgb");
    try {
      this.run(this.rgbPipeline, 4, output, images, composites, k, size, imageSize, words);
      const pixels = new Uint8Array(await readBuffer(this.device, output, bytes));
      return { pixels, dims: [composites.length, k * size, size, 3] };
    } finally {
      output.destroy();
    }
  }

  private outputBuffer(bytes: number, what: string, label: string): GPUBuffer {
    if (bytes > this.device.limits.maxStorageBufferBindingSize) {
      throw new Error(
        `${what}: ${bytes} bytes of output exceed this device's binding limit ` +
          `(${this.device.limits.maxStorageBufferBindingSize}); pass fewer composites per call`,
      );
    }
    return createStorageBuffer(this.device, bytes, 0, label);
  }

  private run(
    pipeline: GPUComputePipeline,
    outputBinding: number,
    output: GPUBuffer,
    images: ImageSource,
    composites: CropCell[][],
    k: number,
    size: number,
    imageSize: number,
    count: number,
  ) {
    const device = this.device;
    const { pixels, slotOf, owned } = this.imagesOnGpu(images, composites, imageSize);
    const cells = new Uint32Array(composites.length * k * 3);
    composites.flat().forEach(({ image, y, x }, i) => cells.set([slotOf(image), y, x], i * 3));
    const cellBuffer = createStorageBuffer(device, cells, 0, "composites.cells");
    const params = new ArrayBuffer(PARAMS_BYTES);
    new Uint32Array(params, 0, 5).set([count, composites.length, k, size, imageSize]);
    writeNormalization(new Float32Array(params));
    const uniforms = createUniformBuffer(device, new Uint8Array(params), "composites.params");
    const enc = device.createCommandEncoder({ label: "composites" });
    const pass = enc.beginComputePass();
    encodeDispatch(
      pass,
      device,
      pipeline,
      { 0: pixels, 1: cellBuffer, 2: uniforms, [outputBinding]: output },
      dispatchGrid(Math.ceil(count / LINEAR_WORKGROUP)),
    );
    pass.end();
    device.queue.submit([enc.finish()]);
    // Destruction waits for the submitted work that uses them.
    if (owned) pixels.destroy();
    cellBuffer.destroy();
    uniforms.destroy();
  }

  /** The images the composites need, on the GPU: uploads only those (compacted) unless already there. */
  private imagesOnGpu(
    images: ImageSource,
    composites: CropCell[][],
    imageSize: number,
  ): { pixels: GPUBuffer; slotOf: (image: number) => number; owned: boolean } {
    const bytes = imageBytes(imageSize);
    const needed = [...new Set(composites.flat().map((c) => c.image))].sort((a, b) => a - b);
    if (typeof images !== "function" && !(images instanceof Uint8Array)) {
      const last = needed[needed.length - 1];
      if ((last + 1) * bytes > images.size) {
        throw new Error(
          `CropCompositor: image ${last} is outside the GPU image buffer (${images.size} bytes)`,
        );
      }
      return { pixels: images, slotOf: (image) => image, owned: false };
    }
    const staging = new Uint8Array(Math.ceil(needed.length * bytes / 4) * 4);
    needed.forEach((image, slot) =>
      staging.set(cpuImage(images, image, imageSize).subarray(0, bytes), slot * bytes)
    );
    const slots = new Map(needed.map((image, slot) => [image, slot]));
    const pixels = createStorageBuffer(this.device, staging, 0, "composites.images");
    return { pixels, slotOf: (image) => slots.get(image)!, owned: true };
  }
}

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
    { length: imageCount * imageBytes(PREPARED_IMAGE_SIZE) },
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
