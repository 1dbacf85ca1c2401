// Crop composites assembled on the GPU (crop_composite.wgsl), many at once, either as the model's normalized
// NCHW input (left on the GPU for ort.Tensor.fromGpuBuffer) or as uint8 RGB for figures. crop_cells.ts says
// what a crop is; reference.ts is the CPU twin.
import { normalizationUniforms } from "../normalize/settings.ts";
import { createStorageBuffer, createUniformBuffer, readBuffer } from "../../src/runtime/gpu.ts";
import {
  compileProgram,
  dispatchGrid,
  encodeDispatch,
  packUniforms,
  type UniformLayout,
  uniformLayout,
} from "../_program.ts";
import { COMPOSITE_WORKGROUP } from "./settings.ts";
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

const COMPOSITE_WGSL = new URL("./crop_composite.wgsl", import.meta.url);

export class CropCompositor {
  private constructor(
    private readonly device: GPUDevice,
    private readonly normalizedPipeline: GPUComputePipeline,
    private readonly rgbPipeline: GPUComputePipeline,
    private readonly params: UniformLayout,
  ) {}

  static async create(device: GPUDevice): Promise<CropCompositor> {
    const { normalized, rgb8 } = await compileProgram(device, {
      label: "crop_composite",
      sources: [COMPOSITE_WGSL],
      entryPoints: ["normalized", "rgb8"],
      overrides: { WORKGROUP: COMPOSITE_WORKGROUP },
    });
    return new CropCompositor(device, normalized, rgb8, await uniformLayout(COMPOSITE_WGSL, "Params"));
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
    const params = packUniforms(this.params, {
      count,
      composites: composites.length,
      crops: k,
      size,
      image_size: imageSize,
      ...normalizationUniforms(),
    });
    const uniforms = createUniformBuffer(device, params, "composites.params");
    const enc = device.createCommandEncoder({ label: "composites" });
    const pass = enc.beginComputePass();
    encodeDispatch(
      pass,
      device,
      pipeline,
      { 0: pixels, 1: cellBuffer, 2: uniforms, [outputBinding]: output },
      dispatchGrid(Math.ceil(count / COMPOSITE_WORKGROUP)),
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
