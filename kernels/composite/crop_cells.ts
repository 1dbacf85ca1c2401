// Crop cells shared by the GPU compositor and its CPU twin. A position (image, y, x) of the pooled grid is
// the crop [y * size, (y + 1) * size) x [x * size, (x + 1) * size) of the prepared image, size =
// floor(224 / pooled width) (32 px at layer3.5's 7x7, 74 px at layer4.2's 3x3); one class's k crops stacked
// vertically make a composite. A crop may span several cells (`span` x `span`, odd, centred on the cell: a
// transformer token's receptive box, `--crop-patches`); cropBox says where it lies.
import { PREPARED_IMAGE_SIZE } from "../../src/data/input_spec.ts";

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

/**
 * The box of the `span` x `span` cells centred on `cell` (span odd, 1 = the cell itself): its top-left pixel
 * and side. Near the border it is moved inside the grid, whole, as a cell crop always is: a box keeps its side
 * (so crops stack and tile alike), never takes pixels past the last whole cell (the remainder a CNN's cells
 * drop) and is never padded. Cell-aligned, so on a transformer it holds whole patches.
 */
export function cropBox(
  cell: { y: number; x: number },
  pooledWidth: number,
  span = 1,
  imageSize = PREPARED_IMAGE_SIZE,
): { top: number; left: number; side: number } {
  checkSpan(span, pooledWidth, "cropBox");
  const size = cropSize(pooledWidth, imageSize);
  const reach = (span - 1) / 2;
  const place = (c: number) => Math.min(Math.max(c - reach, 0), pooledWidth - span) * size;
  return { top: place(cell.y), left: place(cell.x), side: span * size };
}

/** Fails naming `what` unless span is an odd integer in 1..pooledWidth. */
export function checkSpan(span: number, pooledWidth: number, what: string): void {
  if (!Number.isInteger(span) || span < 1 || span % 2 === 0 || span > pooledWidth) {
    throw new Error(`${what}: span must be an odd integer in 1..${pooledWidth} (the grid), got ${span}`);
  }
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

export function checkComposites(composites: CropCell[][], pooledWidth: number, what: string): number {
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

export function imageBytes(imageSize: number): number {
  return imageSize * imageSize * 3;
}

/** One prepared image from a CPU source, checked. */
export function cpuImage(
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
