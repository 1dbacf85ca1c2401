// The shifting test (the paper's Table 3 and Figure 3): class i's activations at the layer are moved along
// the (i, j) hyperplane normal, ReLU(a - mask * n_ij * offset) per offset, and the rest of the network (the
// head) classifies them; if the normal captures what separates j from i, p(j) rises as |offset| grows. The
// reference's offsets are negative, so the shift moves towards j (label 1 of the hyperplane's training).
// On a transformer block output (signed) the shift is a - mask * n_ij * offset, unclipped (SplitModel
// clipsShift): the positions are the tapped tokens (every token, the class token among them, so the head can
// run from there).
import { UsageError } from "../../../cli/cli.ts";
import type { ContrastTest } from "./contrast_test_run.ts";

/** The reference's offsets (example_sanity_check_imagenet.py). */
export const REFERENCE_OFFSETS = [0, -0.5, -1, -2, -10, -15, -20, -35, -50, -200] as const;

/** `--offsets`: numbers, the first 0 (the unshifted reference point every summary figure compares with). */
export function parseOffsets(value: string | undefined): number[] {
  if (value === undefined) return [...REFERENCE_OFFSETS];
  const offsets = value.split(",").map((s) => s.trim());
  const numbers = offsets.map(Number);
  const bad = offsets.findIndex((s, i) => s === "" || !Number.isFinite(numbers[i]));
  if (bad >= 0) {
    throw new UsageError(`--offsets expects a comma list of numbers, '${offsets[bad]}' is not one`);
  }
  if (numbers[0] !== 0) {
    throw new UsageError(
      `--offsets must start with 0 (the unshifted activations every figure is compared with), got ${value}`,
    );
  }
  if (numbers.length < 2) throw new UsageError(`--offsets needs at least one offset after 0, got ${value}`);
  return numbers;
}

/**
 * One image's shifted activations: out[c, p] = max(0, a[c, p] - mask[p] * normal[c] * offset), for an image
 * of C x hw activations (the tap's NCHW layout). Without a mask every position moves (the paper's Table 3).
 * `clip` false leaves out the max(0, .) for a signed tap.
 */
export function shiftImage(
  acts: Float32Array,
  normal: Float32Array,
  offset: number,
  hw: number,
  out: Float32Array,
  mask?: Float32Array,
  clip = true,
): void {
  const c = normal.length;
  const floor = clip ? 0 : -Infinity;
  for (let ch = 0; ch < c; ch++) {
    const step = normal[ch] * offset, base = ch * hw;
    if (mask) {
      for (let p = 0; p < hw; p++) out[base + p] = Math.max(floor, acts[base + p] - mask[p] * step);
    } else {
      for (let p = 0; p < hw; p++) out[base + p] = Math.max(floor, acts[base + p] - step);
    }
  }
}

/** Where the shift applies: every position (Table 3), or the class's attribution cutoff mask. */
export type ShiftRegion = "all" | "attribution";

/**
 * The reference's attribution cutoff mask (extract_attribution_cutoff_mask): 1 where the channel mean of the
 * attribution (without ReLU, as its code ends up computing) exceeds `cutoff` x the image's maximum of it.
 */
export function attributionMask(
  means: Float32Array,
  images: number,
  hw: number,
  cutoff = 0.25,
): Float32Array {
  const mask = new Float32Array(images * hw);
  for (let i = 0; i < images; i++) {
    const m = means.subarray(i * hw, (i + 1) * hw);
    const threshold = m.reduce((a, b) => Math.max(a, b), -Infinity) * cutoff;
    for (let p = 0; p < hw; p++) mask[i * hw + p] = m[p] > threshold ? 1 : 0;
  }
  return mask;
}

export const SHIFTING_STEP_LABEL = "offset along the normal";

/** The shifting test for the shared driver: per pair, every offset applied to every image of class i. */
export function shiftingTest(offsets: number[], region: ShiftRegion = "all", cutoff = 0.25): ContrastTest {
  if (!(cutoff >= 0 && cutoff < 1)) {
    throw new UsageError(`--cutoff ${cutoff}: expected a fraction of the image's maximum in [0, 1)`);
  }
  return {
    name: "shifting",
    stepKey: "offsets",
    steps: offsets,
    stepLabel: SHIFTING_STEP_LABEL,
    settings: {
      region,
      // Without the ReLU where settings.tokens is patches or patches+cls: a block output is signed.
      shift: region === "all" ? "ReLU(a - n_ij * offset)" : "ReLU(a - mask * n_ij * offset)",
      ...(region === "attribution"
        ? { cutoff, mask: "attribution mean (no ReLU) > cutoff x image max" }
        : {}),
    },
    needsAttribution: region === "attribution",
    job(model, from, tos, { acts, n, attributionMeans }, planes, batchRows) {
      const [c, h, w] = model.tapShape;
      const per = c * h * w, hw = h * w;
      const normals = tos.map((to) => planes.normal(from, to));
      let mask: Float32Array | undefined;
      if (region === "attribution") {
        if (!attributionMeans) {
          throw new Error("shifting test: --region attribution needs the attribution maps");
        }
        mask = attributionMask(attributionMeans, n, hw, cutoff);
      }
      return {
        from,
        tos,
        steps: offsets.length,
        images: n,
        rowSize: per,
        numClasses: model.numClasses,
        batchRows,
        fill: (pair, step, image, out) =>
          shiftImage(
            acts.subarray(image * per, (image + 1) * per),
            normals[pair],
            offsets[step],
            hw,
            out,
            mask?.subarray(image * hw, (image + 1) * hw),
            model.clipsShift,
          ),
        run: (input, rows) => model.headProbabilities(input, rows),
        extra: mask ? () => ({ shiftedShare: mask!.reduce((a, b) => a + b, 0) / mask!.length }) : undefined,
      };
    },
  };
}
