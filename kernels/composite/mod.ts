// The composite family: crops of pooled-grid cells stacked into one image per class, assembled on the GPU
// (the model's normalized input, or uint8 RGB) or on the CPU (the twin, and the figures' crop grids).
export {
  type CompositePixels,
  type CompositeTensor,
  type CropCell,
  cropSize,
  type ImageSource,
} from "./crop_cells.ts";
export { benchComposites, CropCompositor } from "./crop_composite.ts";
export { compositeRgbCpu, cropGrid, type GridOptions } from "./crop_composite_cpu.ts";
