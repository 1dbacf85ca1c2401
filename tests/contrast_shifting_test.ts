// The shifting and masking tests on the planted fixture, whose head after layer3.1 is linear in the motif
// channels: shifting class i's images along +j's motif channels - i's motif channels must flip every pair to
// j with p(j) rising monotonically in |offset|; a normal that only adds M5 moves both c6 and c7 up, and c6
// (which weighs M5 by OWNER_PREFERENCE) wins, so (0, 7) must NOT flip while (0, 6) does. Offset 0 and mask
// level 0 must both reproduce the whole model's prediction of the unchanged images.
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureFixture, type FixturePaths } from "../fixtures/ensure.ts";
import { CLASSES, motifById, motifChannel, STAGE_CHANNELS } from "../fixtures/spec.ts";
import { runContrastTest } from "../src/pipeline/contrast/sanity_checks/contrast_test_run.ts";
import { REFERENCE_OFFSETS, shiftingTest } from "../src/pipeline/contrast/sanity_checks/shifting.ts";
import { maskingTest } from "../src/pipeline/contrast/sanity_checks/masking.ts";
import { hyperplanesInMemory } from "../src/pipeline/contrast/hyperplanes/hyperplane_set.ts";
import { readHyperplanes, writeHyperplaneRow } from "../src/pipeline/contrast/hyperplanes/hyperplanes_io.ts";
import { Classifier, softmaxRows } from "../src/model/classifier.ts";
import { openDataset } from "../src/data/dataset.ts";
import { writeLabelPredictions } from "./_helpers/planted_concepts.ts";
import { certainOutcomes } from "../fixtures/contrast_truth.ts";
import { fixtureContrastVectors } from "./_helpers/fixture_vectors.ts";
import { trainPairCpu } from "../kernels/hyperplane/reference.ts";
import { REFERENCE_TRAINING } from "../kernels/hyperplane/settings.ts";
import { noNative } from "./_helpers/eps.ts";

const C = STAGE_CHANNELS.layer3;
const K = CLASSES.length;
const channelOf = (id: string) => motifChannel("layer3", motifById(id).slot);

/** Row i of the constructed hyperplanes: n_ij = +j's motif channels - i's (zero on shared motifs), except
 * that (0, 6) and (0, 7) get +M5 alone. */
function constructedRow(i: number): Float32Array {
  const row = new Float32Array(K * C);
  for (let j = 0; j < K; j++) {
    if (j === i) continue;
    const n = row.subarray(j * C, (j + 1) * C);
    if (i === 0 && (j === 6 || j === 7)) {
      n[channelOf("M5")] = 1;
      continue;
    }
    for (const m of CLASSES[j].motifs) n[channelOf(m)] += 1;
    for (const m of CLASSES[i].motifs) n[channelOf(m)] -= 1;
  }
  return row;
}

const PAIRS = "0:6,0:7,2:4,7:6,1:0,3:5";
const IMAGES = 3;

/** Mean softmax of the whole model over the first IMAGES images of class `cls` (what offset 0 must give). */
async function unchangedMean(modelPath: string, data: string, cls: number): Promise<Float32Array> {
  const dataset = await openDataset(data);
  const model = await Classifier.open(modelPath, { ep: "wasm" });
  try {
    const ids = dataset.entries.flatMap((e, i) => (e.label === cls ? [i] : [])).slice(0, IMAGES);
    const mean = new Float32Array(K);
    for (const i of ids) {
      const { logits } = await model.forward((await dataset.readBatch(i, 1)).images, 1);
      softmaxRows(logits!, K).forEach((p, k) => (mean[k] += p / ids.length));
    }
    return mean;
  } finally {
    await model.release();
    dataset.close();
  }
}

/** A test with the fixture and a scratch folder (ORT keeps a MessagePort open: no resource sanitizer). */
function fixtureTest(
  name: string,
  body: (fixture: FixturePaths, work: string) => Promise<void>,
  ignore = false,
): void {
  Deno.test({
    name,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const fixture = await ensureFixture();
      const work = await Deno.makeTempDir({ prefix: "shifting-" });
      try {
        await body(fixture, work);
      } finally {
        await Deno.remove(work, { recursive: true });
      }
    },
  });
}

