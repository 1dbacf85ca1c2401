// deno run -A tests/_helpers/wasm_threads_probe.ts: one small session on the wasm EP with the threads that
// PROTOSCOPE_WASM_THREADS asks for; prints the EP line and the output as JSON. Run in a process of its own by
// tests/wasm_threads_test.ts, so that a hung thread pool is killed instead of stalling the suite.
import { GraphBuilder } from "../../src/onnx/builder.ts";
import { createSession, epDescription, ort } from "../../src/runtime/ort.ts";

const g = new GraphBuilder("wasm_threads_probe");
const x = g.input("x", [64, 64]);
const w = g.weight("w", [64, 64], Float32Array.from({ length: 64 * 64 }, (_, i) => ((i % 7) - 3) / 8));
g.node("Relu", [g.node("MatMul", [x, w])], {}, { outputs: ["y"] });
g.output("y", [64, 64]);
const handle = await createSession(g.model(), { ep: "wasm", quiet: true });
const input = Float32Array.from({ length: 64 * 64 }, (_, i) => ((i % 11) - 5) / 4);
const out = await handle.session.run({ x: new ort.Tensor("float32", input, [64, 64]) });
const y = out.y.data as Float32Array;
console.log(JSON.stringify({ ep: epDescription(handle), sum: y.reduce((a, b) => a + b, 0) }));
await handle.session.release();
