// protoscope's library API: the tasks in tasks/ are thin command-line wrappers over these.
export * from "./src/onnx/model.ts";
export { GraphBuilder } from "./src/onnx/builder.ts";
export { acquireGpu, type GpuContext } from "./src/runtime/gpu.ts";
export { createSession, type Ep, ort } from "./src/runtime/ort.ts";
export { layerCandidates, resolveLayer, type Tap } from "./src/model/layers.ts";
export { headFromTap, imageInput, trunkWithTaps, withDynamicInput } from "./src/model/surgery.ts";
export { listLayers, probeShapes } from "./src/model/inspect.ts";
export { Classifier, IMAGE_SIZE, softmaxRows, topK } from "./src/model/classifier.ts";
export { normalizeOnCpu, normalizeOnGpu } from "./kernels/normalize/normalize.ts";
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
} from "./src/pipeline/contrast/contrast_vectors.ts";
export { nmf, nmfBatched } from "./kernels/nmf/nmf.ts";
export { nmfReference } from "./kernels/nmf/reference.ts";
export { trainPairCpu } from "./kernels/hyperplane/reference.ts";
export { CpuPairSolver, GpuPairSolver } from "./kernels/hyperplane/pair_trainer.ts";
export { trainHyperplanes } from "./src/pipeline/contrast/hyperplanes.ts";
export { readHyperplanes, writeHyperplaneRow } from "./src/pipeline/contrast/hyperplanes_io.ts";
export { readContrastVectors, writeClassVectors } from "./src/pipeline/contrast/vectors_io.ts";
export { runContrastTest } from "./src/pipeline/contrast/contrast_test_run.ts";
export { parseOffsets, REFERENCE_OFFSETS, shiftingTest } from "./src/pipeline/contrast/shifting.ts";
export { maskingTest } from "./src/pipeline/contrast/masking.ts";
export { allPairs, samplePairs } from "./src/pipeline/contrast/pair_sampling.ts";
export { summarizeRun, summarizeRuns } from "./src/pipeline/contrast/contrast_summary.ts";
export { hyperplanesInMemory } from "./src/pipeline/contrast/hyperplane_set.ts";
export { PrototypeSearch } from "./kernels/search/prototype_search.ts";
export { CropCompositor } from "./kernels/composite/crop_composite.ts";
export { readConcepts } from "./src/pipeline/concepts/read_concepts.ts";
export { runComponentTest } from "./src/pipeline/component_test/component_test_run.ts";
export { runVisualize } from "./src/pipeline/figures/visualize.ts";
export { runExplain } from "./src/pipeline/figures/explain.ts";
export { readTorchTensor } from "./src/io/torch_pt.ts";
export { openDataset } from "./src/data/dataset.ts";
export { prepareCache } from "./src/data/cache.ts";
