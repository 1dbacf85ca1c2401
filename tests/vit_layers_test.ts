// Layer names of transformer exports as torchvision's named_modules() spells them, on a ViT that torch 1.13's
// legacy exporter really wrote (tests/testdata/vit/vit_tiny.onnx, tools/reference/export_vit.py), and its
// forward pass and block cut against torch.
import assert from "node:assert/strict";
import { layerCandidates, moduleOutputs, nodeScopes, resolveLayer } from "../src/model/layers.ts";
import { probeShapes } from "../src/model/inspect.ts";
import { headFromTap, trunkWithTaps } from "../src/model/surgery.ts";
import { createSession, ort } from "../src/runtime/ort.ts";
import type { Node } from "../src/onnx/model.ts";
import { relativeError } from "./_helpers/numeric.ts";
import { readVitTiny, VIT_LAYER, VIT_TAP, vitInputs, vitReference } from "./_helpers/vit_tiny.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };

Deno.test("legacy ViT names: each encoder block is its own layer, encoder_layer_7 is its last Add", async () => {
  const model = await readVitTiny();
  const tap = resolveLayer(model, VIT_LAYER);
  assert.equal(tap.tensor, VIT_TAP);
  assert.equal(tap.via, "legacy-scope");
  const candidates = layerCandidates(model);
  for (let i = 0; i < 12; i++) {
    assert.ok(candidates.includes(`encoder.layers.encoder_layer_${i}`), `block ${i}`);
  }
  // Before, "_7" was read as the 8th call of one module and the twelve blocks merged into one name.
  assert.ok(!moduleOutputs(model.graph).has("encoder.layers.encoder_layer"));
  assert.equal(
    resolveLayer(model, "encoder.layers.encoder_layer_7.mlp").tensor,
    tap.tensor.replace(
      "Add_1_output_0",
      "mlp/mlp.3/Add_output_0",
    ),
  );
  assert.throws(
    () => resolveLayer(model, "encoder.layers.encoder_layer_12"),
    /Candidates: encoder, encoder\.layers/,
  );
});

Deno.test("a repeated call's _N still folds into its module when the plain name sits beside it", () => {
  const node = (name: string): Node => ({
    name,
    opType: "Relu",
    input: ["x"],
    output: [`${name}_output_0`],
    attribute: [],
  });
  const nodes = [
    node("/layer3/layer3.5/relu/Relu"),
    node("/layer3/layer3.5/relu_2/Relu"),
    node("/enc/block_3/Add"),
  ];
  const graph = { name: "g", node: nodes, initializer: [], input: [], output: [], valueInfo: [] };
  const outputs = moduleOutputs(graph as never);
  assert.equal(outputs.get("layer3.5.relu")?.tensor, "/layer3/layer3.5/relu_2/Relu_output_0");
  assert.ok(outputs.has("enc.block_3"));
  assert.ok(!outputs.has("enc.block"));
});

Deno.test("dynamo ViT names: name_scopes metadata spells the block as named_modules() does", () => {
  // What torch's dynamo exporter writes on a node of vit_b_32's 8th block (the module path is the scope list).
  const node: Node = {
    name: "node_add_17",
    opType: "Add",
    input: ["add_16", "linear_31"],
    output: ["add_17"],
    attribute: [],
    metadataProps: [{
      key: "pkg.torch.onnx.name_scopes",
      value: "['', 'encoder', 'encoder.layers', 'encoder.layers.encoder_layer_7']",
    }],
  };
  assert.deepEqual(nodeScopes(node)?.scopes, ["encoder", "encoder.layers", VIT_LAYER]);
});

Deno.test(
  "ViT forward equals torch (float64), and the cut at encoder_layer_7 reproduces it",
  ORT_TEST,
  async () => {
    const model = await readVitTiny();
    const ref = await vitReference();
    const shapes = await probeShapes(model, [VIT_TAP]);
    assert.deepEqual(shapes.get(VIT_TAP), [1, 50, 24]);
    const n = ref.targets.length;
    const input = new ort.Tensor("float32", vitInputs(n), [n, 3, 224, 224]);
    const headModel = headFromTap(model, VIT_TAP, ["N", 50, 24]);
    const full = await createSession(trunkWithTaps(model, [VIT_TAP], { withLogits: true }), { ep: "wasm" });
    const head = await createSession(headModel, { ep: "wasm" });
    try {
      const out = await full.session.run({ input });
      const logits = await out.logits.getData() as Float32Array;
      const err = relativeError(logits, ref.logits);
      assert.ok(err < 1e-4, `logits differ from torch's by ${err}`);
      const cut = await head.session.run({ [VIT_TAP]: out[VIT_TAP] });
      const headLogits = await cut[headModel.graph.output[0].name].getData() as Float32Array;
      assert.ok(relativeError(headLogits, logits) < 1e-5);
    } finally {
      await full.session.release();
      await head.session.release();
    }
  },
);
