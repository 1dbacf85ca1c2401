// The pixel work of the insert test (the paper's Table 4): the crop box and paste position arguments, cutting
// a crop out of a prepared image, the control patches, and pasting a patch into the model's normalized
// input. The paste happens in normalized space, as the reference does it (it overwrites a slice of the
// normalized tensor): that is what makes its "black" control exactly zero there, i.e. the ImageNet mean colour.
import { normalizeOnCpu } from "../../../../kernels/normalize/mod.ts";
import { BLANK_RGB } from "../../../data/input_spec.ts";
import { seededRandom } from "../../../runtime/random.ts";
import { UsageError } from "../../../cli/cli.ts";

/** A rectangle of a prepared image, in pixels. */
export interface Box {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** What is pasted: the pixels shown in the figures and the values the model sees (3 x height x width). */
export interface Patch {
  height: number;
  width: number;
  /** uint8 RGB, height x width x 3 (HWC). */
  rgb: Uint8Array;
  /** Normalized, CHW. */
  normalized: Float32Array;
}

/** `--control`: what the reference pastes (zero in normalized space), real black, or seeded uniform noise. */
export const CONTROL_KINDS = ["mean", "black", "noise"] as const;
export type ControlKind = typeof CONTROL_KINDS[number];

/** `--crop PATH:top,left,height,width` split into the file and the box (the path may itself hold ':'). */
export function parseCropSpec(spec: string): { path: string; box: Box } {
  const at = spec.lastIndexOf(":");
  const usage = `--crop ${spec}: expected PATH:top,left,height,width (e.g. malamute.jpg:20,135,160,60)`;
  if (at <= 0) throw new UsageError(usage);
  const numbers = spec.slice(at + 1).split(",").map((s) => s.trim());
  if (numbers.length !== 4 || numbers.some((s) => !/^\d+$/.test(s))) throw new UsageError(usage);
  const [top, left, height, width] = numbers.map(Number);
  if (height < 1 || width < 1) {
    throw new UsageError(`--crop ${spec}: height and width must be at least 1, got ${height}x${width}`);
  }
  return { path: spec.slice(0, at), box: { top, left, height, width } };
}

/** The box must lie inside the side x side prepared image the crop is cut from. */
export function checkBoxInside(box: Box, side: number, arg: string): void {
  if (box.top + box.height > side || box.left + box.width > side) {
    throw new UsageError(
      `${arg}: rows ${box.top}..${box.top + box.height - 1}, columns ${box.left}..${
        box.left + box.width - 1
      } are outside the ${side}x${side} prepared image (Resize(${side}) + CenterCrop(${side}))`,
    );
  }
}

/**
 * `--position`: where the crop's top-left corner goes in the receiving image: bottom-right (the reference),
 * top-left, or x,y (column, row). The patch must fit inside the image.
 */
export function placePatch(position: string, height: number, width: number, side: number): Box {
  let top: number, left: number;
  if (position === "bottom-right") [top, left] = [side - height, side - width];
  else if (position === "top-left") [top, left] = [0, 0];
  else {
    const m = /^(\d+),(\d+)$/.exec(position.trim());
    if (!m) {
      throw new UsageError(`--position ${position}: expected bottom-right, top-left or x,y (e.g. 100,40)`);
    }
    [left, top] = [Number(m[1]), Number(m[2])];
  }
  const box = { top, left, height, width };
  if (top < 0 || left < 0) {
    throw new UsageError(`--position ${position}: a ${height}x${width} crop does not fit a ${side} px image`);
  }
  checkBoxInside(box, side, `--position ${position} (a ${height}x${width} crop)`);
  return box;
}

/** The box's pixels of one prepared image (side x side x 3) as a patch. */
export function cutPatch(image: Uint8Array, side: number, box: Box): Patch {
  checkBoxInside(box, side, "cutPatch");
  const rgb = new Uint8Array(box.height * box.width * 3);
  for (let y = 0; y < box.height; y++) {
    const from = ((box.top + y) * side + box.left) * 3;
    rgb.set(image.subarray(from, from + box.width * 3), y * box.width * 3);
  }
  return patchOf(rgb, box.height, box.width);
}

/** A patch from uint8 pixels: the model sees them normalized as every image is. */
export function patchOf(rgb: Uint8Array, height: number, width: number): Patch {
  return { height, width, rgb, normalized: normalizeOnCpu(rgb, 1, height, width) };
}

/** The control patch of a crop's size: see CONTROL_KINDS. `noise` draws each byte from `seed`. */
export function controlPatch(kind: ControlKind, height: number, width: number, seed = 0): Patch {
  const count = height * width * 3;
  switch (kind) {
    case "mean": {
      // Exactly zero for the model (the reference's torch.zeros_like); the figure shows the nearest RGB.
      const rgb = new Uint8Array(count);
      for (let i = 0; i < count; i++) rgb[i] = BLANK_RGB[i % 3];
      return { height, width, rgb, normalized: new Float32Array(count) };
    }
    case "black":
      return patchOf(new Uint8Array(count), height, width);
    case "noise": {
      const next = seededRandom(seed);
      return patchOf(Uint8Array.from({ length: count }, () => Math.floor(next() * 256)), height, width);
    }
  }
}

/** Overwrites `at` of image `image` in a normalized NCHW batch (n x 3 x side x side) with the patch. */
export function pasteNormalized(
  batch: Float32Array,
  image: number,
  side: number,
  patch: Patch,
  at: Box,
): void {
  const plane = side * side;
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < patch.height; y++) {
      const src = (c * patch.height + y) * patch.width;
      const dst = (image * 3 + c) * plane + (at.top + y) * side + at.left;
      batch.set(patch.normalized.subarray(src, src + patch.width), dst);
    }
  }
}

/** The same paste on uint8 HWC pixels of one image (for the figures). */
export function pasteRgb(image: Uint8Array, side: number, patch: Patch, at: Box): Uint8Array {
  const out = image.slice(0, side * side * 3);
  for (let y = 0; y < patch.height; y++) {
    const src = y * patch.width * 3;
    out.set(patch.rgb.subarray(src, src + patch.width * 3), ((at.top + y) * side + at.left) * 3);
  }
  return out;
}
