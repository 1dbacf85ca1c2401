// Layer attribution on a torchvision ViT (torch 1.13 export, tests/testdata/vit/) at
// encoder.layers.encoder_layer_7: the generated backward graph (LayerNormalization, attention's MatMuls with
// both operands live, Softmax, the Erf GELU, the class token's Gather, shape arithmetic evaluated statically)
// against torch autograd and captum's LayerDeepLift, both in float64 (tools/reference/export_vit.py).
import assert from "node:assert/strict";
import { type AttributionMethod, buildBackwardGraph, oneHotSeed } from "../src/backward/mod.ts";
import { headFromTap, trunkWithTaps } from "../src/model/surgery.ts";
import { createSession, ort } from "../src/runtime/ort.ts";
import { readNpy } from "../src/io/npy.ts";
import { relativeError } from "./_helpers/numeric.ts";
import { readVitTiny, VIT_TAP, VIT_TINY_DIR, vitInputs, vitReference } from "./_helpers/vit_tiny.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };

/** The tap for the reference inputs and for captum's baseline (every input value 1.0). */
async function vitTaps(n: number): Promise<{ x: ort.Tensor; xRef: ort.Tensor }> {
  const model = await readVitTiny();
  const trunk = await createSession(trunkWithTaps(model, [VIT_TAP], { withLogits: false }), { ep: "wasm" });
  try {
    const x = await trunk.session.run({ input: new ort.Tensor("float32", vitInputs(n), [n, 3, 224, 224]) });
    const ones = new Float32Array(3 * 224 * 224).fill(1);
    const xRef = await trunk.session.run({ input: new ort.Tensor("float32", ones, [1, 3, 224, 224]) });
    return { x: x[VIT_TAP], xRef: xRef[VIT_TAP] };
  } finally {
    await trunk.session.release();
  }
}

async function attributionError(method: AttributionMethod, referenceFile: string): Promise<number> {
  const model = await readVitTiny();
  const ref = await vitReference();
  const n = ref.targets.length;
  const expected = await readNpy(new URL(referenceFile, VIT_TINY_DIR).pathname);
  assert.deepEqual(expected.shape, [n, 50, 24]);
  const head = headFromTap(model, VIT_TAP, ["N", 50, 24]);
  const backward = buildBackwardGraph(head, { method, outputs: ["attribution", "logits"] });
  // No Shape op serves the backward half: torch's shape arithmetic became constants.
  const generated = backward.graph.node.filter((node) => node.name.startsWith("bw/"));
  assert.ok(generated.length > 100);
  assert.ok(!generated.some((node) => node.opType === "Shape"), "a backward Reshape target came from a Shape op");
  const { x, xRef } = await vitTaps(n);
  const bw = await createSession(backward, { ep: "wasm" });
  try {
    const out = await bw.session.run({
      x,
      ...(method === "deeplift" ? { x_ref: xRef } : {}),
      seed: new ort.Tensor("float32", oneHotSeed(ref.targets, 1000), [n, 1000]),
    });
    const logits = await out.logits.getData() as Float32Array;
    assert.ok(relativeError(logits, ref.logits.flat()) < 1e-4);
    const attribution = await out.attribution.getData() as Float32Array;
    return relativeError(attribution, expected.data as Float64Array);
  } finally {
    await bw.session.release();
  }
}

Deno.test("ViT Grad x Act at encoder_layer_7 equals torch autograd (float64)", ORT_TEST, async () => {
  const err = await attributionError("gradxact", "vit_tiny_gradxact.npy");
  console.log(`ViT encoder_layer_7 Grad x Act vs torch float64: max relative difference ${err.toExponential(2)}`);
  assert.ok(err < 1e-3, `relative difference ${err}`);
});

Deno.test("ViT DeepLift at encoder_layer_7 equals captum's LayerDeepLift (float64)", ORT_TEST, async () => {
  // captum hooks none of a torchvision ViT's modules after the tap (nn.GELU and the functional softmax inside
  // nn.MultiheadAttention are not in its SUPPORTED_NON_LINEAR), so its DeepLift there is (x - x_ref) * grad.
  const err = await attributionError("deeplift", "vit_tiny_deeplift.npy");
  console.log(`ViT encoder_layer_7 DeepLift vs captum float64: max relative difference ${err.toExponential(2)}`);
  assert.ok(err < 1e-3, `relative difference ${err}`);
});