fixtureTest(
  "shifting and masking on the fixture: the expected flips, monotone p(j), step 0 = the model",
  async (fixture, work) => {
    const predictions = await writeLabelPredictions(join(work, "predictions"), fixture.imageFolder);
    const rows = new Map(CLASSES.map((c) => [c.index, constructedRow(c.index)]));
    const common = {
      model: fixture.modelPath,
      data: fixture.imageFolder,
      layer: "layer3.1",
      hyperplanes: { source: "constructed", set: hyperplanesInMemory(K, C, rows) },
      predictions,
      pairs: PAIRS,
      maxImages: IMAGES,
      batch: 16,
      ep: "wasm" as const,
    };
    const shifting = await runContrastTest(shiftingTest([...REFERENCE_OFFSETS]), {
      ...common,
      out: join(work, "shifting"),
    });
    const records = shifting.runs[0].pairs;
    assert.deepEqual(records.map((r) => `${r.from}:${r.to}`), PAIRS.split(","));
    const last = REFERENCE_OFFSETS.length - 1;
    for (const r of records) {
      assert.equal(r.images, IMAGES);
      const expected = r.from === 0 && r.to === 7 ? 6 : r.to;
      assert.equal(r.top1[last], expected, `${r.from}->${r.to}: top-1 at offset -200`);
      assert.equal(r.top1[0], r.from, `${r.from}->${r.to}: unshifted images are predicted as their class`);
      if (r.from === 0 && r.to >= 6) continue;
      // Float32 noise on logits in the hundreds: monotone within 1e-4.
      for (let k = 1; k < r.pTo.length; k++) {
        assert.ok(r.pTo[k] >= r.pTo[k - 1] - 1e-4, `${r.from}->${r.to}: p(j) falls at step ${k}: ${r.pTo}`);
      }
      // With a motif shared by i and j the normal adds only j's other motif, which other classes share
      // too: j then leads only by the shared motif's own cells (2 -> 4: c3, c4 and c6 all gain M4).
      const shared = CLASSES[r.from].motifs.some((m) => CLASSES[r.to].motifs.includes(m));
      assert.ok(r.pTo[last] > (shared ? 0.5 : 0.99), `${r.from}->${r.to}: p(j) at -200 is ${r.pTo[last]}`);
    }
    const s = shifting.summary.perRun[0];
    assert.equal(s.pairs, 6);
    assert.ok(Math.abs(s.flipPercent - 500 / 6) < 1e-9, `flip % ${s.flipPercent}`);
    assert.match(shifting.table, /flip %/);
    const json = JSON.parse(await Deno.readTextFile(join(work, "shifting", "shifting_test.json")));
    assert.deepEqual(json.runs[0].pairs[0].offsets, [...REFERENCE_OFFSETS]);
    const jpeg = await Deno.readFile(join(work, "shifting", "shifting_run0.jpg"));
    assert.deepEqual([...jpeg.subarray(0, 2)], [0xff, 0xd8]);

    // Offset 0 is the unchanged activations through the head: the whole model's mean softmax.
    for (const from of [0, 7]) {
      const mean = await unchangedMean(fixture.modelPath, fixture.imageFolder, from);
      for (const r of records.filter((x) => x.from === from)) {
        assert.ok(
          Math.abs(r.pFrom[0] - mean[from]) < 1e-5,
          `p(i) at offset 0: ${r.pFrom[0]} vs ${mean[from]}`,
        );
        assert.ok(Math.abs(r.pTo[0] - mean[r.to]) < 1e-5, `p(j) at offset 0: ${r.pTo[0]} vs ${mean[r.to]}`);
      }
    }

    // --region attribution: only class i's attributed positions (its motif cells) move; replacing M2 by M1
    // there still turns c1's images into c0's, while the share of shifted positions is well below 1.
    const region = await runContrastTest(shiftingTest([...REFERENCE_OFFSETS], "attribution"), {
      ...common,
      pairs: "1:0",
      out: join(work, "region"),
      attribution: { settings: { method: "deeplift", samples: 2, sigma: 0.25, seed: 0 } },
    });
    const rr = region.runs[0].pairs[0];
    assert.equal(rr.top1[last], 0);
    assert.ok(rr.pTo[last] > 0.5, `region attribution p(j) at -200: ${rr.pTo[last]}`);
    const share = rr.shiftedShare as number;
    assert.ok(share > 0 && share < 0.5, `shifted share ${share}`);

    // Masking: level 0 is the whole image, so the same numbers as offset 0.
    const masking = await runContrastTest(maskingTest(0), {
      ...common,
      pairs: "0:6,2:4",
      out: join(work, "masking"),
    });
    for (const m of masking.runs[0].pairs) {
      const r = records.find((x) => x.from === m.from && x.to === m.to)!;
      assert.equal(m.pTo.length, 11);
      assert.ok(
        Math.abs(m.pFrom[0] - r.pFrom[0]) < 1e-5,
        `masking level 0 p(i) ${m.pFrom[0]} vs ${r.pFrom[0]}`,
      );
      assert.ok(Math.abs(m.pTo[0] - r.pTo[0]) < 1e-5, `masking level 0 p(j) ${m.pTo[0]} vs ${r.pTo[0]}`);
      assert.deepEqual((m.keptShare as number[])[0], 1);
    }
  },
);

