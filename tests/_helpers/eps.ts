// The execution providers a parity test runs on, each with the `ignore` that keeps it from failing on a machine
// that lacks it: wasm everywhere, the native CPU EP where onnxruntime-node loads, webgpu where an adapter exists.
import { noGpu } from "./gpu.ts";
import { loadOrtNode } from "../../src/runtime/ort_node.ts";

/** `ignore` of a test that needs the native CPU EP. */
export const noNative = !(await loadOrtNode()).ort;

if (noNative) console.warn("onnxruntime-node does not load here: the cpu EP's tests are ignored");

export const TEST_EPS = [
  { ep: "wasm", ignore: false },
  { ep: "cpu", ignore: noNative },
  { ep: "webgpu", ignore: noGpu },
] as const;

/** The CPU-side EPs (wasm, and cpu where it loads), for tests too slow on llvmpipe. */
export const CPU_EPS = TEST_EPS.filter((e) => e.ep !== "webgpu");
