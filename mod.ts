/**
 * protoscope's library API: concept-based explanations of image classifiers (ONNX models run through
 * onnxruntime-web, protoscope's own math in WGSL kernels). The tasks in tasks/ are thin command lines over
 * these functions; the kernels alone are `@protoscope/protoscope/kernels`.
 *
 * The pipeline runs in stages: predict, attribute, concepts (per-class prototypes by NMF), then the
 * prototype search behind the component test and the figures.
 *
 * @example Predictions, then the concepts of ten classes
 * ```ts
 * import { computeConcepts, PAPER_ATTRIBUTION, predictDataset } from "@protoscope/protoscope";
 *
 * const [model, data] = ["resnet50.onnx", "imagenet/val"];
 * await predictDataset({ model, data, out: "out/predictions" });
 * const concepts = await computeConcepts({
 *   ...PAPER_ATTRIBUTION,
 *   model,
 *   data,
 *   layer: "layer3.5",
 *   classes: "0-9",
 *   out: "out/concepts",
 *   predictions: "out/predictions",
 * });
 * console.log(`${concepts.k} prototypes per class at ${concepts.layer}`);
 * ```
 *
 * @module
 */
export {
  attr,
  attrFloat,
  type Attribute,
  AttributeType,
  attrInt,
  attrInts,
  attrString,
  cloneModel,
  DataType,
  declaredShape,
  decodeModel,
  type Dimension,
  encodeModel,
  floatTensor,
  type Graph,
  int64Tensor,
  type KeyValue,
  type Model,
  type Node,
  readModel,
  runtimeInputs,
  sha256File,
  sha256Hex,
  type Tensor,
  tensorValues,
  type TypeProto,
  type ValueInfo,
  valueInfo,
} from "./src/onnx/model.ts";
export { GraphBuilder } from "./src/onnx/builder.ts";
export { acquireGpu, type GpuContext } from "./src/runtime/gpu.ts";
export { createSession, type Ep, ort } from "./src/runtime/ort.ts";
export { layerCandidates, resolveLayer, type Tap } from "./src/model/layers.ts";
export { headFromTap, imageInput, trunkWithTaps, withDynamicInput } from "./src/model/surgery.ts";
export { listLayers, probeShapes } from "./src/model/inspect.ts";
export { Classifier, softmaxRows, topK } from "./src/model/classifier.ts";
export { BLANK_RGB, IMAGE_SIZE, IMAGENET_MEAN, IMAGENET_STD } from "./src/data/input_spec.ts";
export { predictDataset, readPredictedClasses } from "./src/pipeline/predict/predict.ts";
export { decodeNpy, encodeNpy, readNpy, writeNpy } from "./src/io/npy.ts";
export {
  type AttributionSettings,
  Attributor,
  PAPER_ATTRIBUTION,
} from "./src/pipeline/attribute/attributor.ts";
export { attributeDataset } from "./src/pipeline/attribute/attribute_dataset.ts";
export { buildBackwardGraph, oneHotSeed } from "./src/backward/mod.ts";
export { computeConcepts, weightedRows } from "./src/pipeline/concepts/concepts.ts";
export {
  computeContrastVectors,
  type ContrastVectorsOptions,
  selectContrastRows,
} from "./src/pipeline/contrast/vectors/contrast_vectors.ts";
export { trainHyperplanes } from "./src/pipeline/contrast/hyperplanes/hyperplanes.ts";
export { readHyperplanes, writeHyperplaneRow } from "./src/pipeline/contrast/hyperplanes/hyperplanes_io.ts";
export { readContrastVectors, writeClassVectors } from "./src/pipeline/contrast/vectors/vectors_io.ts";
export { runContrastTest } from "./src/pipeline/contrast/sanity_checks/contrast_test_run.ts";
export {
  parseOffsets,
  REFERENCE_OFFSETS,
  shiftingTest,
} from "./src/pipeline/contrast/sanity_checks/shifting.ts";
export { maskingTest } from "./src/pipeline/contrast/sanity_checks/masking.ts";
export { allPairs, samplePairs } from "./src/pipeline/contrast/sanity_checks/pair_sampling.ts";
export { summarizeRun, summarizeRuns } from "./src/pipeline/contrast/sanity_checks/contrast_summary.ts";
export { hyperplanesInMemory } from "./src/pipeline/contrast/hyperplanes/hyperplane_set.ts";
export { formatInsertTable, measureInsert, runInsertTest } from "./src/pipeline/contrast/insert/insert.ts";
export { runInsertAuto, sampleInsertPairs } from "./src/pipeline/contrast/insert/insert_auto.ts";
export {
  controlPatch,
  cutPatch,
  parseCropSpec,
  placePatch,
} from "./src/pipeline/contrast/insert/insert_patch.ts";
export {
  sideMasks,
  whyNot,
  type WhyNotCrop,
  type WhyNotDirection,
  type WhyNotOptions,
  type WhyNotResult,
} from "./src/pipeline/contrast/why_not/why_not.ts";
export {
  CpuPairSolver,
  CropCompositor,
  GpuPairSolver,
  nmf,
  nmfBatched,
  nmfReference,
  normalizeOnCpu,
  normalizeOnGpu,
  PrototypeSearch,
  trainPairCpu,
} from "./kernels/mod.ts";
export { readConcepts } from "./src/pipeline/concepts/read_concepts.ts";
export { runComponentTest } from "./src/pipeline/component_test/component_test_run.ts";
export { runVisualize } from "./src/pipeline/figures/visualize.ts";
export { runExplain } from "./src/pipeline/figures/explain.ts";
export { runDecompose } from "./src/pipeline/decompose/decompose.ts";
export { readTorchTensor } from "./src/io/torch_pt.ts";
export { openDataset } from "./src/data/dataset.ts";
export { prepareCache } from "./src/data/cache.ts";
