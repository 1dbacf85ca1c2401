// The generated backward graphs on small heads: gradients against finite differences, DeepLift against a CPU
// reference and its summation-to-delta property, the `map` output, wasm vs WebGPU, and clear failures.
import assert from "node:assert/strict";
import {
  attributionGraphCache,
  type AttributionMethod,
  type BackwardOptions,
  buildBackwardGraph,
  oneHotSeed,
} from "../src/backward/mod.ts";
import {
  finiteDifferences,
  finiteDifferenceSteps,
  type HostTensor,
  largestEntries,
  relativeDifference,
  runOnce,
} from "./_helpers/gradcheck.ts";
import { parsePlacement, webgpuPlacement } from "./_helpers/placement.ts";
import { opZooHead, seededNormal, toyResNetHead } from "./_helpers/toy_heads.ts";
import { seededRandom } from "../src/runtime/random.ts";
import { GraphBuilder } from "../src/onnx/builder.ts";
import { declaredShape, int64Tensor, type Model } from "../src/onnx/model.ts";
import { noGpu } from "./_helpers/gpu.ts";
import { TEST_EPS } from "./_helpers/eps.ts";
import { configureWasm, type Ep } from "../src/runtime/ort.ts";

configureWasm(1);
const ORT = { sanitizeResources: false, sanitizeOps: false };
const BATCH = 3;
const CLASSES = 5;

