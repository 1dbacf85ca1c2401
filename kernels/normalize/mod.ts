/**
 * The normalize family: prepared uint8 images -> the model's ImageNet-normalized float input (NCHW), with
 * optional SmoothGrad noise, on the GPU (normalize.wgsl, dispatched by normalize.ts) or on the CPU
 * (reference.ts, its twin: the same formula and the same counter-based noise).
 *
 * @example Two images on the GPU when there is one, else on the CPU
 * ```ts
 * import { acquireGpu } from "@protoscope/protoscope";
 * import { NO_NOISE, normalizeOnCpu, normalizeOnGpu } from "@protoscope/protoscope/kernels";
 *
 * const pixels = new Uint8Array(2 * 224 * 224 * 3).fill(128);
 * const gpu = await acquireGpu();
 * const input = gpu
 *   ? await normalizeOnGpu(gpu.device, pixels, 2, 224, 224, NO_NOISE) // a GPUBuffer the caller owns
 *   : normalizeOnCpu(pixels, 2, 224, 224, NO_NOISE); // a Float32Array, 2 x 3 x 224 x 224
 * ```
 *
 * @module
 */
export { normalizeOnGpu } from "./normalize.ts";
export { normalizeOnCpu } from "./reference.ts";
export { NO_NOISE, type NoiseOptions, normalizationUniforms, NORMALIZE_WORKGROUP } from "./settings.ts";
