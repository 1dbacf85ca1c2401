// Grad x Act on a torchvision ViT (torch 1.13 export, tests/testdata/vit/) at encoder.layers.encoder_layer_7:
// the generated backward graph (LayerNormalization, attention's MatMuls with both operands live, Softmax, the
// Erf GELU, the class token's Gather, shape arithmetic evaluated statically) against torch autograd in float64.
import assert from "node:assert/strict";
import { buildBackwardGraph, oneHotSeed } from "../src/backward/mod.ts";
import { headFromTap, trunkWithTaps } from "../src/model/surgery.ts";
import { createSession, ort } from "../src/runtime/ort.ts";
import { readNpy } from "../src/io/npy.ts";
import { relativeError } from "./_helpers/numeric.ts";
import { readVitTiny, VIT_TAP, VIT_TINY_DIR, vitInputs, vitReference } from "./_helpers/vit_tiny.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };

Deno.test("ViT Grad x Act at encoder_layer_7 equals torch autograd (float64)", ORT_TEST, async () => {
  const model = await readVitTiny();
  const ref = await vitReference();
  const n = ref.targets.length;
  const expected = await readNpy(new URL("vit_tiny_gradxact.npy", VIT_TINY_DIR).pathname);
  assert.deepEqual(expected.shape, [n, 50, 24]);
  const head = headFromTap(model, VIT_TAP, ["N", 50, 24]);
  const backward = buildBackwardGraph(head, { method: "gradxact", outputs: ["attribution", "logits"] });
  // Every op between the tap and the logits got a rule, and no Shape op serves the backward half.
  const generated = backward.graph.node.filter((node) => node.name.startsWith("bw/"));
  assert.ok(generated.length > 100);
  assert.ok(
    !generated.some((node) => node.opType === "Shape"),
    "a backward Reshape target came from a Shape op",
  );

  const trunk = await createSession(trunkWithTaps(model, [VIT_TAP], { withLogits: false }), { ep: "wasm" });
  const bw = await createSession(backward, { ep: "wasm" });
  try {
    const taps = await trunk.session.run({
      input: new ort.Tensor("float32", vitInputs(n), [n, 3, 224, 224]),
    });
    const out = await bw.session.run({
      x: taps[VIT_TAP],
      seed: new ort.Tensor("float32", oneHotSeed(ref.targets, 1000), [n, 1000]),
    });
    const logits = await out.logits.getData() as Float32Array;
    assert.ok(relativeError(logits, ref.logits.flat()) < 1e-4);
    const attribution = await out.attribution.getData() as Float32Array;
    const err = relativeError(attribution, expected.data as Float64Array);
    console.log(
      `ViT encoder_layer_7 Grad x Act vs torch float64: max relative difference ${err.toExponential(2)}`,
    );
    assert.ok(err < 1e-3, `relative difference ${err}`);
  } finally {
    await trunk.session.release();
    await bw.session.release();
  }
});
