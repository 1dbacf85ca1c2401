// The CPU side of crop composites: the twin of crop_composite.wgsl's rgb8 output, and the crop grids of
// the figures (rows of crops with gaps), both copying whole crop rows out of the prepared images. Both take a
// `span` (crop_cells.ts cropBox: span x span cells around the cell, a token's larger box); the GPU kernel
// crops single cells only (a CNN's composites, where a larger box is refused).
import { checkComposites, type CompositePixels, cpuImage, cropBox, type CropCell } from "./crop_cells.ts";
import { PREPARED_IMAGE_SIZE } from "../../src/data/input_spec.ts";

/** A copy target: RGB `pixels` `width` wide, crops (cropBox of span x span cells) of the prepared `images`. */
interface CropCanvas {
  pixels: Uint8Array;
  width: number;
  pooledWidth: number;
  span: number;
  images: Uint8Array | ((image: number) => Uint8Array);
  imageSize: number;
}

/** Copies the crop of `cell` into the canvas with its top-left corner at (dstX, dstY). */
function pasteCrop(canvas: CropCanvas, cell: CropCell, dstX: number, dstY: number): void {
  const { pixels, width, imageSize } = canvas;
  const src = cpuImage(canvas.images, cell.image, imageSize);
  const { top, left, side } = cropBox(cell, canvas.pooledWidth, canvas.span, imageSize);
  for (let row = 0; row < side; row++) {
    const from = ((top + row) * imageSize + left) * 3;
    pixels.set(src.subarray(from, from + side * 3), ((dstY + row) * width + dstX) * 3);
  }
}

/**
 * The CPU twin of the rgb8 kernel: composites as uint8 RGB, crops stacked vertically; with `span` > 1 each crop
 * is the span x span cells around its cell (cropBox).
 */
export function compositeRgbCpu(
  images: Uint8Array | ((image: number) => Uint8Array),
  composites: CropCell[][],
  pooledWidth: number,
  imageSize = PREPARED_IMAGE_SIZE,
  span = 1,
): CompositePixels {
  const k = checkComposites(composites, pooledWidth, "compositeRgbCpu");
  const size = cropBox({ y: 0, x: 0 }, pooledWidth, span, imageSize).side;
  const pixels = new Uint8Array(composites.length * k * size * size * 3);
  const canvas = { pixels, width: size, pooledWidth, span, images, imageSize };
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
  /** Cells per crop side (odd; crop_cells.ts cropBox), 1 = the cell. */
  span?: number;
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
  const span = opts.span ?? 1;
  const size = cropBox({ y: 0, x: 0 }, pooledWidth, span, imageSize).side;
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
  const canvas = { pixels, width, pooledWidth, span, images, imageSize };
  rows.forEach((cells, r) =>
    cells.forEach((cell, c) => pasteCrop(canvas, cell, c * (size + gap), r * (size + gap)))
  );
  return { pixels, width, height };
}
