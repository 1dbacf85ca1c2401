// Layer resolution, trunk/head surgery and the classifier runner on the fixture, a ResNet50-topology model
// with legacy names and a dynamo-named ResNet.
import assert from "node:assert/strict";
import { buildResNet, buildResNet50 } from "../fixtures/resnet50.ts";
import { buildFixtureModel } from "../fixtures/fixture_model.ts";
import { layerCandidates, resolveLayer } from "../src/model/layers.ts";
import { headFromTap, trunkWithTaps } from "../src/model/surgery.ts";
import { listLayers, probeShapes } from "../src/model/inspect.ts";
import { Classifier } from "../src/model/classifier.ts";
import { createSession, type Ep, ort } from "../src/runtime/ort.ts";
import { seededRandom } from "../src/runtime/random.ts";
import { gpu } from "./_helpers/gpu.ts";
import { TEST_EPS } from "./_helpers/eps.ts";
import type { Model } from "../src/onnx/model.ts";
import { relativeError } from "./_helpers/numeric.ts";

/** The EPs this machine has. */
const EPS: Ep[] = TEST_EPS.filter((e) => !e.ignore).map((e) => e.ep);
const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };

function pixels(n: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  return Uint8Array.from({ length: n * 224 * 224 * 3 }, () => Math.floor(random() * 256));
}

/** Full-model logits vs trunk tap -> head logits, on one EP. */
async function cutAgrees(model: Model, layer: string, ep: Ep, n: number): Promise<number> {
  const full = await Classifier.fromModel(model, "test", "-", { ep, layers: [layer] });
  try {
    const px = pixels(n, 11);
    const { logits, taps } = await full.forward(px, n);
    const tap = taps.get(layer)!;
    const head = headFromTap(model, full.taps[0].tensor, ["N", ...tap.dims.slice(1)]);
    const session = await createSession(head, { ep });
    const out = await session.session.run({
      [full.taps[0].tensor]: new ort.Tensor("float32", tap.data!, tap.dims),
    });
    const headLogits = await out[head.graph.output[0].name].getData() as Float32Array;
    await session.session.release();
    return relativeError(headLogits, logits!);
  } finally {
    await full.release();
  }
}

Deno.test(
  "legacy names: layer3.5 and layer4.2 of a ResNet50 resolve to the block outputs with the right shapes",
  ORT_TEST,
  async () => {
    const model = buildResNet50({ naming: "legacy" });
    const l3 = resolveLayer(model, "layer3.5");
    const l4 = resolveLayer(model, "layer4.2");
    assert.equal(l3.tensor, "/layer3/layer3.5/relu_2/Relu_output_0");
    assert.equal(l4.tensor, "/layer4/layer4.2/relu_2/Relu_output_0");
    assert.equal(resolveLayer(model, "layer4").tensor, l4.tensor);
    assert.equal(resolveLayer(model, l3.tensor).via, "tensor");
    const shapes = await probeShapes(model, [l3.tensor, l4.tensor]);
    assert.deepEqual(shapes.get(l3.tensor), [1, 1024, 14, 14]);
    assert.deepEqual(shapes.get(l4.tensor), [1, 2048, 7, 7]);
    const candidates = layerCandidates(model);
    for (const name of ["layer1", "layer3", "layer3.5", "layer4.2", "layer1.0.downsample"]) {
      assert.ok(candidates.includes(name), `${name} missing from ${candidates.join(",")}`);
    }
  },
);

Deno.test("an unknown layer fails with the candidates", () => {
  const model = buildFixtureModel();
  assert.throws(() => resolveLayer(model, "layer9.1"), (e: Error) => {
    assert.match(e.message, /--layer layer9\.1: no module or tensor/);
    assert.match(e.message, /layer3\.1/);
    return true;
  });
});

