// torchvision's `Resize(size)` + `CenterCrop(crop)` on a PIL RGB image, reproduced bit for bit.
//
// Resize on a PIL image is Pillow's antialiased bilinear resampling: a triangle filter whose support grows
// with the downscale factor, weights normalised per output pixel then quantised to 22-bit fixed point, a
// horizontal pass whose 8-bit rounded/clipped result feeds a vertical pass, and a pass skipped when its
// dimension does not change. Every output pixel of a pass depends only on its own coefficient row, so we
// compute only the columns and rows that survive the centre crop: the kept pixels are identical to
// resizing the whole image and cropping afterwards, for a fraction of the work.

import { PREPARED_IMAGE_SIZE } from "./input_spec.ts";

/** Fixed-point precision of Pillow's 8-bit resampling (32 bits minus 8 for the value, 2 for overflow). */
const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);

/** Per output pixel: first input index, number of taps, and `ksize` fixed-point weights. */
export interface ResampleCoefficients {
  inSize: number;
  outSize: number;
  /** Taps per output pixel (stride of `weights`). */
  ksize: number;
  /** `[first, count]` for each output pixel. */
  bounds: Int32Array;
  /** Weights scaled by 2^22 and rounded half away from zero, `outSize * ksize` (unused taps are 0). */
  weights: Int32Array;
}

const triangle = (x: number): number => {
  const a = x < 0 ? -x : x;
  return a < 1 ? 1 - a : 0;
};

const coefficientCache = new Map<string, ResampleCoefficients>();

/** Pillow's bilinear (triangle) coefficients for resampling `inSize` samples to `outSize`; cached. */
export function bilinearCoefficients(inSize: number, outSize: number): ResampleCoefficients {
  if (!(Number.isInteger(inSize) && inSize > 0 && Number.isInteger(outSize) && outSize > 0)) {
    throw new Error(`bilinearCoefficients: sizes must be positive integers, got ${inSize} -> ${outSize}`);
  }
  const key = `${inSize}:${outSize}`;
  const cached = coefficientCache.get(key);
  if (cached) return cached;

  const scale = inSize / outSize;
  // Upscaling keeps the unit-width triangle; downscaling widens it so every input pixel contributes.
  const filterScale = scale < 1 ? 1 : scale;
  const support = filterScale; // triangle support (1) times the filter scale
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const raw = new Float64Array(ksize);
  const invScale = 1 / filterScale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // C's (int) cast truncates toward zero; the clamp makes the negative case moot.
    const first = Math.max(0, Math.trunc(center - support + 0.5));
    const last = Math.min(inSize, Math.trunc(center + support + 0.5));
    const count = last - first;
    let total = 0;
    for (let x = 0; x < count; x++) {
      const w = triangle((x + first - center + 0.5) * invScale);
      raw[x] = w;
      total += w;
    }
    for (let x = 0; x < count; x++) {
      const w = total !== 0 ? raw[x] / total : raw[x];
      // Pillow rounds half away from zero via a truncating cast; triangle weights are never negative.
      weights[xx * ksize + x] = Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = first;
    bounds[xx * 2 + 1] = count;
  }
  const result = { inSize, outSize, ksize, bounds, weights };
  coefficientCache.set(key, result);
  return result;
}

/** torchvision's output size for `Resize(size)` (int): shorter side -> size, longer side truncated. */
export function resizedSize(width: number, height: number, size: number): { width: number; height: number } {
  if (width <= height) return { width: size, height: Math.trunc((size * height) / width) };
  return { width: Math.trunc((size * width) / height), height: size };
}

/** Python's round() on a multiple of 0.5: halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff < 0.5) return floor;
  if (diff > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * Where torchvision's `CenterCrop(crop)` takes its window along one axis of length `size`: the first kept
 * source index (negative when zero padding precedes the image, which torchvision puts on the
 * left/top as floor((crop - size) / 2)).
 */
export function centerCropStart(size: number, crop: number): number {
  if (size >= crop) return roundHalfEven((size - crop) / 2);
  return -Math.floor((crop - size) / 2);
}

/** Preprocessing geometry: `Resize(resize)` then `CenterCrop(crop)`. */
export interface PreprocessSettings {
  resize: number;
  crop: number;
}

/** Resize(224) + CenterCrop(224): the shorter side resized straight to the model input, then the centre crop. */
export const DEFAULT_PREPROCESS: PreprocessSettings = {
  resize: PREPARED_IMAGE_SIZE,
  crop: PREPARED_IMAGE_SIZE,
};

const clip8 = (acc: number): number => {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
};

/**
 * Resize + centre crop of an interleaved 8-bit image with `channels` (3, or 4 whose 4th is ignored) to an
 * RGB `crop x crop x 3` HWC array. `out` may be given to avoid an allocation; it is fully overwritten.
 */
