// The masking test (the reference's create_masks / pred_for_masked_input): per position of class i's images,
// the signed distance a . n + b to the (i, j) hyperplane; 10 thresholds at global quantiles of all the
// pair's positions; mask level k keeps the positions at or above threshold k (level 0 keeps everything), so
// each level shows the model less of the image except its most j-like parts. Masks are upsampled (nearest)
// to the input and the pixels outside take a fixed value in normalized space.
import type { ContrastTest } from "./contrast_test_run.ts";
import { normalizeOnCpu } from "../../../../kernels/normalize/mod.ts";
import { IMAGE_SIZE } from "../../../data/input_spec.ts";

/** Mask levels after the all-ones level 0 (the reference's N). */
export const MASK_STEPS = 10;

/** a . n + b at every position: acts n x C x hw (NCHW), returns n x hw. */
export function hyperplaneDistances(
  acts: Float32Array,
  images: number,
  hw: number,
  normal: Float32Array,
  bias: number,
): Float32Array {
  const c = normal.length;
  const out = new Float32Array(images * hw);
  for (let i = 0; i < images; i++) {
    const o = out.subarray(i * hw, (i + 1) * hw);
    o.fill(bias);
    for (let ch = 0; ch < c; ch++) {
      const w = normal[ch], base = (i * c + ch) * hw;
      for (let p = 0; p < hw; p++) o[p] += acts[base + p] * w;
    }
  }
  return out;
}

/**
 * The reference's global thresholds over L = every position of every image of the pair: the sorted distances
 * at index (k * (L / N)).long() - 1, k = 1..N (the last is the maximum). torch computes k * (L / N) in
 * float32 and a negative index (L < N) counts from the end; both are reproduced.
 */
export function quantileThresholds(distances: Float32Array, steps = MASK_STEPS): number[] {
  const sorted = Float32Array.from(distances).sort();
  const L = sorted.length;
  const stride = Math.fround(L / steps);
  return Array.from({ length: steps }, (_, k) => {
    let idx = Math.min(Math.floor(Math.fround((k + 1) * stride)) - 1, L - 1);
    if (idx < 0) idx += L;
    return sorted[idx];
  });
}

/** Level k's mask (n x hw, 1 = keep): level 0 keeps every position, level k >= 1 those >= thresholds[k-1]. */
export function maskLevel(distances: Float32Array, thresholds: number[], level: number): Uint8Array {
  const out = new Uint8Array(distances.length);
  if (level === 0) return out.fill(1);
  const t = thresholds[level - 1];
  for (let p = 0; p < distances.length; p++) out[p] = distances[p] >= t ? 1 : 0;
  return out;
}

/**
 * One masked input image: `image` is 3 x H x W normalized, `mask` this image's h x w mask, upsampled by
 * nearest neighbour as torch's F.interpolate does (source index floor(dst * in / out)).
 */
export function maskImage(
  image: Float32Array,
  mask: Uint8Array,
  h: number,
  w: number,
  height: number,
  width: number,
  replacement: number,
  out: Float32Array,
): void {
  const plane = height * width;
  for (let y = 0; y < height; y++) {
    const my = Math.floor((y * h) / height);
    for (let x = 0; x < width; x++) {
      const keep = mask[my * w + Math.floor((x * w) / width)];
      const p = y * width + x;
      for (let ch = 0; ch < 3; ch++) out[ch * plane + p] = keep ? image[ch * plane + p] : replacement;
    }
  }
}

/** Share of positions each level keeps (for the report: how much of the image the model still sees). */
export function keptShare(distances: Float32Array, thresholds: number[]): number[] {
  return Array.from({ length: thresholds.length + 1 }, (_, level) => {
    const m = maskLevel(distances, thresholds, level);
    return m.reduce((a, b) => a + b, 0) / m.length;
  });
}

/** The n x hw distances of positions prefix .. prefix + hw - 1 of each image's `per` positions. */
function onGrid(all: Float32Array, n: number, per: number, prefix: number, hw: number): Float32Array {
  if (prefix === 0 && per === hw) return all;
  const out = new Float32Array(n * hw);
  for (let i = 0; i < n; i++) out.set(all.subarray(i * per + prefix, i * per + prefix + hw), i * hw);
  return out;
}

/**
 * The masking test for the shared driver: per pair, 11 mask levels of every image of class i, through the
 * whole model. `replacement` is the value of masked pixels in normalized space (the reference's driver
 * passes 0.0; its function's own default is 1.0).
 */
export function maskingTest(replacement = 0): ContrastTest {
  const levels = Array.from({ length: MASK_STEPS + 1 }, (_, k) => k);
  return {
    name: "masking",
    stepKey: "levels",
    steps: levels,
    stepLabel: "mask level (0 = whole image)",
    settings: { replacement, maskSteps: MASK_STEPS, upsampling: "nearest" },
    drawsOnImage: true,
    job(model, from, tos, { acts, pixels, n }, planes, batchRows) {
      const [, th, tw] = model.tapShape;
      // drawsOnImage: the driver has checked that the positions lie on the image's grid.
      const grid = model.positionGrid!;
      const { h, w } = grid;
      const hw = h * w, size = IMAGE_SIZE, plane = 3 * size * size;
      const normalized = normalizeOnCpu(pixels, n, size, size);
      const perPair = tos.map((to) => {
        const all = hyperplaneDistances(acts, n, th * tw, planes.normal(from, to), planes.bias(from, to));
        // Only positions on the image are masked and ranked (a class token is none).
        const distances = onGrid(all, n, th * tw, grid.prefix, hw);
        const thresholds = quantileThresholds(distances);
        return { distances, thresholds };
      });
      const mask = new Uint8Array(hw);
      return {
        from,
        tos,
        steps: levels.length,
        images: n,
        rowSize: plane,
        numClasses: model.numClasses,
        batchRows,
        fill(pair, level, image, out) {
          const { distances, thresholds } = perPair[pair];
          const d = distances.subarray(image * hw, (image + 1) * hw);
          for (let p = 0; p < hw; p++) mask[p] = level === 0 || d[p] >= thresholds[level - 1] ? 1 : 0;
          const img = normalized.subarray(image * plane, (image + 1) * plane);
          maskImage(img, mask, h, w, size, size, replacement, out);
        },
        run: (input, rows) => model.imageProbabilities(input, rows),
        extra: (pair) => ({
          thresholds: perPair[pair].thresholds,
          keptShare: keptShare(perPair[pair].distances, perPair[pair].thresholds),
        }),
      };
    },
  };
}
