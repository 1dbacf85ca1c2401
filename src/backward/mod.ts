/**
 * The backward pass of a classifier head, generated as a second ONNX graph that onnxruntime runs like any
 * model: gradient x activation or DeepLift (captum's LayerDeepLift with the Rescale rule) at a tap, the
 * SmoothGrad mean and the channel-mean map inside it. generator.ts explains the design and every departure
 * from captum; rules/ holds the gradient rules per op family and DeepLift's Rescale table.
 *
 * @example
 * ```ts
 * import { buildBackwardGraph, oneHotSeed } from "./mod.ts";
 * const backward = buildBackwardGraph(head, { method: "deeplift", samplesPerImage: 20 });
 * const seed = oneHotSeed([207, 281], 1000); // feeds `seed`, with `x` and `x_ref`
 * ```
 * @module
 */
export { buildBackwardGraph, oneHotSeed } from "./generator.ts";
export {
  type AttributionMethod,
  BACKWARD_INPUTS,
  type BackwardOptions,
  type BackwardOutput,
  CAPTUM_DEEPLIFT_EPS,
  DEFAULT_BACKWARD_OUTPUTS,
} from "./options.ts";
export {
  attributionGraphCache,
  type BackwardGraph,
  BackwardGraphCache,
  type BackwardGraphKey,
} from "./graph_cache.ts";
export { SUPPORTED_OPS } from "./rules/registry.ts";
