// The CPU side of crop composites: the twin of crop_composite.wgsl's rgb8 output, and the crop grids of
// the figures (rows of crops with gaps), both copying whole crop rows out of the prepared images.
import { checkComposites, type CompositePixels, cpuImage, type CropCell, cropSize } from "./crop_cells.ts";
import { PREPARED_IMAGE_SIZE } from "../../src/data/input_spec.ts";

/** A copy target: RGB `pixels` `width` wide, crops of side `size` taken from the prepared `images`. */
interface CropCanvas {
  pixels: Uint8Array;
  width: number;
  size: number;
  images: Uint8Array | ((image: number) => Uint8Array);
  imageSize: number;
}

/** Copies the crop of `cell` into the canvas with its top-left corner at (dstX, dstY). */
function pasteCrop(canvas: CropCanvas, { image, y, x }: CropCell, dstX: number, dstY: number): void {
  const { pixels, width, size, imageSize } = canvas;
  const src = cpuImage(canvas.images, image, imageSize);
  for (let row = 0; row < size; row++) {
    const from = ((y * size + row) * imageSize + x * size) * 3;
    pixels.set(src.subarray(from, from + size * 3), ((dstY + row) * width + dstX) * 3);
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
  const canvas = { pixels, width: size, size, images, imageSize };
  composites.forEach((cells, o) =>
    cells.forEach((cell, r) => pasteCrop(canvas, cell, 0, (o * k + r) * size))
  );
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
  const canvas = { pixels, width, size, images, imageSize };
  rows.forEach((cells, r) =>
    cells.forEach((cell, c) => pasteCrop(canvas, cell, c * (size + gap), r * (size + gap)))
  );
  return { pixels, width, height };
}
