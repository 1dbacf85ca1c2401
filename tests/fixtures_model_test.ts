// The fixture model computes exactly what fixtures/spec.ts says: planted classes, logits, motif channels at
// every block output, silence on the DeepLift baseline, and the component-test composites' predictions.
import assert from "node:assert/strict";
import * as ort from "onnxruntime-web/webgpu";
import { buildFixtureModel } from "../fixtures/fixture_model.ts";
import {
  type FixtureImagePlan,
  normalizeRgb,
  planFixtureDataset,
  type RenderedImage,
  renderFixtureImage,
  renderScene,
  renderStack,
} from "../fixtures/fixture_images.ts";
import {
  argmax,
  blockOutput,
  CELL,
  CLASSES,
  COMPONENT_TEST,
  expectedLogits,
  FIXTURE_BLOCKS,
  type FixtureBlock,
  MOTIF_CELL_VALUE,
  MOTIF_CHANNELS,
  MOTIFS,
  STAGE_CHANNELS,
  STAGE_STRIDE,
} from "../fixtures/spec.ts";
import { attrInts, encodeModel, valueInfo } from "../src/onnx/model.ts";

ort.env.wasm.numThreads = 1;
const opts = { sanitizeResources: false, sanitizeOps: false };

const stageOf = (b: FixtureBlock) => b.split(".")[0] as keyof typeof STAGE_CHANNELS;

let sessionPromise: Promise<ort.InferenceSession> | undefined;
/** The fixture model with every block output added as a graph output. */
function session(): Promise<ort.InferenceSession> {
  sessionPromise ??= (() => {
    const model = buildFixtureModel();
    for (const b of FIXTURE_BLOCKS) {
      model.graph.output.push(valueInfo(blockOutput(b), ["N", STAGE_CHANNELS[stageOf(b)], "h", "w"]));
    }
    return ort.InferenceSession.create(encodeModel(model), { executionProviders: ["wasm"] });
  })();
  return sessionPromise;
}

async function run(images: RenderedImage[]): Promise<ort.InferenceSession.OnnxValueMapType> {
  const { width, height } = images[0];
  const data = new Float32Array(images.length * 3 * width * height);
  images.forEach((im, i) => data.set(normalizeRgb(im), i * 3 * width * height));
  return (await session()).run({ input: new ort.Tensor("float32", data, [images.length, 3, height, width]) });
}

/** Mean of channel `ch` of image `n` over each 32 px cell: [rows][cols]. */
function cellMeans(t: ort.Tensor, n: number, ch: number, stride: number): number[][] {
  const [, c, h, w] = t.dims as number[];
  const per = CELL / stride;
  const rows = Math.ceil(h / per), cols = Math.ceil(w / per);
  const d = t.data as Float32Array;
  const base = (n * c + ch) * h * w;
  return Array.from({ length: rows }, (_, r) =>
    Array.from({ length: cols }, (_, q) => {
      let s = 0, k = 0;
      for (let y = r * per; y < Math.min(h, (r + 1) * per); y++) {
        for (let x = q * per; x < Math.min(w, (q + 1) * per); x++) s += d[base + y * w + x], k++;
      }
      return s / k;
    }));
}

/** "r,c" of every 32 px cell that motif `slot` covers in a plan (a 64 px cell covers four). */
function plantedCells(plan: { cells: FixtureImagePlan["cells"] }, slot: number): Set<string> {
  const out = new Set<string>();
  for (const c of plan.cells.filter((c) => c.slot === slot)) {
    for (let y = c.y; y < c.y + c.size; y += CELL) {
      for (let x = c.x; x < c.x + c.size; x += CELL) out.add(`${y / CELL},${x / CELL}`);
    }
  }
  return out;
}

/** Plans grouped into same-size batches. */
function batches(plans: FixtureImagePlan[], size = 12): FixtureImagePlan[][] {
  const groups = new Map<string, FixtureImagePlan[]>();
  for (const p of plans) {
    const key = `${p.width}x${p.height}`;
    const g = groups.get(key) ?? [];
    g.push(p);
    groups.set(key, g);
  }
  return [...groups.values()].flatMap((g) =>
    Array.from({ length: Math.ceil(g.length / size) }, (_, i) => g.slice(i * size, (i + 1) * size))
  );
}

