// Backward graphs of heads cut from ResNet-topology models at a layer3 block output: the fixture classifier
// (fixtures/fixture_model.ts, tap layer3.1) and a random-weight ResNet-50 (fixtures/resnet50.ts) cut at
// layer3.5. The fixture's head is checked on the wasm and the native CPU EP. The ResNet-50 test is the slow one
// here: it runs layer4 + fc forward/backward and finite differences of the head, on the native CPU EP where it
// loads (~20 s on 2 cores) and on wasm elsewhere (~30-60 s).
import assert from "node:assert/strict";
import { type AttributionMethod, buildBackwardGraph, oneHotSeed } from "../src/backward/mod.ts";
import {
  finiteDifferences,
  finiteDifferenceSteps,
  type HostTensor,
  largestEntries,
  relativeDifference,
  runOnce,
} from "./_helpers/gradcheck.ts";
import { seededNormal } from "./_helpers/toy_heads.ts";
import { headFromTap } from "../src/model/surgery.ts";
import type { Model } from "../src/onnx/model.ts";
import { configureWasm, type Ep } from "../src/runtime/ort.ts";
import { CPU_EPS, noNative } from "./_helpers/eps.ts";
import { buildFixtureModel } from "../fixtures/fixture_model.ts";
import { buildResNet50 } from "../fixtures/resnet50.ts";
import { CLASS_COUNT, FIXTURE_TAP_LAYER3, STAGE_CHANNELS } from "../fixtures/spec.ts";

configureWasm(1);
const ORT = { sanitizeResources: false, sanitizeOps: false };
const RESNET50_TAP = "/layer3/layer3.5/relu_2/Relu_output_0";

function activations(dims: number[], seed: number): HostTensor {
  const normal = seededNormal(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return { data: Float32Array.from({ length: n }, () => Math.max(0, normal() * 0.8 + 0.2)), dims };
}

async function run(head: Model, method: AttributionMethod, feeds: Record<string, HostTensor>, ep: Ep) {
  const model = buildBackwardGraph(head, { method, outputs: ["attribution", "logits", "grad"] });
  return await runOnce(model, feeds, ep);
}

/**
 * The gradient against central differences of the head (plain, and with the ReLU pattern frozen at x, see
 * frozenReluHead), and DeepLift's summation-to-delta. Returns the worst relative errors.
 */
async function checkHead(
  head: Model,
  tapDims: number[],
  classes: number,
  targets: number[],
  label: string,
  entriesPerRow: number,
  ep: Ep,
): Promise<{ plain: number; frozen: number; delta: number }> {
  const batch = targets.length;
  const x = activations([batch, ...tapDims], 101);
  const xRef = activations([1, ...tapDims], 102);
  const seed = { data: oneHotSeed(targets, classes), dims: [batch, classes] };

  const { grad, logits: plainLogits } = await run(head, "gradxact", { x, seed }, ep);
  const entries = largestEntries(grad.data, batch, entriesPerRow);
  const worst = (fd: Float64Array) =>
    Math.max(...entries.map((e, j) => Math.abs(fd[j] - grad.data[e]) / Math.abs(grad.data[e])));
  const steps = finiteDifferenceSteps(grad.data, entries, plainLogits, seed, { max: 0.03 });
  const plain = worst(await finiteDifferences(head, x, seed, entries, steps, { ep }));
  const frozenSteps = finiteDifferenceSteps(grad.data, entries, plainLogits, seed, { min: 1, max: 10 });
  const frozen = worst(
    await finiteDifferences(head, x, seed, entries, frozenSteps, { frozenRelu: true, ep }),
  );
  console.log(
    `${label}: ${entries.length} largest gradient entries, worst relative error vs central FD: plain ${plain} ` +
      `(steps ${Math.min(...steps).toPrecision(2)}..${
        Math.max(...steps).toPrecision(2)
      }), ReLU pattern frozen ` +
      `${frozen} (steps ${Math.min(...frozenSteps).toPrecision(2)}..${
        Math.max(...frozenSteps).toPrecision(2)
      })`,
  );

  const { attribution, logits } = await run(head, "deeplift", { x, x_ref: xRef, seed }, ep);
  const inputName = head.graph.input[0].name;
  const refLogits = Object.values(await runOnce(head, { [inputName]: xRef }, ep))[0].data;
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
  const same = await run(head, "deeplift", {
    x,
    x_ref: { data: x.data.slice(0, per), dims: [1, ...tapDims] },
    seed,
  }, ep);
  assert.ok(relativeDifference(same.grad.data.slice(0, per), grad.data.slice(0, per)) < 1e-5);
  return { plain, frozen, delta: deltaError };
}

for (const { ep, ignore } of CPU_EPS) {
  Deno.test({
    name: `fixture classifier head from layer3.1: gradient vs finite differences, summation-to-delta, ${ep}`,
    ignore,
    ...ORT,
    fn: async () => {
      const tapDims = [STAGE_CHANNELS.layer3, 14, 14];
      const head = headFromTap(buildFixtureModel(), FIXTURE_TAP_LAYER3, ["batch", ...tapDims]);
      const errors = await checkHead(
        head,
        tapDims,
        CLASS_COUNT,
        [0, CLASS_COUNT - 1],
        `fixture ${ep}`,
        6,
        ep,
      );
      assert.ok(errors.plain <= 1e-3);
      assert.ok(errors.frozen <= 1e-3);
      assert.ok(errors.delta <= 1e-3);
    },
  });
}

/** The faster CPU EP for the big head. */
const BIG_EP: Ep = noNative ? "wasm" : "cpu";

Deno.test({
  name: `[slow] ResNet-50 head from layer3.5 (random weights): gradient vs FD, summation-to-delta, ${BIG_EP}`,
  ...ORT,
  fn: async () => {
    const tapDims = [1024, 14, 14];
    const cut = (foldBatchNorm: boolean) =>
      headFromTap(buildResNet50({ seed: 3, naming: "legacy", foldBatchNorm }), RESNET50_TAP, [
        "batch",
        ...tapDims,
      ]);
    const head = cut(false);
    const errors = await checkHead(
      head,
      tapDims,
      1000,
      [249, 430],
      `ResNet-50 layer3.5 head ${BIG_EP}`,
      4,
      BIG_EP,
    );
    // float32 rounding and ReLU kinks limit plain central differences here to ~1e-2 (see frozenReluHead).
    assert.ok(errors.plain <= 3e-2);
    assert.ok(errors.frozen <= 1e-3);
    assert.ok(errors.delta <= 1e-3);

    // BN folded into the convs is the same function: the same gradient through Conv-only rules.
    const x = activations([2, ...tapDims], 103);
    const seed = { data: oneHotSeed([1, 999], 1000), dims: [2, 1000] };
    const withBn = (await run(head, "gradxact", { x, seed }, BIG_EP)).grad.data;
    const folded = (await run(cut(true), "gradxact", { x, seed }, BIG_EP)).grad.data;
    const rel = relativeDifference(folded, withBn);
    console.log(`ResNet-50 head: gradient with BN folded vs BN nodes, relative difference ${rel}`);
    assert.ok(rel <= 1e-4);
  },
});
