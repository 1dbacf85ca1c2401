// Crop composites of prototype positions. A position (image, y, x) of the pooled grid is the crop
// [y * size, (y + 1) * size) x [x * size, (x + 1) * size) of the prepared image, size = floor(224 / pooled
// width) (32 px at layer3.5's 7x7, 74 px at layer4.2's 3x3). One class's k crops stacked vertically make a
// composite; many composites are assembled on the GPU at once, either as the model's normalized NCHW input
// (left on the GPU for ort.Tensor.fromGpuBuffer) or as uint8 RGB for figures.
import { IMAGENET_MEAN, IMAGENET_STD, PREPARED_IMAGE_SIZE } from "../../src/data/input_spec.ts";
import { createStorageBuffer, createUniformBuffer, readBuffer } from "../../src/runtime/gpu.ts";
import { seededRandom } from "../../src/runtime/random.ts";
import { dispatchGrid, loadWgsl } from "../_program.ts";

/** One pooled-grid cell of one dataset image. */
export interface CropCell {
  image: number;
  y: number;
  x: number;
}

/**
 * Where the prepared images (uint8, side x side x 3 each, HWC) come from: the whole cache as one array
 * (N x side x side x 3), a loader of one image by dataset index, or a GPU buffer on this device holding the
 * same layout as the array (then cell.image indexes into the buffer).
 */
export type ImageSource = Uint8Array | GPUBuffer | ((image: number) => Uint8Array);

/** Side of one crop: the prepared image split into pooledWidth cells, the remainder dropped. */
export function cropSize(pooledWidth: number, imageSize = PREPARED_IMAGE_SIZE): number {
  if (!Number.isInteger(pooledWidth) || pooledWidth < 1 || pooledWidth > imageSize) {
    throw new Error(`cropSize: pooledWidth must be an integer in 1..${imageSize}, got ${pooledWidth}`);
  }
  return Math.floor(imageSize / pooledWidth);
}

/** GPU tensor handed to the model: float32 NCHW [composites, 3, k * size, size]. The caller owns the buffer. */
export interface CompositeTensor {
  buffer: GPUBuffer;
  dims: [number, number, number, number];
}

/** uint8 RGB composites, [composites, k * size, size, 3] (HWC per composite). */
export interface CompositePixels {
  pixels: Uint8Array;
  dims: [number, number, number, 3];
}

function checkComposites(composites: CropCell[][], pooledWidth: number, what: string): number {
  if (composites.length === 0) throw new Error(`${what}: no composites given`);
  const k = composites[0].length;
  if (k === 0) throw new Error(`${what}: composite 0 has no crops`);
  composites.forEach((cells, i) => {
    if (cells.length !== k) {
      throw new Error(
        `${what}: every composite needs ${k} crops (as composite 0), composite ${i} has ${cells.length}`,
      );
    }
    for (const { image, y, x } of cells) {
      if (!Number.isInteger(image) || image < 0) {
        throw new Error(`${what}: bad image index ${image} in composite ${i}`);
      }
      if (
        !(Number.isInteger(y) && Number.isInteger(x) && y >= 0 && x >= 0 && y < pooledWidth &&
          x < pooledWidth)
      ) {
        throw new Error(
          `${what}: cell (${y}, ${x}) of composite ${i} is outside the ${pooledWidth}x${pooledWidth} grid`,
        );
      }
    }
  });
  return k;
}

function imageBytes(imageSize: number): number {
  return imageSize * imageSize * 3;
}

/** One prepared image from a CPU source, checked. */
function cpuImage(
  images: Uint8Array | ((image: number) => Uint8Array),
  index: number,
  imageSize: number,
): Uint8Array {
  const bytes = imageBytes(imageSize);
  if (typeof images === "function") {
    const img = images(index);
    if (img.length < bytes) {
      throw new Error(`image loader returned ${img.length} bytes for image ${index}, need ${bytes}`);
    }
    return img;
  }
  if ((index + 1) * bytes > images.length) {
    throw new Error(
      `image ${index} is outside the prepared images (${Math.floor(images.length / bytes)} images)`,
    );
  }
  return images.subarray(index * bytes, (index + 1) * bytes);
}

/** Copies crop (cy, cx) of one image into `dst` (RGB, dstWidth pixels wide) at (dstX, dstY). */
function copyCrop(
  src: Uint8Array,
  cy: number,
  cx: number,
  size: number,
  imageSize: number,
  dst: Uint8Array,
  dstWidth: number,
  dstX: number,
  dstY: number,
) {
  for (let row = 0; row < size; row++) {
    const from = ((cy * size + row) * imageSize + cx * size) * 3;
    dst.set(src.subarray(from, from + size * 3), ((dstY + row) * dstWidth + dstX) * 3);
  }
}