Deno.test("fixture model: deterministic, torchvision legacy names, BN nodes and every conv variant", () => {
  const a = buildFixtureModel(), b = buildFixtureModel();
  assert.deepEqual(encodeModel(a), encodeModel(b));
  const names = new Set(a.graph.node.map((n) => n.name));
  for (
    const n of [
      "/conv1/Conv",
      "/bn1/BatchNormalization",
      "/relu/Relu",
      "/maxpool/MaxPool",
      "/layer1/layer1.0/conv1/Conv",
      "/layer1/layer1.0/bn3/BatchNormalization",
      "/layer2/layer2.0/downsample/downsample.0/Conv",
      "/layer2/layer2.0/downsample/downsample.1/BatchNormalization",
      "/layer3/layer3.0/downsample/downsample.0/Conv",
      "/layer4/layer4.0/downsample/downsample.0/Conv",
      "/layer3/layer3.1/Add",
      "/layer3/layer3.1/relu_2/Relu",
      "/layer4/layer4.1/bn2/BatchNormalization",
      "/avgpool/GlobalAveragePool",
      "/Flatten",
      "/fc/Gemm",
    ]
  ) assert.ok(names.has(n), `node ${n} missing`);
  const outputs = new Set(a.graph.node.flatMap((n) => n.output));
  for (const b of FIXTURE_BLOCKS) assert.ok(outputs.has(blockOutput(b)), blockOutput(b));
  assert.deepEqual(a.graph.input.map((v) => v.name), ["input"]);
  assert.deepEqual(a.graph.output.map((v) => v.name), ["output"]);
  const variants = new Set(
    a.graph.node.filter((n) => n.opType === "Conv").map((n) =>
      `${attrInts(n, "kernel_shape", [])[0]}/${attrInts(n, "strides", [])[0]}/${attrInts(n, "pads", [])[0]}`
    ),
  );
  assert.deepEqual([...variants].sort(), ["1/1/0", "1/2/0", "3/1/1", "3/2/1", "7/2/3"]);
});

Deno.test(
  "fixture model: every dataset image gets the planted class and exactly spec.expectedLogits",
  opts,
  async () => {
    const plans = planFixtureDataset();
    assert.equal(plans.length, CLASSES.length * 30);
    let worst = 0;
    const wrong: string[] = [];
    for (const batch of batches(plans)) {
      const out = await run(batch.map(renderFixtureImage));
      const logits = out.output.data as Float32Array;
      batch.forEach((p, n) => {
        const got = logits.subarray(n * CLASSES.length, (n + 1) * CLASSES.length);
        const want = expectedLogits(p.cellCounts, p.height, p.width);
        worst = Math.max(worst, ...want.map((v, i) => Math.abs(v - got[i])));
        if (argmax(got) !== p.classIndex) wrong.push(`#${p.id} (${p.layout}) -> ${argmax(got)}`);
      });
    }
    assert.deepEqual(wrong, [], "misclassified images");
    assert.ok(worst < 1e-3, `largest logit error ${worst}`);
  },
);

Deno.test(
  "fixture model: motif channels light up exactly the planted cells at every block",
  opts,
  async () => {
    // Two images per class and layout covers every motif, the distractor, adjacency cases and all sizes.
    const plans = planFixtureDataset().filter((p) => p.indexInClass % 3 === 0 || p.layout !== "square");
    const low: Record<FixtureBlock, number> = Object.fromEntries(
      FIXTURE_BLOCKS.map((b) => [b, Infinity]),
    ) as never;
    const high: Record<FixtureBlock, number> = Object.fromEntries(FIXTURE_BLOCKS.map((b) => [b, 0])) as never;
    for (const batch of batches(plans)) {
      const out = await run(batch.map(renderFixtureImage));
      batch.forEach((p, n) => {
        for (const b of FIXTURE_BLOCKS) {
          for (const m of MOTIFS) {
            const planted = plantedCells(p, m.slot);
            const means = cellMeans(
              out[blockOutput(b)],
              n,
              MOTIF_CHANNELS[b][m.slot],
              STAGE_STRIDE[stageOf(b)],
            );
            means.forEach((row, r) =>
              row.forEach((v, c) => {
                if (planted.has(`${r},${c}`)) low[b] = Math.min(low[b], v / MOTIF_CELL_VALUE[b]);
                else high[b] = Math.max(high[b], v / MOTIF_CELL_VALUE[b]);
              })
            );
          }
        }
      });
    }
    for (const b of FIXTURE_BLOCKS) {
      assert.ok(low[b] > 0.999, `${b}: weakest planted cell ${low[b]}`);
      // Before layer3 the stem max-pool leaks a motif into the cells to its right and below.
      const limit = b.startsWith("layer1") || b.startsWith("layer2") ? 0.3 : 1e-6;
      assert.ok(high[b] <= limit, `${b}: strongest unplanted cell ${high[b]} (limit ${limit})`);
    }
  },
);

