// The settings of the normalize family, written once for normalize.wgsl, its dispatcher and its CPU twin (and
// read by the crop compositor, which normalizes the same way): ImageNet's channel statistics as the kernels'
// uniform blocks take them, the SmoothGrad noise options and their default, and the workgroup size.
import { IMAGENET_MEAN, IMAGENET_STD } from "../../src/data/input_spec.ts";
import { LINEAR_WORKGROUP } from "../_program.ts";

/** Invocations per workgroup of normalize.wgsl (its `override WORKGROUP`), which also sizes the grid. */
export const NORMALIZE_WORKGROUP = LINEAR_WORKGROUP;

export interface NoiseOptions {
  /** Noisy copies per image (1 = plain input when sigma is 0). */
  samples: number;
  /** Standard deviation in normalized units. */
  sigma: number;
  seed: number;
  /** Global index of the first output row, so noise is the same however the data is batched. */
  rowOffset?: number;
}

export const NO_NOISE: NoiseOptions = { samples: 1, sigma: 0, seed: 0 };

/**
 * The `mean` and `inv_std` members (vec4, the 4th component unused) of the Params blocks of normalize.wgsl
 * and crop_composite.wgsl: x' = (x / 255 - mean[c]) * inv_std[c].
 */
export function normalizationUniforms(): { mean: number[]; inv_std: number[] } {
  return {
    mean: [...IMAGENET_MEAN, 0],
    inv_std: [...IMAGENET_STD.map((s) => 1 / s), 0],
  };
}
