// The normalize family: prepared uint8 images -> the model's ImageNet-normalized float input, with optional
// SmoothGrad noise, on the GPU (normalize.wgsl) or on the CPU (its twin).
export { normalizeOnGpu } from "./normalize.ts";
export { normalizeOnCpu } from "./normalize_cpu.ts";
export { NO_NOISE, type NoiseOptions, writeNormalization } from "./params.ts";
