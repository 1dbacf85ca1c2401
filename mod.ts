// protoscope's library API: the tasks in tasks/ are thin command-line wrappers over these.
export * from "./src/onnx/model.ts";
export { GraphBuilder } from "./src/onnx/builder.ts";
export { acquireGpu, type GpuContext } from "./src/runtime/gpu.ts";
export { createSession, type Ep, ort } from "./src/runtime/ort.ts";
export { layerCandidates, resolveLayer, type Tap } from "./src/model/layers.ts";
export { headFromTap, imageInput, trunkWithTaps, withDynamicInput } from "./src/model/surgery.ts";
export { listLayers, probeShapes } from "./src/model/inspect.ts";
export { Classifier, IMAGE_SIZE, softmaxRows, topK } from "./src/model/classifier.ts";
export { normalizeOnCpu, normalizeOnGpu } from "./kernels/normalize.ts";
export { predictDataset, readPredictedClasses } from "./src/predict.ts";
export { decodeNpy, encodeNpy, readNpy, writeNpy } from "./src/io/npy.ts";
