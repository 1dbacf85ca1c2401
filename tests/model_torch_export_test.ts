// Layer resolution and the fixture's torch-style naming against graphs that torch's legacy exporter really
// wrote: the node lists of torchvision resnet50/resnet34 exported by torch 1.13.1
// (tools/reference/export_torchvision.py; the 100 MB models themselves are not committed).
import assert from "node:assert/strict";
import type { Model } from "../src/onnx/model.ts";
import { layerCandidates, resolveLayer } from "../src/model/layers.ts";
import { inputNormalizationWarning } from "../src/model/inspect.ts";
import { buildResNet50 } from "../fixtures/resnet50.ts";

interface ExportedNode {
  op: string;
  name: string;
  inputs: string[];
  outputs: string[];
}

async function exportedGraph(name: string): Promise<{ model: Model; output: string }> {
  const url = new URL(`./testdata/torch/${name}_legacy_nodes.json`, import.meta.url);
  const json = JSON.parse(await Deno.readTextFile(url));
  const node = (json.nodes as ExportedNode[]).map((n) => ({
    opType: n.op,
    name: n.name,
    input: n.inputs,
    output: n.outputs,
    attribute: [],
  }));
  const value = (name: string) => ({ name, type: {} });
  const model = {
    irVersion: 8,
    opsetImport: [{ domain: "", version: json.opset }],
    graph: {
      name,
      node,
      initializer: [],
      input: [value(json.input)],
      output: [value(json.output)],
      valueInfo: [],
    },
  } as unknown as Model;
  return { model, output: json.output };
}

/** Nodes as (op, name, activation inputs, outputs): weights and the exporter's shared-bias Identity nodes aside. */
function signature(model: Model, output: string): string[] {
  const g = model.graph;
  const activations = new Set([
    g.input[0].name,
    ...g.node.filter((n) => n.opType !== "Identity").flatMap((n) => n.output),
  ]);
  return g.node.filter((n) => n.opType !== "Identity").map((n) =>
    `${n.opType} ${n.name} (${n.input.filter((i) => activations.has(i)).join(", ")}) -> ${
      n.output.map((o) => (o === output ? "<output>" : o)).join(", ")
    }`
  );
}

Deno.test("real torch exports: layer3.5 and layer4.2 resolve to the blocks' last ReLU", async () => {
  const expected: Record<string, Record<string, string>> = {
    resnet50: {
      "layer3.5": "/layer3/layer3.5/relu_2/Relu_output_0",
      "layer4.2": "/layer4/layer4.2/relu_2/Relu_output_0",
      "layer4": "/layer4/layer4.2/relu_2/Relu_output_0",
    },
    resnet34: {
      "layer3.5": "/layer3/layer3.5/relu_1/Relu_output_0",
      "layer4.2": "/layer4/layer4.2/relu_1/Relu_output_0",
    },
  };
  for (const [name, layers] of Object.entries(expected)) {
    const { model } = await exportedGraph(name);
    for (const [layer, tensor] of Object.entries(layers)) {
      const tap = resolveLayer(model, layer);
      assert.equal(tap.tensor, tensor, `${name} ${layer}`);
      assert.equal(tap.via, "legacy-scope");
    }
    assert.throws(
      () => resolveLayer(model, "layer3.9"),
      /layer3\.9: no module .* Candidates: layer3, layer3\.0/,
    );
  }
});

Deno.test("a model exported inside a wrapper resolves layer3.5 to the wrapped module's block", async () => {
  // torch.onnx.export(nn.Sequential(normalize, resnet)) scopes the ResNet as "/1/layer3/..." and robustness's
  // AttackerModel as "/model/layer3/...": rename the real export's nodes that way.
  for (const prefix of ["1", "model"]) {
    const { model } = await exportedGraph("resnet50");
    for (const n of model.graph.node) {
      if (n.name.startsWith("/")) n.name = `/${prefix}${n.name}`;
    }
    const tap = resolveLayer(model, "layer3.5");
    assert.equal(tap.tensor, "/layer3/layer3.5/relu_2/Relu_output_0");
    assert.equal(resolveLayer(model, `${prefix}.layer4.2`).tensor, "/layer4/layer4.2/relu_2/Relu_output_0");
    assert.ok(layerCandidates(model).includes(`${prefix}.layer3.5`));
  }
  // Two wrapped copies make the short name ambiguous.
  const { model } = await exportedGraph("resnet50");
  const copy = model.graph.node.filter((n) => n.name.startsWith("/")).map((n) => ({
    ...n,
    name: `/b${n.name}`,
    output: n.output.map((o) => `b${o}`),
  }));
  for (const n of model.graph.node) if (n.name.startsWith("/")) n.name = `/a${n.name}`;
  model.graph.node.push(...copy);
  assert.throws(
    () => resolveLayer(model, "layer3.5"),
    /layer3\.5: ambiguous, it names a\.layer3\.5, b\.layer3\.5/,
  );
});

Deno.test("the generated legacy ResNet-50 has the real export's nodes, names and layer candidates", async () => {
  const real = await exportedGraph("resnet50");
  const ours = buildResNet50({ naming: "legacy", baseWidth: 4, numClasses: 10 });
  assert.deepEqual(signature(ours, ours.graph.output[0].name), signature(real.model, real.output));
  assert.deepEqual(layerCandidates(ours).sort(), layerCandidates(real.model).sort());
});

Deno.test("a graph that normalizes its input is flagged; a bare torchvision export is not", async () => {
  const { model } = await exportedGraph("resnet50");
  assert.equal(inputNormalizationWarning(model, "bare.onnx"), undefined);
  // What exporting nn.Sequential(normalize, resnet) gives: Sub and Div on the input before the first Conv.
  const firstConv = model.graph.node.find((n) => n.input.includes("input"))!;
  firstConv.input[0] = "normalized";
  model.graph.node.unshift(
    { opType: "Sub", name: "/0/Sub", input: ["input", "mean"], output: ["centred"], attribute: [] },
    { opType: "Div", name: "/0/Div", input: ["centred", "std"], output: ["normalized"], attribute: [] },
  );
  assert.match(
    inputNormalizationWarning(model, "wrapped.onnx") ?? "",
    /wrapped\.onnx: the graph begins with Sub on its input, .* normalization inside the model/,
  );
});
