// Backward graphs of heads cut from ResNet-topology models at a layer3 block output: the fixture classifier
// (fixtures/fixture_model.ts, tap layer3.1) and, when fixtures/resnet50.ts exists, a random-weight ResNet-50
// cut at layer3.5. The ResNet-50 test is the slow one here (~30-60 s on 2 cores): it runs layer4 + fc
// forward/backward on the wasm EP and finite differences of the head.
import assert from "node:assert/strict";
import { type AttributionMethod, buildBackwardGraph, oneHotSeed } from "../src/attribution/backward.ts";
import {
  finiteDifferences,
  finiteDifferenceSteps,
  type HostTensor,
  largestEntries,
  relativeDifference,
  runOnce,
} from "../src/attribution/gradcheck.ts";
import { resNet50Layer4Head, seededNormal } from "../src/attribution/toy_heads.ts";
import { headFromTap } from "../src/model/surgery.ts";
import type { Model } from "../src/onnx/model.ts";
import { configureWasm } from "../src/runtime/ort.ts";
import { buildFixtureModel } from "../fixtures/fixture_model.ts";
import { CLASS_COUNT, FIXTURE_TAP_LAYER3, STAGE_CHANNELS } from "../fixtures/spec.ts";

configureWasm(1);
const ORT = { sanitizeResources: false, sanitizeOps: false };
const RESNET50_TAP = "/layer3/layer3.5/relu_2/Relu_output_0";

// fixtures/resnet50.ts is written by another helper; load it only if it is there.
type ResNet50Builder = (opts: { seed: number; naming: "legacy"; foldBatchNorm: boolean }) => Model;
let buildResNet50: ResNet50Builder | undefined;
try {
  const url = new URL("../fixtures/resnet50.ts", import.meta.url);
  await Deno.stat(url);
  buildResNet50 = (await import(url.href)).buildResNet50;
} catch {
  console.log("attribution_resnet50_test: fixtures/resnet50.ts is not available; using toy_heads' layer4 head");
}

function activations(dims: number[], seed: number): HostTensor {
  const normal = seededNormal(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return { data: Float32Array.from({ length: n }, () => Math.max(0, normal() * 0.8 + 0.2)), dims };
}

async function run(head: Model, method: AttributionMethod, feeds: Record<string, HostTensor>) {
  const model = buildBackwardGraph(head, { method, outputs: ["attribution", "logits", "grad"] });
  return await runOnce(model, feeds, "wasm");
}

/** FD check of the gradient and DeepLift's summation-to-delta on one head; returns [fdError, deltaError]. */
async function checkHead(
  head: Model,
  tapDims: number[],
  classes: number,
  targets: number[],
  label: string,
  entriesPerRow: number,
): Promise<[number, number]> {
  const batch = targets.length;
  const x = activations([batch, ...tapDims], 101);
  const xRef = activations([1, ...tapDims], 102);
  const seed = { data: oneHotSeed(targets, classes), dims: [batch, classes] };

  const { grad, logits: plain } = await run(head, "gradxact", { x, seed });
  const entries = largestEntries(grad.data, batch, entriesPerRow);
  const steps = finiteDifferenceSteps(grad.data, entries, plain);
  const fd = await finiteDifferences(head, x, seed, entries, steps);
  let fdError = 0;
  entries.forEach((e, j) => (fdError = Math.max(fdError, Math.abs(fd[j] - grad.data[e]) / Math.abs(grad.data[e]))));
  console.log(
    `${label}: worst relative error of ${entries.length} largest gradient entries vs central FD ${fdError} ` +
      `(steps ${Math.min(...steps).toPrecision(2)}..${Math.max(...steps).toPrecision(2)})`,
  );

  const { attribution, logits } = await run(head, "deeplift", { x, x_ref: xRef, seed });
  const inputName = head.graph.input[0].name;
  const refLogits = Object.values(await runOnce(head, { [inputName]: xRef }, "wasm"))[0].data;
  const per = attribution.data.length / batch;
  let deltaError = 0;
  for (let n = 0; n < batch; n++) {
    let sum = 0;
    for (let i = 0; i < per; i++) sum += attribution.data[n * per + i];
    const delta = logits.data[n * classes + targets[n]] - refLogits[targets[n]];
    console.log(`${label} row ${n}: sum of DeepLift attributions ${sum}, logit delta ${delta}`);
    deltaError = Math.max(deltaError, Math.abs(sum - delta) / Math.abs(delta));
  }
  // Without the baseline's influence (x_ref = x) DeepLift's multipliers are the ordinary gradient.
  const same = await run(head, "deeplift", { x, x_ref: { data: x.data.slice(0, per), dims: [1, ...tapDims] }, seed });
  assert.ok(relativeDifference(same.grad.data.slice(0, per), grad.data.slice(0, per)) < 1e-5);
  return [fdError, deltaError];
}

Deno.test({
  name: "fixture classifier head from layer3.1: gradient vs finite differences, DeepLift summation-to-delta",
  ...ORT,
  fn: async () => {
    const tapDims = [STAGE_CHANNELS.layer3, 14, 14];
    const head = headFromTap(buildFixtureModel(), FIXTURE_TAP_LAYER3, ["batch", ...tapDims]);
    const [fdError, deltaError] = await checkHead(head, tapDims, CLASS_COUNT, [0, CLASS_COUNT - 1], "fixture", 6);
    assert.ok(fdError <= 1e-3);
    assert.ok(deltaError <= 1e-3);
  },
});

Deno.test({
  name: "[slow, ~30-60 s] ResNet-50 head from layer3.5 (random weights): gradient vs FD, summation-to-delta",
  ...ORT,
  fn: async () => {
    const tapDims = [1024, 14, 14];
    // The generated full ResNet-50 when it exists, else the same topology built here (layer4 + GAP + fc).
    const head = buildResNet50
      ? headFromTap(buildResNet50({ seed: 3, naming: "legacy", foldBatchNorm: false }), RESNET50_TAP, [
        "batch",
        ...tapDims,
      ])
      : resNet50Layer4Head(3);
    const label = buildResNet50 ? "ResNet-50 (fixtures/resnet50.ts)" : "ResNet-50 layer4 head (toy_heads.ts)";
    const [fdError, deltaError] = await checkHead(head, tapDims, 1000, [249, 430], label, 4);
    assert.ok(fdError <= 1e-3);
    assert.ok(deltaError <= 1e-3);
  },
});
