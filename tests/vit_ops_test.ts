// The transformer ops other exporters write between a token tap and the logits, in one head that torch 1.13
// exported at opset 16 (tests/testdata/vit/ops_head.onnx, tools/reference/export_vit.py): LayerNorm decomposed
// into ReduceMean/Sub/Pow/Sqrt/Div, torch.where, a slice, `expand(-1, 5, -1)` as ConstantOfShape/Equal/Where
// feeding Expand, attention-like MatMuls, Softmax, the Erf GELU and a mean over tokens. Grad x Act against
// torch autograd in float64.
import assert from "node:assert/strict";
import { buildBackwardGraph, oneHotSeed } from "../src/backward/mod.ts";
import { readModel } from "../src/onnx/model.ts";
import { createSession, ort } from "../src/runtime/ort.ts";
import { readNpy } from "../src/io/npy.ts";
import { relativeError } from "./_helpers/numeric.ts";
import { VIT_TINY_DIR } from "./_helpers/vit_tiny.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };

/** export_vit.py's `ops_inputs(n)`: x[i, t, c] = 1.3 sin(0.7 (i + 1) t + 0.3 c + i), [n, 5, 8]. */
function opsInputs(n: number): Float32Array {
  return Float32Array.from(
    { length: n * 5 * 8 },
    (_, k) =>
      1.3 *
      Math.sin(0.7 * (Math.floor(k / 40) + 1) * (Math.floor(k / 8) % 5) + 0.3 * (k % 8) + Math.floor(k / 40)),
  );
}

Deno.test(
  "decomposed LayerNorm, Where, Slice, Expand, Softmax, GELU: Grad x Act equals torch (float64)",
  ORT_TEST,
  async () => {
    const head = await readModel(new URL("ops_head.onnx", VIT_TINY_DIR).pathname);
    for (
      const op of [
        "Pow",
        "Sqrt",
        "ReduceMean",
        "Where",
        "Slice",
        "Expand",
        "ConstantOfShape",
        "Erf",
        "Softmax",
      ]
    ) {
      assert.ok(head.graph.node.some((n) => n.opType === op), `the export has no ${op}`);
    }
    const expected = await readNpy(new URL("ops_head_gradxact.npy", VIT_TINY_DIR).pathname);
    const backward = buildBackwardGraph(head, { method: "gradxact", outputs: ["attribution"] });
    const session = await createSession(backward, { ep: "wasm" });
    try {
      const out = await session.session.run({
        x: new ort.Tensor("float32", opsInputs(2), [2, 5, 8]),
        seed: new ort.Tensor("float32", oneHotSeed([1, 7], 10), [2, 10]),
      });
      const attribution = await out.attribution.getData() as Float32Array;
      const err = relativeError(attribution, expected.data as Float64Array);
      console.log(`ops head Grad x Act vs torch float64: max relative difference ${err.toExponential(2)}`);
      assert.ok(err < 1e-4, `relative difference ${err}`);
    } finally {
      await session.session.release();
    }
  },
);
