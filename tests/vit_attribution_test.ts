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
import { noGpu } from "./_helpers/gpu.ts";
import { webgpuPlacement } from "./_helpers/placement.ts";
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

async function attributionError(
  method: AttributionMethod,
  referenceFile: string,
  ep: "wasm" | "webgpu" = "wasm",
): Promise<number> {
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
  assert.ok(
    !generated.some((node) => node.opType === "Shape"),
    "a backward Reshape target came from a Shape op",
  );
  const { x, xRef } = await vitTaps(n);
  const bw = await createSession(backward, { ep });
  try {
    const out = await bw.session.run({
      x,
      ...(method === "deeplift" ? { x_ref: xRef } : {}),
      seed: new ort.Tensor("float32", oneHotSeed(ref.targets, 1000), [n, 1000]),
    });
    const logits = await out.logits.getData() as Float32Array;
    assert.ok(relativeError(logits, ref.logits) < 1e-4);
    const attribution = await out.attribution.getData() as Float32Array;
    return relativeError(attribution, expected.data as Float64Array);
  } finally {
    await bw.session.release();
  }
}

Deno.test("ViT Grad x Act at encoder_layer_7 equals torch autograd (float64)", ORT_TEST, async () => {
  const err = await attributionError("gradxact", "vit_tiny_gradxact.npy");
  console.log(
    `ViT encoder_layer_7 Grad x Act vs torch float64: max relative difference ${err.toExponential(2)}`,
  );
  assert.ok(err < 1e-3, `relative difference ${err}`);
});

Deno.test("ViT DeepLift at encoder_layer_7 equals captum's LayerDeepLift (float64)", ORT_TEST, async () => {
  // captum hooks none of a torchvision ViT's modules after the tap (nn.GELU and the functional softmax inside
  // nn.MultiheadAttention are not in its SUPPORTED_NON_LINEAR), so its DeepLift there is (x - x_ref) * grad.
  const err = await attributionError("deeplift", "vit_tiny_deeplift.npy");
  console.log(
    `ViT encoder_layer_7 DeepLift vs captum float64: max relative difference ${err.toExponential(2)}`,
  );
  assert.ok(err < 1e-3, `relative difference ${err}`);
});

Deno.test(
  "ViT maps: tokens as positions average over channels, the reference's axes over tokens",
  ORT_TEST,
  async () => {
    const model = await readVitTiny();
    const head = headFromTap(model, VIT_TAP, ["N", 50, 24]);
    const { x } = await vitTaps(2);
    const seed = new ort.Tensor("float32", oneHotSeed([3, 417], 1000), [2, 1000]);
    const maps = new Map<number, { map: Float32Array; mean: Float32Array; attribution: Float32Array }>();
    for (const featureAxis of [1, 2]) {
      const backward = buildBackwardGraph(head, {
        method: "gradxact",
        outputs: ["attribution", "map", "mean"],
        featureAxis,
      });
      const session = await createSession(backward, { ep: "wasm" });
      try {
        const out = await session.session.run({ x, seed });
        assert.deepEqual(out.map.dims, featureAxis === 2 ? [2, 50] : [2, 24]);
        maps.set(featureAxis, {
          map: await out.map.getData() as Float32Array,
          mean: await out.mean.getData() as Float32Array,
          attribution: await out.attribution.getData() as Float32Array,
        });
      } finally {
        await session.session.release();
      }
    }
    const a = maps.get(2)!.attribution;
    const expected = { 1: new Float64Array(2 * 24), 2: new Float64Array(2 * 50) };
    const expectedMean = { 1: new Float64Array(2 * 24), 2: new Float64Array(2 * 50) };
    for (let i = 0; i < 2; i++) {
      for (let t = 0; t < 50; t++) {
        for (let c = 0; c < 24; c++) {
          const v = a[(i * 50 + t) * 24 + c];
          expected[2][i * 50 + t] += Math.max(0, v) / 24;
          expectedMean[2][i * 50 + t] += v / 24;
          expected[1][i * 24 + c] += Math.max(0, v) / 50;
          expectedMean[1][i * 24 + c] += v / 50;
        }
      }
    }
    for (const axis of [1, 2] as const) {
      assert.ok(relativeError(maps.get(axis)!.map, expected[axis]) < 1e-5, `map over axis ${axis}`);
      assert.ok(relativeError(maps.get(axis)!.mean, expectedMean[axis]) < 1e-5, `mean over axis ${axis}`);
    }
    assert.throws(
      () => buildBackwardGraph(head, { method: "gradxact", featureAxis: 3 }),
      /featureAxis 3 is not an axis/,
    );
  },
);

Deno.test({
  name:
    "ViT backward graph: every generated node runs on the WebGPU EP (only the head's shape arithmetic on the CPU)",
  ignore: noGpu,
  ...ORT_TEST,
  fn: async () => {
    const head = headFromTap(await readVitTiny(), VIT_TAP, ["N", 50, 24]);
    const placement = await webgpuPlacement(
      buildBackwardGraph(head, { method: "deeplift", samplesPerImage: 2 }),
    );
    console.log(`ViT deeplift backward graph: ${JSON.stringify(placement.counts)}`);
    assert.deepEqual(placement.cpuNodes.filter((n) => n.includes("bw/")), []);
    // What stays on the CPU is torch's integer shape arithmetic of the recomputed forward pass.
    const cpuOps = new Set(placement.cpuNodes.map((n) => n.split(" ")[0]));
    for (const op of cpuOps) {
      assert.ok(["Gather", "Div", "Add", "Mul", "Unsqueeze", "Concat", "Shape", "Cast"].includes(op), op);
    }
  },
});

Deno.test({
  name: "ViT Grad x Act on the WebGPU EP equals torch autograd (float64)",
  ignore: noGpu,
  ...ORT_TEST,
  fn: async () => {
    const err = await attributionError("gradxact", "vit_tiny_gradxact.npy", "webgpu");
    console.log(`ViT encoder_layer_7 Grad x Act on webgpu vs torch float64: ${err.toExponential(2)}`);
    assert.ok(err < 1e-3, `relative difference ${err}`);
  },
});
