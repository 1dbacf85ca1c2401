// The one way a test asks for WebGPU: the process's shared device, or undefined on a machine without an
// adapter, where tests that need it pass `ignore: noGpu` and show as ignored instead of failing.
import { acquireGpu, type GpuContext } from "../../src/runtime/gpu.ts";

export const gpu: GpuContext | undefined = await acquireGpu();

/** `ignore` of a test that needs WebGPU. */
export const noGpu = !gpu;

if (noGpu) console.warn("no WebGPU adapter: the tests that need one are ignored");
