// What a caller chooses about a generated backward graph (method, outputs, eps, conv form, SmoothGrad
// samples) and the fixed names of its inputs: shared by the generator, the rules that read the options and
// the cache that keys models by them.

export type AttributionMethod = "gradxact" | "deeplift";
export type BackwardOutput = "attribution" | "map" | "mean" | "logits" | "grad";

export interface BackwardOptions {
  method: AttributionMethod;
  /** Graph outputs, in this order; default attribution, map, logits. */
  outputs?: BackwardOutput[];
  /** DeepLift: below this |a - a_ref| the ordinary derivative is used (captum's default). */
  eps?: number;
  /**
   * Input gradient of stride-1 convolutions: "conv" (default) as a Conv with flipped, transposed weights,
   * which runs on ORT's im2col/matmul Conv kernels; "convtranspose" as ConvTranspose like strided convs.
   */
  convInputGradient?: "conv" | "convtranspose";
  /**
   * SmoothGrad: rows of x come in groups of this many noisy copies of one image (image-major); `attribution`
   * and `map` are then per image, from the mean attribution of its copies (ReLU after averaging, as the
   * mean attribution of captum's NoiseTunnel feeds the map). `logits` and `grad` stay per row. Default 1.
   */
  samplesPerImage?: number;
  /**
   * The feature axis that `map` and `mean` average over: 1 (default) for a CNN's [N, C, H, W], and the
   * reference's reading of a transformer's [N, T, C] (a mean over tokens); 2 for tokens as positions, giving
   * [N, T] maps (src/model/tokens.ts).
   */
  featureAxis?: number;
}

/** Names of the generated model's inputs. */
export const BACKWARD_INPUTS = { x: "x", xRef: "x_ref", seed: "seed" } as const;
export const DEFAULT_BACKWARD_OUTPUTS: readonly BackwardOutput[] = ["attribution", "map", "logits"];
export const CAPTUM_DEEPLIFT_EPS = 1e-10;
