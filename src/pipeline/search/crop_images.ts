// The prepared images that crops are cut from, loaded once after the search has chosen them.
import type { Dataset } from "../../data/dataset.ts";
import type { CropCell } from "../../../kernels/composite/mod.ts";
import { BLANK_RGB } from "../../data/input_spec.ts";

/** A loader of prepared images by dataset index, for CropCompositor / compositeRgbCpu / cropGrid. */
export type ImageLookup = (image: number) => Uint8Array;

/**
 * Reads the prepared images of `indices` once (in parallel through the dataset's workers). Index
 * `dataset.size` (BLANK_IMAGE) is a blank image for missing crops.
 */
export async function loadImages(dataset: Dataset, indices: Iterable<number>): Promise<ImageLookup> {
  const side = dataset.settings.crop;
  const bytes = side * side * 3;
  const wanted = [...new Set(indices)].filter((i) => i !== dataset.size).sort((a, b) => a - b);
  const images = new Map<number, Uint8Array>();
  for (let at = 0; at < wanted.length; at += 64) {
    const chunk = wanted.slice(at, at + 64);
    const reads = await Promise.all(chunk.map((i) => dataset.readBatch(i, 1)));
    reads.forEach((r, j) => {
      if (!r.ok[0]) {
        throw new Error(`${dataset.entries[chunk[j]].path}: unreadable now (${r.failures[0]?.reason})`);
      }
      images.set(chunk[j], r.images.subarray(0, bytes));
    });
  }
  const blank = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) blank[i] = BLANK_RGB[i % 3];
  return (image: number) => {
    if (image === dataset.size) return blank;
    const img = images.get(image);
    if (!img) throw new Error(`loadImages: image ${image} was not loaded`);
    return img;
  };
}

/** Blank-crop cell (a prepared image of the ImageNet mean colour, see loadImages). */
export function blankCell(dataset: Dataset): CropCell {
  return { image: dataset.size, y: 0, x: 0 };
}
