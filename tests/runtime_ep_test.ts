// Which execution provider runs the model: auto takes webgpu on a hardware GPU, else the native CPU EP, else
// wasm; --ep cpu falls back to wasm, saying why, where onnxruntime-node does not load (as in the single binary,
// whose loader refuses without trying), and fails instead under strict.
import assert from "node:assert/strict";
import { resolveEp } from "../src/runtime/ort.ts";
import { loadOrtNode, type NativeOrt } from "../src/runtime/ort_node.ts";
import { gpu } from "./_helpers/gpu.ts";
import { noNative } from "./_helpers/eps.ts";

const hardwareGpu = gpu !== undefined && !gpu.software;
const binaryLoader = (): Promise<NativeOrt> =>
  Promise.resolve({ reason: "the single binary does not carry onnxruntime-node's native library" });

/** What `fn` prints with console.error. */
async function stderrOf<T>(fn: () => Promise<T>): Promise<{ value: T; lines: string[] }> {
  const lines: string[] = [];
  const plain = console.error;
  console.error = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    return { value: await fn(), lines };
  } finally {
    console.error = plain;
  }
}

Deno.test("a module that does not load gives a reason, not an exception", async () => {
  const missing = await loadOrtNode("./no_such_onnxruntime_node.js");
  assert.equal(missing.ort, undefined);
  assert.match(missing.reason!, /^the native onnxruntime library did not load \(.*no_such_onnxruntime_node/);
});

Deno.test("where the native library does not load: --ep cpu falls back to wasm with a message, strict fails", async () => {
  const { value, lines } = await stderrOf(() => resolveEp("cpu", false, binaryLoader));
  assert.equal(value.ep, "wasm");
  assert.deepEqual(lines, [
    "the single binary does not carry onnxruntime-node's native library: falling back to the wasm execution provider",
  ]);
  await assert.rejects(
    resolveEp("cpu", true, binaryLoader),
    /^Error: --ep cpu: the single binary does not carry/,
  );
  const auto = await stderrOf(() => resolveEp("auto", false, binaryLoader));
  assert.equal(auto.value.ep, hardwareGpu ? "webgpu" : "wasm");
  // Said once per process: the first fallback already printed it.
  assert.deepEqual(auto.lines, []);
});

Deno.test({
  name: "auto runs the model on the native CPU EP unless there is a hardware GPU; wasm stays wasm",
  ignore: noNative,
  fn: async () => {
    const auto = await resolveEp("auto");
    assert.equal(auto.ep, hardwareGpu ? "webgpu" : "cpu");
    const cpu = await resolveEp("cpu", true);
    assert.equal(cpu.ep, "cpu");
    assert.equal(cpu.nativeVersion, "1.30.0");
    assert.equal((await resolveEp("wasm")).ep, "wasm");
  },
});
