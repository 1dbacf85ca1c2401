// What normalize.wgsl, its CPU twin and the crop compositor share: ImageNet's channel statistics, the
// SmoothGrad noise options, and where the statistics sit in the kernels' uniform blocks.
import { IMAGENET_MEAN, IMAGENET_STD } from "../../src/data/input_spec.ts";

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
 * Writes the mean at floats 8..10 and 1 / std at floats 12..14 of a uniform block: the `mean` and `inv_std`
 * vec4s that close the Params of normalize.wgsl and crop_composite.wgsl.
 */
export function writeNormalization(uniforms: Float32Array): void {
  for (let c = 0; c < 3; c++) {
    uniforms[8 + c] = IMAGENET_MEAN[c];
    uniforms[12 + c] = 1 / IMAGENET_STD[c];
  }
}