Deno.test(
  "fixture model: motif channels are silent on the DeepLift baseline and on background",
  opts,
  async () => {
    const s = await session();
    const ones = new ort.Tensor("float32", new Float32Array(3 * 224 * 224).fill(1), [1, 3, 224, 224]);
    const background = normalizeRgb(renderScene({ width: 224, height: 224, cells: [], seed: 99 }));
    for (const input of [ones, new ort.Tensor("float32", background, [1, 3, 224, 224])]) {
      const out = await s.run({ input });
      for (const b of FIXTURE_BLOCKS) {
        const t = out[blockOutput(b)];
        const [, c, h, w] = t.dims as number[];
        for (const ch of MOTIF_CHANNELS[b]) {
          const v = (t.data as Float32Array).subarray(ch * h * w, (ch + 1) * h * w);
          assert.equal(Math.max(...v), 0, `${b} channel ${ch} of ${c} fires on a motif-free input`);
        }
      }
      const want = expectedLogits([], 224, 224);
      (out.output.data as Float32Array).forEach((v, k) =>
        assert.ok(Math.abs(v - want[k]) < 1e-6, `logit ${k}: ${v}`)
      );
    }
  },
);

Deno.test(
  "fixture model: component-test composites are predicted as spec.COMPONENT_TEST says",
  opts,
  async () => {
    const plans = planFixtureDataset();
    const classesWith = (motif: string) =>
      new Set(plans.filter((p) => p.cells.some((c) => c.motif === motif)).map((p) => p.classIndex));
    for (const [i, expectation] of COMPONENT_TEST.entries()) {
      const cls = CLASSES[i];
      const [a, b] = cls.motifs;
      // All images: the crops of the class's two prototypes, plus a distractor and a background crop as extra
      // prototypes may contribute.
      for (const stack of [[a, b], [b, a, "D0"], [a, null, b, "D0", null, null]]) {
        const out = await run([renderStack(stack, 10 + i)]);
        assert.equal(
          argmax(out.output.data as Float32Array),
          expectation.allImages ? i : -1,
          `${cls.name} ${stack}`,
        );
      }
      // Target excluded: a motif can be cropped only if it occurs in another class's images.
      const available = cls.motifs.filter((m) => [...classesWith(m)].some((c) => c !== i));
      assert.equal(
        available.length === 2,
        expectation.targetExcluded,
        `${cls.name}: motifs outside the class`,
      );
      const excludedStack = [...available, "D0", null];
      const out = await run([renderStack(excludedStack, 20 + i)]);
      const predicted = CLASSES[argmax(out.output.data as Float32Array)].name;
      assert.equal(predicted, expectation.targetExcludedPrediction, `${cls.name} excluded: ${excludedStack}`);
      assert.equal(predicted === cls.name, expectation.targetExcluded);
    }
  },
);

Deno.test("fixture model: a 32 px wide stack of 6 crops runs (any multiple of 32)", opts, async () => {
  const out = await run([renderStack(["M0", "M1", null, "D0", null, "M0"])]);
  assert.deepEqual(out[blockOutput("layer4.1")].dims, [1, STAGE_CHANNELS.layer4, 6, 1]);
  const got = [...(out.output.data as Float32Array)];
  const want = expectedLogits([2, 1, 0, 0, 0, 0, 0, 1], 192, 32);
  got.forEach((v, k) => assert.ok(Math.abs(v - want[k]) < 1e-3, `logit ${k}: ${v} vs ${want[k]}`));
});