Deno.test(
  "dynamo names: name_scopes metadata resolves blocks to the last node of the block",
  ORT_TEST,
  async () => {
    const model = buildResNet([1, 1, 2, 1], { naming: "dynamo", baseWidth: 8, numClasses: 10 });
    assert.ok(
      model.graph.node.every((n) => !n.name.startsWith("/")),
      "dynamo graphs have no scoped node names",
    );
    const tap = resolveLayer(model, "layer3.1");
    assert.equal(tap.via, "dynamo-scope");
    const producer = model.graph.node.find((n) => n.output.includes(tap.tensor))!;
    assert.equal(producer.opType, "Relu");
    // Nothing inside layer3.1 comes after its output.
    const consumers = model.graph.node.filter((n) => n.input.includes(tap.tensor));
    assert.ok(consumers.length > 0);
    for (const c of consumers) {
      const scopes = c.metadataProps?.find((p) => p.key === "pkg.torch.onnx.name_scopes")?.value ?? "";
      assert.ok(!scopes.includes("'layer3.1'"), `consumer ${c.name} is still inside layer3.1`);
    }
    const shapes = await probeShapes(model, [tap.tensor]);
    assert.deepEqual(shapes.get(tap.tensor)!.slice(2), [14, 14]);
    for (const ep of EPS) {
      const err = await cutAgrees(model, "layer3.1", ep, 2);
      assert.ok(err <= 1e-5, `${ep}: trunk+head differs from the full model by ${err}`);
    }
  },
);

Deno.test("trunk tap + head logits equal the full model's logits (fixture, every EP)", ORT_TEST, async () => {
  const model = buildFixtureModel();
  for (const ep of EPS) {
    for (const layer of ["layer3", "layer4"]) {
      const err = await cutAgrees(model, layer, ep, 3);
      assert.ok(err <= 1e-5, `${ep} ${layer}: relative error ${err}`);
    }
  }
});

Deno.test(
  "trunk tap + head logits equal the full model's logits (ResNet50 topology, layer3.5, every EP)",
  ORT_TEST,
  async () => {
    const model = buildResNet50({ naming: "legacy" });
    for (const ep of EPS) {
      const err = await cutAgrees(model, "layer3.5", ep, ep === "webgpu" && gpu?.software ? 1 : 2);
      assert.ok(err <= 1e-5, `${ep}: relative error ${err}`);
    }
  },
);

Deno.test("a tap inside a residual block is no cut point and says so", () => {
  const model = buildResNet([1, 1, 1, 1], { naming: "legacy", baseWidth: 8, numClasses: 10 });
  const inside = resolveLayer(model, "layer2.0.conv1").tensor;
  assert.throws(() => headFromTap(model, inside, ["N", 8, 28, 28]), /does not cut the model in two/);
});

Deno.test("the trunk without logits is pruned to what the tap needs", () => {
  const model = buildResNet([1, 1, 1, 1], { naming: "legacy", baseWidth: 8, numClasses: 10 });
  const tap = resolveLayer(model, "layer2").tensor;
  const trunk = trunkWithTaps(model, [tap], { withLogits: false });
  assert.deepEqual(trunk.graph.output.map((o) => o.name), [tap]);
  assert.ok(!trunk.graph.node.some((n) => n.opType === "Gemm"));
  assert.ok(trunk.graph.node.length < model.graph.node.length);
});

for (const { ep, ignore } of TEST_EPS.filter((e) => e.ep !== "wasm")) {
  Deno.test({
    name: `${ep} and wasm agree on the fixture's logits`,
    ignore,
    ...ORT_TEST,
    fn: async () => {
      const model = buildFixtureModel();
      const px = pixels(2, 5);
      const results: Float32Array[] = [];
      for (const run of ["wasm", ep] as const) {
        const c = await Classifier.fromModel(model, "fixture", "-", { ep: run, strict: true });
        assert.equal(c.ep, run);
        results.push((await c.forward(px, 2)).logits!);
        await c.release();
      }
      assert.ok(relativeError(results[1], results[0]) < 1e-4);
    },
  });
}

Deno.test("`layers` lists the fixture's blocks with their shapes", ORT_TEST, async () => {
  const rows = await listLayers(buildFixtureModel());
  const byName = new Map(rows.map((r) => [r.layer, r]));
  assert.deepEqual(byName.get("layer3.1")?.shape, [1, 32, 14, 14]);
  assert.deepEqual(byName.get("layer4.1")?.shape, [1, 64, 7, 7]);
  assert.equal(byName.get("layer3")?.tensor, "/layer3/layer3.1/relu_2/Relu_output_0");
  assert.ok(!byName.has("layer3.1.conv1"), "leaf modules are listed only with --all");
  const all = await listLayers(buildFixtureModel(), { all: true });
  assert.ok(all.some((r) => r.layer === "layer3.1.conv1"));
});