fixtureTest(
  "shifting (head passes) and masking (whole model) on the native cpu EP give wasm's curves",
  async (fixture, work) => {
    const predictions = await writeLabelPredictions(join(work, "predictions"), fixture.imageFolder);
    const rows = new Map(CLASSES.map((c) => [c.index, constructedRow(c.index)]));
    const run = (test: Parameters<typeof runContrastTest>[0], ep: "wasm" | "cpu") =>
      runContrastTest(test, {
        model: fixture.modelPath,
        data: fixture.imageFolder,
        layer: "layer3.1",
        hyperplanes: { source: "constructed", set: hyperplanesInMemory(K, C, rows) },
        predictions,
        pairs: "0:6,2:4",
        maxImages: 2,
        batch: 16,
        ep,
        out: join(work, `${test.name}-${ep}`),
      });
    for (const test of [shiftingTest([...REFERENCE_OFFSETS]), maskingTest(0)]) {
      const [wasm, cpu] = [await run(test, "wasm"), await run(test, "cpu")];
      const manifest = JSON.parse(await Deno.readTextFile(join(work, `${test.name}-cpu`, "manifest.json")));
      assert.match(manifest.device, /^cpu \(onnxruntime-node/, `${test.name}: ${manifest.device}`);
      wasm.runs[0].pairs.forEach((w, p) => {
        const c = cpu.runs[0].pairs[p];
        assert.deepEqual(c.top1, w.top1, `${test.name} ${w.from}:${w.to}`);
        for (const [a, b] of [[c.pTo, w.pTo], [c.pFrom, w.pFrom]]) {
          a.forEach((v, k) =>
            assert.ok(Math.abs(v - b[k]) < 1e-5, `${test.name} ${w.from}:${w.to} step ${k}`)
          );
        }
      });
    }
  },
  noNative,
);

fixtureTest(
  "a hyperplane folder of another layer's width and bad pairs fail before any compute",
  async (fixture, work) => {
    // Normals 64 wide (layer4's width) for a layer3.1 (32 channels) run.
    const wide = STAGE_CHANNELS.layer4;
    await writeHyperplaneRow(work, 0, new Float32Array(K * wide), new Float32Array(K), new Float32Array(K));
    const set = await readHyperplanes(work, { classes: [] });
    const opts = {
      model: fixture.modelPath,
      data: fixture.imageFolder,
      layer: "layer3.1",
      hyperplanes: { source: work, set },
      out: join(work, "out"),
      ep: "wasm" as const,
    };
    await assert.rejects(
      runContrastTest(shiftingTest([0, -1]), opts),
      /--hyperplanes .*64 channels, but --layer layer3.1 has 32/,
    );
    await assert.rejects(runContrastTest(shiftingTest([0, -1]), { ...opts, pairs: "0:9" }), /--pairs 0:9/);
    // Nothing was computed: no predictions, no manifest.
    assert.equal(await Deno.stat(join(work, "out")).then(() => true, () => false), false);
  },
);

fixtureTest(
  "hyperplanes trained on the fixture's contrast vectors turn to j on every pair the construction says must flip",
  async (fixture, work) => {
    const predictions = await writeLabelPredictions(join(work, "predictions"), fixture.imageFolder);
    const v = await fixtureContrastVectors(fixture, work, predictions);
    // --init zeros: the construction fixes the normals' signs, so the outcomes below hold for any magnitude.
    const training = { ...REFERENCE_TRAINING, init: "zeros" as const };
    const rows = new Map(CLASSES.map((i) => {
      const row = new Float32Array(K * C);
      for (const j of CLASSES) {
        if (j.index === i.index) continue;
        const t = trainPairCpu(v.rows.get(i.index)!, v.rows.get(j.index)!, C, i.index, j.index, training);
        row.set(t.normal, j.index * C);
      }
      return [i.index, row];
    }));
    const truth = certainOutcomes();
    const pairs = [...truth.flips, ...truth.stays];
    const report = await runContrastTest(shiftingTest([0, -200]), {
      model: fixture.modelPath,
      data: fixture.imageFolder,
      layer: "layer3.1",
      hyperplanes: { source: "trained (CPU twin)", set: hyperplanesInMemory(K, C, rows) },
      predictions,
      pairs: pairs.map(([i, j]) => `${i}:${j}`).join(","),
      maxImages: 2,
      batch: 32,
      ep: "wasm",
      out: join(work, "shifting"),
    });
    const got = report.runs[0].pairs;
    assert.equal(got.length, pairs.length);
    const flips = new Set(truth.flips.map(([i, j]) => `${i}:${j}`));
    for (const r of got) {
      const key = `${r.from}:${r.to}`;
      if (flips.has(key)) assert.equal(r.top1[1], r.to, `${key} must flip to ${r.to}: top-1 ${r.top1[1]}`);
      else assert.notEqual(r.top1[1], r.to, `${key} must not flip: p(j) ${r.pTo[1]}`);
    }
    // The table's flip criterion is stricter (p(j) > 0.5): where j's gain is shared with other classes, j
    // can lead the mean softmax without a majority.
    const s = report.summary.perRun[0];
    assert.ok(s.flipPercent > 50 && s.flipPercent <= 100, `flip % ${s.flipPercent}`);
    console.log(
      `fixture truth: ${truth.flips.length} pairs flip, ${truth.stays.length} stay; ${report.table}`,
    );
  },
);
