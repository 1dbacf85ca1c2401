// The random ResNet generator: torchvision's ResNet-50 parameter count and tap shapes, legacy and dynamo
// naming, and the same function whatever the naming or BN folding (same seed).
import assert from "node:assert/strict";
import * as ort from "onnxruntime-web/webgpu";
import {
  buildResNet,
  buildResNet50,
  RESNET50_PARAMETERS,
  torchParameterCount,
} from "../fixtures/resnet50.ts";
import { encodeModel, valueInfo } from "../src/onnx/model.ts";
import type { Model } from "../src/onnx/model.ts";

ort.env.wasm.numThreads = 1;
const opts = { sanitizeResources: false, sanitizeOps: false };

const scopesOf = (m: Model, value: string) =>
  m.graph.node.find((n) => n.output.includes(value))?.metadataProps?.find((p) =>
    p.key === "pkg.torch.onnx.name_scopes"
  )?.value;

async function runWithTaps(model: Model, taps: string[], size: number, seed = 1) {
  for (const t of taps) model.graph.output.push(valueInfo(t, ["batch_size", "c", "h", "w"]));
  const session = await ort.InferenceSession.create(encodeModel(model), { executionProviders: ["wasm"] });
  const x = new Float32Array(3 * size * size);
  for (let i = 0; i < x.length; i++) x[i] = 1.5 * Math.sin(i * 0.37 + seed);
  return session.run({ input: new ort.Tensor("float32", x, [1, 3, size, size]) });
}

function stats(t: ort.Tensor) {
  const d = t.data as Float32Array;
  let s = 0, s2 = 0, finite = true;
  for (const v of d) (s += v), (s2 += v * v), (finite &&= Number.isFinite(v));
  const mean = s / d.length;
  return { mean, std: Math.sqrt(s2 / d.length - mean * mean), finite };
}

Deno.test(
  "buildResNet50 legacy: torchvision names, 25,557,032 parameters, tap shapes on wasm",
  opts,
  async () => {
    const t0 = performance.now();
    const model = buildResNet50({ seed: 0 });
    const buildMs = performance.now() - t0;
    assert.ok(buildMs < 30_000, `building took ${buildMs} ms`);
    assert.equal(torchParameterCount(model), RESNET50_PARAMETERS);
    assert.equal(model.opsetImport[0].version, 17);
    const names = new Set(model.graph.node.map((n) => n.name));
    for (
      const n of [
        "/conv1/Conv",
        "/maxpool/MaxPool",
        "/layer1/layer1.0/downsample/downsample.0/Conv",
        "/layer3/layer3.5/conv2/Conv",
        "/layer3/layer3.5/Add",
        "/layer4/layer4.2/relu_2/Relu",
        "/avgpool/GlobalAveragePool",
        "/Flatten",
        "/fc/Gemm",
      ]
    ) assert.ok(names.has(n), n);
    assert.equal(
      model.graph.node.filter((n) => n.opType === "BatchNormalization").length,
      0,
      "legacy folds BN",
    );
    assert.equal(model.graph.node.filter((n) => n.opType === "Conv").length, 53);
    const taps = ["/layer3/layer3.5/relu_2/Relu_output_0", "/layer4/layer4.2/relu_2/Relu_output_0"];
    const out = await runWithTaps(model, taps, 224);
    assert.deepEqual(out[taps[0]].dims, [1, 1024, 14, 14]);
    assert.deepEqual(out[taps[1]].dims, [1, 2048, 7, 7]);
    assert.deepEqual(out.output.dims, [1, 1000]);
    for (const t of [...taps, "output"]) {
      const s = stats(out[t]);
      assert.ok(s.finite, `${t} has non-finite values`);
      assert.ok(
        s.std > 0.1 && s.std < 20,
        `${t}: std ${s.std} (activations must neither vanish nor explode)`,
      );
    }
  },
);

Deno.test("buildResNet50 dynamo: opset 18, relu_39/relu_48 with name-scope metadata, same count", () => {
  const model = buildResNet50({ naming: "dynamo" });
  assert.equal(model.opsetImport[0].version, 18);
  assert.equal(torchParameterCount(model), RESNET50_PARAMETERS);
  assert.equal(model.graph.node.filter((n) => n.opType === "BatchNormalization").length, 53);
  assert.equal(scopesOf(model, "relu_39"), "['', 'layer3', 'layer3.5', 'layer3.5.relu']");
  assert.equal(scopesOf(model, "relu_48"), "['', 'layer4', 'layer4.2', 'layer4.2.relu']");
  assert.equal(scopesOf(model, "add_12"), "['', 'layer3', 'layer3.5']");
  const relu39 = model.graph.node.find((n) => n.output[0] === "relu_39")!;
  assert.equal(relu39.name, "node_relu_39");
  assert.ok(
    relu39.metadataProps?.some((p) =>
      p.key === "pkg.torch.onnx.class_hierarchy" && p.value.includes("Bottleneck")
    ),
  );
  // Execution order: conv1, then layer1.0's conv1..conv3, then its downsample.0.
  assert.equal(
    scopesOf(model, "conv2d_4"),
    "['', 'layer1', 'layer1.0', 'layer1.0.downsample', 'layer1.0.downsample.0']",
  );
  for (const n of model.graph.node) {
    assert.ok(
      n.metadataProps?.some((p) => p.key === "pkg.torch.onnx.name_scopes"),
      `${n.name} lacks name scopes`,
    );
  }
});

Deno.test("buildResNet: naming and BN folding do not change the function (same seed)", opts, async () => {
  const depths = [1, 1, 1, 1];
  const variants = [
    { naming: "legacy", foldBatchNorm: true },
    { naming: "legacy", foldBatchNorm: false },
    { naming: "dynamo", foldBatchNorm: false },
    { naming: "dynamo", foldBatchNorm: true },
  ] as const;
  const logits: Float32Array[] = [];
  for (const v of variants) {
    const model = buildResNet(depths, { ...v, seed: 5, baseWidth: 8, numClasses: 10, inputSize: 64 });
    const tap = v.naming === "legacy" ? "/layer3/layer3.0/relu_2/Relu_output_0" : "relu_9";
    const out = await runWithTaps(model, [tap], 64);
    assert.deepEqual(out[tap].dims, [1, 128, 4, 4], `${v.naming} ${v.foldBatchNorm}`);
    logits.push(out.output.data as Float32Array);
  }
  const ref = logits[0];
  assert.ok(new Set(ref).size > 1, "logits must not all be equal");
  for (const l of logits.slice(1)) {
    l.forEach((v, k) =>
      assert.ok(Math.abs(v - ref[k]) <= 1e-4 * (1 + Math.abs(ref[k])), `logit ${k}: ${v} vs ${ref[k]}`)
    );
  }
  // A different seed gives different weights.
  const other = await runWithTaps(
    buildResNet(depths, { seed: 6, baseWidth: 8, numClasses: 10, inputSize: 64 }),
    [],
    64,
  );
  assert.notDeepEqual(other.output.data, ref);
});
