/**
 * The composite family: crops of pooled-grid cells stacked into one image per class (the component test's
 * input), assembled on the GPU by crop_composite.wgsl (the model's normalized input, or uint8 RGB; dispatched
 * by crop_composite.ts) or on the CPU by reference.ts (the twin of the RGB output, and the figures' crop grids).
 *
 * @example Two composites of three crops each at layer3.5's 7 x 7 grid (32-pixel crops)
 * ```ts
 * import { acquireGpu } from "@protoscope/protoscope";
 * import { compositeRgbCpu, CropCompositor } from "@protoscope/protoscope/kernels";
 *
 * const images = new Uint8Array(4 * 224 * 224 * 3); // 4 prepared images, HWC
 * const composites = [0, 1].map((c) => [0, 1, 2].map((r) => ({ image: c + r, y: r, x: 3 })));
 * const gpu = await acquireGpu();
 * const { pixels, dims } = gpu
 *   ? await (await CropCompositor.create(gpu.device)).rgb(images, composites, 7)
 *   : compositeRgbCpu(images, composites, 7); // dims: [2, 96, 32, 3]
 * ```
 *
 * @module
 */
export {
  type CompositePixels,
  type CompositeTensor,
  cropBox,
  type CropCell,
  cropSize,
  type ImageSource,
} from "./crop_cells.ts";
export { CropCompositor } from "./crop_composite.ts";
export { compositeRgbCpu, cropGrid, type GridOptions } from "./reference.ts";
export { COMPOSITE_WORKGROUP } from "./settings.ts";