/** Post-ReLU-like activations for a head's tap: non-negative, some exact zeros. */
function tapActivations(head: Model, batch: number, seed: number): HostTensor {
  const dims = [batch, ...declaredShape(head.graph, head.graph.input[0].name)!.slice(1)];
  const normal = seededNormal(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return { data: Float32Array.from({ length: n }, () => Math.max(0, normal() + 0.3)), dims };
}

function seedFor(targets: number[]): HostTensor {
  return { data: oneHotSeed(targets, CLASSES), dims: [targets.length, CLASSES] };
}

async function backward(
  head: Model,
  method: AttributionMethod,
  feeds: { x: HostTensor; xRef?: HostTensor; seed: HostTensor },
  ep: Ep = "wasm",
  options: Partial<BackwardOptions> = {},
): Promise<Record<string, HostTensor>> {
  const model = buildBackwardGraph(head, {
    method,
    outputs: ["attribution", "map", "logits", "grad"],
    ...options,
  });
  const inputs: Record<string, HostTensor> = { x: feeds.x, seed: feeds.seed };
  if (method === "deeplift") inputs.x_ref = feeds.xRef!;
  return await runOnce(model, inputs, ep);
}

async function gradientCheck(
  head: Model,
  label: string,
  options: Partial<BackwardOptions> = {},
): Promise<number> {
  const x = tapActivations(head, BATCH, 11);
  const seed = seedFor([1, 4, 2]);
  const { grad, attribution, logits } = await backward(head, "gradxact", { x, seed }, "wasm", options);
  const entries = largestEntries(grad.data, BATCH, 6);
  const fd = await finiteDifferences(
    head,
    x,
    seed,
    entries,
    finiteDifferenceSteps(grad.data, entries, logits, seed),
  );
  let worst = 0;
  entries.forEach((e, j) => {
    worst = Math.max(worst, Math.abs(fd[j] - grad.data[e]) / Math.abs(grad.data[e]));
    // gradxact multiplies by the input.
    assert.ok(
      Math.abs(attribution.data[e] - x.data[e] * grad.data[e]) <= 1e-6 * Math.abs(grad.data[e]) + 1e-12,
    );
  });
  console.log(
    `${label} (${options.convInputGradient ?? "conv"}): ${entries.length} largest gradient entries, ` +
      `worst relative error vs central FD ${worst}`,
  );
  return worst;
}

Deno.test({
  name:
    "gradxact: gradient of a ResNet-like head (BN, downsample, stride, MaxPool) matches finite differences",
  ...ORT,
  fn: async () => {
    for (const convInputGradient of ["conv", "convtranspose"] as const) {
      assert.ok(await gradientCheck(toyResNetHead(), "toy ResNet head", { convInputGradient }) <= 1e-3);
    }
  },
});

Deno.test({
  name:
    "gradxact: gradient of the op-zoo head (grouped/dilated conv, pools, Concat, MatMul, Gemm) matches FD",
  ...ORT,
  fn: async () => {
    for (const convInputGradient of ["conv", "convtranspose"] as const) {
      assert.ok(await gradientCheck(opZooHead(), "op zoo head", { convInputGradient }) <= 1e-3);
    }
  },
});

Deno.test({
  name: "the generated graph gives the same results at opsets 12, 17 and 18 (attribute vs input forms)",
  ...ORT,
  fn: async () => {
    const x = tapActivations(opZooHead(), 2, 5);
    const xRef = tapActivations(opZooHead(), 1, 6);
    const seed = seedFor([0, 3]);
    const results = [];
    for (const opset of [12, 17, 18]) {
      results.push(await backward(opZooHead({ opset, product: false }), "deeplift", { x, xRef, seed }));
    }
    for (const r of results.slice(1)) {
      assert.ok(relativeDifference(r.attribution.data, results[0].attribution.data) < 1e-6);
      assert.ok(relativeDifference(r.map.data, results[0].map.data) < 1e-6);
    }
  },
});

/** Summation-to-delta: sum over (C,H,W) of the attribution = logit_t(x) - logit_t(x_ref), per row. */
async function summationToDelta(head: Model, label: string, ep: Ep = "wasm"): Promise<number> {
  const x = tapActivations(head, BATCH, 21);
  const xRef = tapActivations(head, 1, 22);
  const targets = [3, 0, 4];
  const { attribution, logits } = await backward(head, "deeplift", { x, xRef, seed: seedFor(targets) }, ep);
  const refLogits = (await runOnce(head, { tap: xRef }, ep)).logits.data;
  const per = attribution.data.length / BATCH;
  let worst = 0;
  for (let n = 0; n < BATCH; n++) {
    let sum = 0;
    for (let i = 0; i < per; i++) sum += attribution.data[n * per + i];
    const delta = logits.data[n * CLASSES + targets[n]] - refLogits[targets[n]];
    const rel = Math.abs(sum - delta) / Math.abs(delta);
    console.log(
      `${label} [${ep}] row ${n}: sum of attributions ${sum.toFixed(6)}, logit delta ${delta.toFixed(6)}`,
    );
    worst = Math.max(worst, rel);
  }
  return worst;
}

Deno.test({
  name:
    "deeplift: attributions sum to the logit difference (toy ResNet head with MaxPool; op zoo without products)",
  ...ORT,
  fn: async () => {
    assert.ok(await summationToDelta(toyResNetHead(), "toy ResNet") <= 1e-3);
    assert.ok(await summationToDelta(opZooHead({ product: false }), "op zoo") <= 1e-3);
  },
});

/** x -> Conv1x1 -> Relu -> MaxPool(2, 2) -> GAP -> Gemm, with its weights for the CPU reference. */
function tinyHead(c: number, m: number, size: number) {
  const normal = seededNormal(99);
  const w1 = Float32Array.from({ length: m * c }, () => normal() * 0.7);
  const b1 = Float32Array.from({ length: m }, () => normal() * 0.3);
  const w2 = Float32Array.from({ length: CLASSES * m }, () => normal());
  const b = new GraphBuilder("tiny");
  b.input("tap", ["batch", c, size, size]);
  const a = b.node("Conv", ["tap", b.weight("w1", [m, c, 1, 1], w1), b.weight("b1", [m], b1)], {
    kernel_shape: [1, 1],
  });
  const p = b.node("MaxPool", [b.node("Relu", [a])], { kernel_shape: [2, 2], strides: [2, 2] });
  const flat = b.node("Flatten", [b.node("GlobalAveragePool", [p])]);
  b.node("Gemm", [flat, b.weight("w2", [CLASSES, m], w2)], { transB: 1 }, { outputs: ["logits"] });
  b.output("logits", ["batch", CLASSES]);
  return { head: b.model(17), w1, b1, w2 };
}

/** captum's DeepLift (Rescale at the ReLU, its maxpool rule) on the tiny head, in float64. */
function deepliftReference(
  t: ReturnType<typeof tinyHead>,
  c: number,
  m: number,
  size: number,
  x: Float32Array,
  xRef: Float32Array,
  seedRow: Float32Array,
): Float64Array {
  const hw = size * size;
  const ps = size / 2;
  const eps = 1e-10;
  const forward = (v: Float32Array) => {
    const a = new Float64Array(m * hw);
    for (let j = 0; j < m; j++) {
      for (let s = 0; s < hw; s++) {
        let acc = t.b1[j];
        for (let i = 0; i < c; i++) acc += t.w1[j * c + i] * v[i * hw + s];
        a[j * hw + s] = acc;
      }
    }
    const y = a.map((z) => Math.max(0, z));
    const pooled = new Float64Array(m * ps * ps);
    const argmax = new Int32Array(m * ps * ps);
    for (let j = 0; j < m; j++) {
      for (let oi = 0; oi < ps; oi++) {
        for (let oj = 0; oj < ps; oj++) {
          let best = -Infinity;
          let at = -1;
          for (let di = 0; di < 2; di++) {
            for (let dj = 0; dj < 2; dj++) {
              const idx = j * hw + (2 * oi + di) * size + 2 * oj + dj;
              if (y[idx] > best) [best, at] = [y[idx], idx];
            }
          }
          pooled[(j * ps + oi) * ps + oj] = best;
          argmax[(j * ps + oi) * ps + oj] = at;
        }
      }
    }
    return { a, y, pooled, argmax };
  };
  const f = forward(x);
  const r = forward(xRef);
  const gPool = new Float64Array(m * ps * ps);
  for (let j = 0; j < m; j++) {
    let gGap = 0;
    for (let k = 0; k < CLASSES; k++) gGap += seedRow[k] * t.w2[k * m + j];
    for (let q = 0; q < ps * ps; q++) gPool[j * ps * ps + q] = gGap / (ps * ps);
  }
  const routed = new Float64Array(m * hw);
  const ordinary = new Float64Array(m * hw);
  gPool.forEach((g, q) => {
    const top = Math.max(f.pooled[q], r.pooled[q]);
    routed[f.argmax[q]] += g * (top - r.pooled[q]);
    routed[r.argmax[q]] += g * (f.pooled[q] - top);
    ordinary[f.argmax[q]] += g;
  });
  const gA = new Float64Array(m * hw);
  for (let i = 0; i < m * hw; i++) {
    const dY = f.y[i] - r.y[i];
    const gY = Math.abs(dY) < eps ? ordinary[i] : routed[i] / dY;
    const dA = f.a[i] - r.a[i];
    gA[i] = gY * (Math.abs(dA) < eps ? (f.a[i] > 0 ? 1 : 0) : dY / dA);
  }
  const attribution = new Float64Array(c * hw);
  for (let i = 0; i < c; i++) {
    for (let s = 0; s < hw; s++) {
      let g = 0;
      for (let j = 0; j < m; j++) g += t.w1[j * c + i] * gA[j * hw + s];
      attribution[i * hw + s] = (x[i * hw + s] - xRef[i * hw + s]) * g;
    }
  }
  return attribution;
}

Deno.test({
  name: "deeplift: matches a float64 CPU reference of captum's Rescale and maxpool rules (ties included)",
  ...ORT,
  fn: async () => {
    const [c, m, size] = [3, 4, 6];
    const t = tinyHead(c, m, size);
    const u = seededRandom(5);
    // Coarse values make exact ties inside pooling windows and between x and x_ref.
    const coarse = (n: number) => Float32Array.from({ length: n }, () => Math.round(u() * 4) / 2);
    const x = coarse(2 * c * size * size);
    const xRef = coarse(c * size * size);
    x.set(xRef.subarray(0, size), 0); // example 0 equals the baseline on part of channel 0
    const seed = seedFor([2, 1]);
    const { attribution } = await backward(t.head, "deeplift", {
      x: { data: x, dims: [2, c, size, size] },
      xRef: { data: xRef, dims: [1, c, size, size] },
      seed,
    });
    const per = c * size * size;
    for (let n = 0; n < 2; n++) {
      const expected = deepliftReference(
        t,
        c,
        m,
        size,
        x.subarray(n * per, (n + 1) * per),
        xRef,
        seed.data.subarray(n * CLASSES, (n + 1) * CLASSES),
      );
      const rel = relativeDifference(attribution.data.subarray(n * per, (n + 1) * per), expected);
      console.log(`tiny head row ${n}: relative difference to the CPU reference ${rel}`);
      assert.ok(rel <= 1e-5);
    }
  },
});

Deno.test({
  name: "map = mean over channels of ReLU(attribution); logits = the head's own output",
  ...ORT,
  fn: async () => {
    const head = toyResNetHead({ seed: 3 });
    const x = tapActivations(head, BATCH, 31);
    const xRef = tapActivations(head, 1, 32);
    const out = await backward(head, "deeplift", { x, xRef, seed: seedFor([0, 1, 2]) });
    const [n, ch, h, w] = out.attribution.dims;
    assert.deepEqual(out.map.dims, [n, h, w]);
    const expected = new Float64Array(n * h * w);
    for (let b = 0; b < n; b++) {
      for (let c = 0; c < ch; c++) {
        for (let s = 0; s < h * w; s++) {
          expected[b * h * w + s] += Math.max(0, out.attribution.data[(b * ch + c) * h * w + s]) / ch;
        }
      }
    }
    assert.ok(relativeDifference(out.map.data, expected) <= 1e-6);
    const direct = await runOnce(head, { tap: x }, "wasm");
    assert.ok(relativeDifference(out.logits.data, direct.logits.data) <= 1e-6);
  },
});

Deno.test({
  name: "samplesPerImage averages each image's noisy copies before the ReLU of the map (SmoothGrad)",
  ...ORT,
  fn: async () => {
    const head = toyResNetHead({ seed: 4 });
    const x = tapActivations(head, 4, 51); // 2 images x 2 noisy copies, image-major
    const xRef = tapActivations(head, 1, 52);
    const seed = seedFor([1, 1, 3, 3]);
    const rows = await backward(head, "deeplift", { x, xRef, seed });
    const model = buildBackwardGraph(head, { method: "deeplift", samplesPerImage: 2 });
    const smooth = await runOnce(model, { x, x_ref: xRef, seed }, "wasm");
    const [, ch, h, w] = x.dims;
    const per = ch * h * w;
    assert.deepEqual(smooth.attribution.dims, [2, ch, h, w]);
    assert.deepEqual(smooth.map.dims, [2, h, w]);
    const mean = new Float64Array(2 * per);
    for (let i = 0; i < 2 * per; i++) {
      const image = Math.floor(i / per);
      const j = i % per;
      mean[i] =
        (rows.attribution.data[2 * image * per + j] + rows.attribution.data[(2 * image + 1) * per + j]) / 2;
    }
    assert.ok(relativeDifference(smooth.attribution.data, mean) <= 1e-6);
    const map = new Float64Array(2 * h * w);
    for (let i = 0; i < mean.length; i++) {
      map[Math.floor(i / per) * h * w + (i % (h * w))] += Math.max(0, mean[i]) / ch;
    }
    assert.ok(relativeDifference(smooth.map.data, map) <= 1e-6);
  },
});

for (const { ep, ignore } of TEST_EPS.filter((e) => e.ep !== "wasm")) {
  Deno.test({
    name: `wasm and ${ep} agree on the generated graphs, op zoo included (relative 1e-4)`,
    ignore,
    ...ORT,
    fn: async () => {
      for (const [label, head] of [["toy ResNet", toyResNetHead()], ["op zoo", opZooHead()]] as const) {
        const x = tapActivations(head, BATCH, 41);
        const xRef = tapActivations(head, 1, 42);
        const seed = seedFor([1, 2, 3]);
        for (const method of ["gradxact", "deeplift"] as const) {
          const wasm = await backward(head, method, { x, xRef, seed }, "wasm");
          const other = await backward(head, method, { x, xRef, seed }, ep);
          for (const k of ["attribution", "map", "logits", "grad"]) {
            const rel = relativeDifference(other[k].data, wasm[k].data);
            console.log(`${label} ${method} ${k}: ${ep} vs wasm relative difference ${rel}`);
            assert.ok(rel <= 1e-4, `${label} ${method} ${k}: ${rel}`);
          }
        }
      }
      assert.ok(await summationToDelta(toyResNetHead(), "toy ResNet", ep) <= 1e-3);
    },
  });
}

Deno.test({
  name: "every node of the generated graphs is placed on the WebGPU EP (no CPU fallback)",
  ignore: noGpu,
  fn: async () => {
    for (const [label, head] of [["toy ResNet", toyResNetHead()], ["op zoo", opZooHead()]] as const) {
      const placement = await webgpuPlacement(
        buildBackwardGraph(head, { method: "deeplift", samplesPerImage: 3 }),
      );
      console.log(`${label} deeplift backward graph: ${JSON.stringify(placement.counts)}`);
      assert.deepEqual(placement.cpuNodes, []);
      assert.deepEqual(Object.keys(placement.counts), ["WebGpuExecutionProvider"]);
    }
  },
});

Deno.test({
  name: "shape arithmetic on the tap (Shape -> Gather -> Unsqueeze -> Concat -> Reshape) carries no gradient",
  ...ORT,
  fn: async () => {
    const b = new GraphBuilder("dynamic_flatten");
    b.input("tap", ["batch", 4, 3, 3]);
    const pooled = b.node("GlobalAveragePool", [b.node("Relu", ["tap"])]);
    b.initializers.push(int64Tensor("zero", [], [0]));
    const n = b.node("Gather", [b.node("Shape", [pooled]), "zero"]);
    const target = b.node(
      "Concat",
      [b.node("Unsqueeze", [n, b.int64s("axes", [0])]), b.int64s("rest", [-1])],
      {
        axis: 0,
      },
    );
    const flat = b.node("Reshape", [pooled, target]);
    const normal = seededNormal(8);
    const w = b.weight("fc", [CLASSES, 4], Float32Array.from({ length: CLASSES * 4 }, () => normal()));
    b.node("Gemm", [flat, w], { transB: 1 }, { outputs: ["logits"] });
    b.output("logits", ["batch", CLASSES]);
    assert.ok(await gradientCheck(b.model(17), "dynamic flatten head") <= 1e-3);
  },
});

Deno.test("parsePlacement reads ORT's node placement log, CPU fallbacks included", () => {
  const log = [
    "2026-11-25 18:55:18.699716 [V:onnxruntime:, session_state.cc:1377 VerifyEachNodeIsAssignedToAnEp] Node placements",
    "2026-11-25 18:55:18.699854 [V:onnxruntime:, session_state.cc:1383 VerifyEachNodeIsAssignedToAnEp]  Node(s) " +
    "placed on [CPUExecutionProvider]. Number of nodes: 2",
    "2026-11-25 18:55:18.699897 [V:onnxruntime:, session_state.cc:1385 VerifyEachNodeIsAssignedToAnEp]   Gather (Gather)",
    "2026-11-25 18:55:18.699937 [V:onnxruntime:, session_state.cc:1385 VerifyEachNodeIsAssignedToAnEp]   Shape (s_1)",
    "2026-11-25 18:55:18.699991 [V:onnxruntime:, session_state.cc:1383 VerifyEachNodeIsAssignedToAnEp]  Node(s) " +
    "placed on [WebGpuExecutionProvider]. Number of nodes: 324",
    "2026-11-25 18:55:18.700030 [V:onnxruntime:, session_state.cc:1385 VerifyEachNodeIsAssignedToAnEp]   Relu (Relu__0)",
  ].join("\n");
  const placement = parsePlacement(log);
  assert.deepEqual(placement.counts, { CPUExecutionProvider: 2, WebGpuExecutionProvider: 324 });
  assert.deepEqual(placement.cpuNodes, ["Gather (Gather)", "Shape (s_1)"]);
  assert.throws(() => parsePlacement("nothing here"), /no node placement/);
});

Deno.test("an op without a gradient rule fails naming the op type and the node", () => {
  const b = new GraphBuilder("bad");
  b.input("tap", ["batch", 2, 3, 3]);
  const s = b.node("Softplus", ["tap"], {}, { name: "the_softplus" });
  b.node("GlobalAveragePool", [s], {}, { outputs: ["logits"] });
  b.output("logits", ["batch", 2, 1, 1]);
  assert.throws(
    () => buildBackwardGraph(b.model(17), { method: "gradxact" }),
    /no gradient rule for op 'Softplus' \(node 'the_softplus'\)/,
  );
});

Deno.test("the graph cache builds a backward model once per (model, layer, method, outputs)", () => {
  let builds = 0;
  const head = () => {
    builds++;
    return toyResNetHead();
  };
  const key = { model: "sha-toy", layer: "tap", method: "deeplift" as const };
  const first = attributionGraphCache.get(key, head);
  const again = attributionGraphCache.get(key, head);
  assert.equal(first, again);
  assert.equal(builds, 1);
  attributionGraphCache.get({ ...key, method: "gradxact" }, head);
  assert.equal(builds, 2);
  assert.deepEqual(first.model.graph.input.map((v) => v.name), ["x", "x_ref", "seed"]);
  assert.deepEqual(first.model.graph.output.map((v) => v.name), ["attribution", "map", "logits"]);
  assert.ok(first.bytes.byteLength > 0);
});