/** The CPU twin of the rgb8 kernel: composites as uint8 RGB, crops stacked vertically. */
export function compositeRgbCpu(
  images: Uint8Array | ((image: number) => Uint8Array),
  composites: CropCell[][],
  pooledWidth: number,
  imageSize = PREPARED_IMAGE_SIZE,
): CompositePixels {
  const k = checkComposites(composites, pooledWidth, "compositeRgbCpu");
  const size = cropSize(pooledWidth, imageSize);
  const pixels = new Uint8Array(composites.length * k * size * size * 3);
  composites.forEach((cells, o) => {
    cells.forEach(({ image, y, x }, r) => {
      copyCrop(
        cpuImage(images, image, imageSize),
        y,
        x,
        size,
        imageSize,
        pixels,
        size,
        0,
        o * k * size + r * size,
      );
    });
  });
  return { pixels, dims: [composites.length, k * size, size, 3] };
}

export interface GridOptions {
  imageSize?: number;
  /** Crops per row (default: the longest row); shorter rows leave background. */
  columns?: number;
  /** Pixels between crops. */
  gap?: number;
  /** Gray level of gaps and empty cells. */
  background?: number;
}

/**
 * A figure of crops: row r holds the cells rows[r] left to right (e.g. one row per prototype, its top-8
 * positions). Returns uint8 RGB, height x width x 3.
 */
export function cropGrid(
  images: Uint8Array | ((image: number) => Uint8Array),
  rows: CropCell[][],
  pooledWidth: number,
  opts: GridOptions = {},
): { pixels: Uint8Array; width: number; height: number } {
  const imageSize = opts.imageSize ?? PREPARED_IMAGE_SIZE;
  const size = cropSize(pooledWidth, imageSize);
  const gap = opts.gap ?? 0;
  const columns = opts.columns ?? Math.max(0, ...rows.map((r) => r.length));
  if (rows.length === 0 || columns === 0) throw new Error("cropGrid: no crops given");
  rows.forEach((r, i) => {
    if (r.length > columns) {
      throw new Error(`cropGrid: row ${i} has ${r.length} crops, more than ${columns} columns`);
    }
  });
  checkComposites(rows.flat().map((cell) => [cell]), pooledWidth, "cropGrid");
  const width = columns * size + (columns - 1) * gap;
  const height = rows.length * size + (rows.length - 1) * gap;
  const pixels = new Uint8Array(width * height * 3).fill(opts.background ?? 255);
  rows.forEach((cells, r) => {
    cells.forEach(({ image, y, x }, c) => {
      copyCrop(
        cpuImage(images, image, imageSize),
        y,
        x,
        size,
        imageSize,
        pixels,
        width,
        c * (size + gap),
        r * (size + gap),
      );
    });
  });
  return { pixels, width, height };
}

const PARAMS_BYTES = 64;

export class CropCompositor {
  private constructor(
    private readonly device: GPUDevice,
    private readonly normalizedPipeline: GPUComputePipeline,
    private readonly rgbPipeline: GPUComputePipeline,
  ) {}

  static async create(device: GPUDevice): Promise<CropCompositor> {
    const code = await loadWgsl(new URL("./crop_composite.wgsl", import.meta.url));
    const module = device.createShaderModule({ code, label: "crop_composite" });
    const [normalized, rgb] = await Promise.all(
      ["normalized", "rgb8"].map((entryPoint) =>
        device.createComputePipelineAsync({
          layout: "auto",
          compute: { module, entryPoint },
          label: entryPoint,
        })
      ),
    );
    return new CropCompositor(device, normalized, rgb);
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
    const f = new Float32Array(params);
    for (let c = 0; c < 3; c++) {
      f[8 + c] = IMAGENET_MEAN[c];
      f[12 + c] = 1 / IMAGENET_STD[c];
    }
    const uniforms = createUniformBuffer(device, new Uint8Array(params), "composites.params");
    const bind = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: pixels } },
        { binding: 1, resource: { buffer: cellBuffer } },
        { binding: 2, resource: { buffer: uniforms } },
        { binding: outputBinding, resource: { buffer: output } },
      ],
    });
    const enc = device.createCommandEncoder({ label: "composites" });
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(...dispatchGrid(Math.ceil(count / 256)));
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