export function resizeCenterCrop(
  pixels: Uint8Array | Uint8ClampedArray,
  width: number,
  height: number,
  channels: 3 | 4,
  settings: PreprocessSettings = DEFAULT_PREPROCESS,
  out?: Uint8Array,
): Uint8Array {
  if (pixels.length < width * height * channels) {
    throw new Error(`resizeCenterCrop: ${pixels.length} bytes cannot hold ${width}x${height}x${channels}`);
  }
  const crop = settings.crop;
  const target = resizedSize(width, height, settings.resize);
  const outW = target.width, outH = target.height;
  const result = out ?? new Uint8Array(crop * crop * 3);
  if (result.length !== crop * crop * 3) {
    throw new Error(`resizeCenterCrop: out must hold ${crop * crop * 3} bytes`);
  }

  const left = centerCropStart(outW, crop), top = centerCropStart(outH, crop);
  // Output columns/rows of the resized image that land inside the crop window.
  const x0 = Math.max(0, left), x1 = Math.min(outW, left + crop);
  const y0 = Math.max(0, top), y1 = Math.min(outH, top + crop);
  const keptW = x1 - x0, keptH = y1 - y0;
  if (keptW < crop || keptH < crop) result.fill(0);
  const dstX = x0 - left, dstY = y0 - top;

  const needH = outW !== width, needV = outH !== height;
  const vert = needV ? bilinearCoefficients(height, outH) : undefined;
  // Source rows the vertical pass reads (all kept rows when it is skipped).
  let rowFirst = y0, rowEnd = y1;
  if (vert) {
    rowFirst = vert.bounds[y0 * 2];
    rowEnd = vert.bounds[(y1 - 1) * 2] + vert.bounds[(y1 - 1) * 2 + 1];
  }

  // Horizontal pass into an RGB buffer of keptW columns for rows [rowFirst, rowEnd).
  let mid: Uint8Array | Uint8ClampedArray;
  let midStride: number, midChannels: number, midColumn0: number;
  if (needH) {
    const horiz = bilinearCoefficients(width, outW);
    const rows = rowEnd - rowFirst;
    const buf = new Uint8Array(rows * keptW * 3);
    const { bounds, weights, ksize } = horiz;
    const srcStride = width * channels;
    for (let r = 0; r < rows; r++) {
      const srcRow = (rowFirst + r) * srcStride;
      let o = r * keptW * 3;
      for (let xx = x0; xx < x1; xx++) {
        const first = bounds[xx * 2], count = bounds[xx * 2 + 1];
        const kOff = xx * ksize;
        let s0 = HALF, s1 = HALF, s2 = HALF;
        let p = srcRow + first * channels;
        for (let k = 0; k < count; k++, p += channels) {
          const w = weights[kOff + k];
          s0 = (s0 + Math.imul(pixels[p], w)) | 0;
          s1 = (s1 + Math.imul(pixels[p + 1], w)) | 0;
          s2 = (s2 + Math.imul(pixels[p + 2], w)) | 0;
        }
        buf[o++] = clip8(s0);
        buf[o++] = clip8(s1);
        buf[o++] = clip8(s2);
      }
    }
    mid = buf;
    midStride = keptW * 3;
    midChannels = 3;
    midColumn0 = 0;
  } else {
    mid = pixels;
    midStride = width * channels;
    midChannels = channels;
    midColumn0 = x0;
    rowFirst = 0; // rows index the source directly
  }

  const outStride = crop * 3;
  if (vert) {
    const { bounds, weights, ksize } = vert;
    const acc = new Int32Array(keptW * 3);
    for (let yy = y0; yy < y1; yy++) {
      const first = bounds[yy * 2] - rowFirst, count = bounds[yy * 2 + 1];
      const kOff = yy * ksize;
      acc.fill(HALF);
      // Row-wise accumulation keeps memory access sequential.
      const n = acc.length;
      for (let k = 0; k < count; k++) {
        const w = weights[kOff + k];
        const base = (first + k) * midStride + midColumn0 * midChannels;
        if (midChannels === 3) {
          for (let i = 0; i < n; i++) acc[i] = (acc[i] + Math.imul(mid[base + i], w)) | 0;
        } else {
          for (let i = 0, p = base; i < n; i += 3, p += midChannels) {
            acc[i] += mid[p] * w;
            acc[i + 1] += mid[p + 1] * w;
            acc[i + 2] += mid[p + 2] * w;
          }
        }
      }
      let o = (dstY + yy - y0) * outStride + dstX * 3;
      for (let i = 0; i < acc.length; i++) result[o++] = clip8(acc[i]);
    }
  } else {
    for (let yy = y0; yy < y1; yy++) {
      let p = (yy - rowFirst) * midStride + midColumn0 * midChannels;
      let o = (dstY + yy - y0) * outStride + dstX * 3;
      for (let x = 0; x < keptW; x++, p += midChannels) {
        result[o++] = mid[p];
        result[o++] = mid[p + 1];
        result[o++] = mid[p + 2];
      }
    }
  }
  return result;
}
