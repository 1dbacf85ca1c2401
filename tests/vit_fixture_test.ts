// The planted-concept ViT (fixtures/vit_fixture.ts) through every stage, its truth from the fixture's plan:
// which class each image is (spec.ts expectedClass), which 32 px cell (= patch token) holds which motif
// (truth.json), and the component test's outcome (spec.ts COMPONENT_TEST). A stage that mixes up tokens and
// channels, keeps the class token as a position, pools patches 2 x 2 or misplaces a patch's crop puts crops on
// cells without the prototype's motif, and these checks fail.
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { ensureVitFixture } from "../fixtures/ensure.ts";
import { COMPONENT_TEST, expectedClass } from "../fixtures/spec.ts";
import { VIT_FIXTURE_LAYER } from "../fixtures/vit_fixture.ts";
import { plantedVit, prototypeMotifs } from "./_helpers/planted_vit.ts";
import { predictDataset } from "../src/pipeline/predict/predict.ts";
import { computeConcepts } from "../src/pipeline/concepts/concepts.ts";
import { readConcepts } from "../src/pipeline/concepts/read_concepts.ts";
import { runVisualize } from "../src/pipeline/figures/visualize.ts";
import { runExplain } from "../src/pipeline/figures/explain.ts";
import { runComponentTest } from "../src/pipeline/component_test/component_test_run.ts";
import { computeContrastVectors } from "../src/pipeline/contrast/vectors/contrast_vectors.ts";
import { trainHyperplanes } from "../src/pipeline/contrast/hyperplanes/hyperplanes.ts";
import { REFERENCE_TRAINING } from "../kernels/hyperplane/settings.ts";
import { readHyperplanes } from "../src/pipeline/contrast/hyperplanes/hyperplanes_io.ts";
import { runContrastTest } from "../src/pipeline/contrast/sanity_checks/contrast_test_run.ts";
import { shiftingTest } from "../src/pipeline/contrast/sanity_checks/shifting.ts";
import { whyNot } from "../src/pipeline/contrast/why_not/why_not.ts";
import { runInsertAuto } from "../src/pipeline/contrast/insert/insert_auto.ts";
import { runDecompose } from "../src/pipeline/decompose/decompose.ts";
import { writeReport } from "../src/pipeline/report/report.ts";
import { readNpy } from "../src/io/npy.ts";
import { GraphBuilder } from "../src/onnx/builder.ts";
import { openDataset } from "../src/data/dataset.ts";
import { Classifier } from "../src/model/classifier.ts";
import { searchPrototypes } from "../src/pipeline/search/streaming_search.ts";
import { whereAnotB } from "../src/pipeline/serve/where_map.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };
/** DeepLift without the noise tunnel: the fixture's motifs need none, and the test stays fast. */
const ATTRIBUTION = { method: "deeplift" as const, samples: 1, sigma: 0, seed: 0 };

Deno.test(
  "the planted ViT through every stage: crops on the planted patches, the fixture's truth",
  ORT_TEST,
  async () => {
    const { fixture, truth, motifAt } = await plantedVit();
    const work = await Deno.makeTempDir({ prefix: "vit_fixture_" });
    const model = fixture.modelPath, data = fixture.imageFolder, ep = "cpu" as const;
    const layer = VIT_FIXTURE_LAYER;
    try {
      // predict: every image is the class its planted cells make it (spec.ts), as for the CNN fixture.
      const predictions = join(work, "predictions");
      await predictDataset({ model, data, out: predictions, ep });
      const predicted = (await readNpy(join(predictions, "predictions.npy"))).data as Int32Array;
      const listed = JSON.parse(await Deno.readTextFile(join(predictions, "predictions.json"))).images as {
        path: string;
      }[];
      listed.forEach((entry, i) => {
        const t = truth.images.find((x) => basename(x.imageFolderPath) === basename(entry.path))!;
        assert.equal(predicted[i], expectedClass(t.cellCounts, 224, 224), entry.path);
        assert.equal(predicted[i], t.classIndex, entry.path);
      });

      // concepts: per class, two prototypes, each one of its two motifs' channels.
      const concepts = join(work, "concepts");
      const attributionCache = join(work, "attribution-cache");
      const common = { model, data, layer, predictions, ep, attributionCache, ...ATTRIBUTION };
      await computeConcepts({ ...common, out: concepts });
      const read = await readConcepts(concepts);
      const { motifOf, prototypesOf } = prototypeMotifs(read);
      for (const c of truth.classes) {
        const found = prototypesOf(c.index).map(motifOf).filter((m) => m);
        assert.deepEqual(new Set(found), new Set(c.motifs), `class ${c.index}: prototypes of ${found}`);
      }

      // visualize: a motif prototype's best crops are patches holding that motif, as many as the data has.
      const plantedCount = (motif: string) =>
        truth.images.reduce((n, t) => n + t.inputCells!.filter((c) => c.motif === motif).length, 0);
      const run = { model, data, concepts, predictions, ep };
      const figures = join(work, "figures");
      const visualized = await runVisualize({ ...run, out: figures });
      for (const cls of visualized.classes) {
        const rows = prototypesOf(cls.class);
        cls.prototypes.forEach(({ all, excluded }, j) => {
          const motif = motifOf(rows[j]);
          if (!motif) return;
          const expected = Math.min(all.length, plantedCount(motif));
          assert.ok(expected >= 6, `${motif}: ${expected} planted cells`);
          const hits = all.slice(0, expected).filter((h) => motifAt(h.path, h.y, h.x) === motif).length;
          assert.equal(
            hits,
            expected,
            `class ${cls.class} prototype ${j} (${motif}): crops ${JSON.stringify(all)}`,
          );
          // Among other classes' images M6 exists nowhere, every other motif somewhere.
          const outside = excluded.filter((h) => motifAt(h.path, h.y, h.x) === motif).length;
          if (motif === "M6") assert.equal(outside, 0);
          else assert.ok(outside >= 1, `${motif}: no excluded crop holds it`);
        });
      }

      // component test: the fixture's expectations, from patch crops on a 224 px canvas.
      const ct = await runComponentTest({ ...run, out: join(work, "component-test") });
      assert.match(ct.settings.composite ?? "", /canvas/);
      assert.deepEqual(ct.settings.pooledGrid, [7, 7]);
      assert.equal(ct.settings.cropSize, 32);
      // --crop-patches defaults to the patch itself, and a token tap records it (tests/vit_crop_box_test.ts: P = 3).
      assert.equal(ct.settings.cropPatches, 1);
      assert.equal((ct.manifest.settings as Record<string, unknown>).cropPatches, 1);
      for (const [i, record] of ct.classes.entries()) {
        const want = COMPONENT_TEST[record.class];
        assert.equal(record.allImages.pass, want.allImages, `class ${i} all images`);
        assert.equal(record.targetExcluded.pass, want.targetExcluded, `class ${i} target excluded`);
        assert.equal(record.targetExcluded.argmaxName, want.targetExcludedPrediction, `class ${i}`);
        const motifCrops = record.allImages.crops.filter((c) =>
          motifOf(prototypesOf(record.class)[c.prototype])
        );
        for (const c of motifCrops) {
          assert.equal(motifAt(c.path!, c.y, c.x), motifOf(prototypesOf(record.class)[c.prototype]));
        }
      }
      // explain: the same composites and verdicts as the component test.
      const explained = await runExplain({ ...run, out: figures, cls: 7 });
      assert.deepEqual(
        explained.record.targetExcluded.argmaxName,
        COMPONENT_TEST[7].targetExcludedPrediction,
      );

      // decompose: the motif prototypes' contributions peak on patches holding their motif.
      const donor = truth.images.find((t) => t.classIndex === 0)!;
      const dec = await runDecompose({
        model,
        images: [join(fixture.imageFolder.replace(/imagefolder$/, ""), donor.imageFolderPath)],
        concepts,
        cls: 0,
        out: join(work, "decompose"),
        ep,
      });
      assert.deepEqual(dec.images[0].grid, { height: 7, width: 7 });
      for (const p of dec.images[0].prototypes) {
        const motif = motifOf(prototypesOf(0)[p.prototype]);
        if (motif) assert.equal(motifAt(donor.imageFolderPath, p.peak.row, p.peak.col), motif);
      }

      // contrast vectors and hyperplanes: classes are separable at the tap.
      const vectors = join(work, "vectors");
      await computeContrastVectors({ ...common, out: vectors });
      const hyperplanes = join(work, "hyperplanes");
      const trained = await trainHyperplanes({
        vectors,
        out: hyperplanes,
        training: REFERENCE_TRAINING,
        log: () => {},
      });
      assert.ok(trained.meanAccuracy > 0.9, `hyperplane accuracy ${trained.meanAccuracy}`);
      const planes = { source: hyperplanes, set: await readHyperplanes(hyperplanes, { classes: [] }) };

      // shifting test: moving class i's tokens along n_ij raises p(j) step by step until j wins (further on, the
      // tokens leave the motifs' range and other classes can take over).
      const shifting = await runContrastTest(shiftingTest([0, -0.5, -1, -3]), {
        model,
        data,
        layer,
        hyperplanes: planes,
        predictions,
        ep,
        pairs: "0:1,2:4,7:6",
        maxImages: 3,
        out: join(work, "shifting"),
      });
      for (const pair of shifting.runs[0].pairs) {
        const pj = pair.pTo;
        const rising = pj.every((p, s) => s === 0 || p > pj[s - 1]);
        assert.ok(rising && pj.at(-1)! > 0.5, `${pair.from} -> ${pair.to}: p(j) ${pj}`);
      }

      // why 0 (M0, M1), not 1 (M0, M2): the prototype the A-side mask weighs most is M1, cropped on M1 patches.
      const why = await whyNot({
        model,
        data,
        layer,
        hyperplanes: planes,
        classA: 0,
        classB: 1,
        k: 3,
        predictions,
        ep,
        out: join(work, "why-not"),
      });
      const maskOf = (crops: { maskAtCell: number }[]) =>
        crops.reduce((s, c) => s + c.maskAtCell, 0) / crops.length;
      const strongest = why.topCrops.reduce((b, c, p) => (maskOf(c) > maskOf(why.topCrops[b]) ? p : b), 0);
      for (const crop of why.topCrops[strongest]) assert.equal(motifAt(crop.path, crop.y, crop.x), "M1");
      // The explorer's "where" map of one of those images: the same scores on the same 7 x 7 patch grid.
      const tapped = await Classifier.open(model, { ep, layers: [layer] });
      try {
        const where = await whereAnotB({
          image: why.imagePaths[0],
          a: 0,
          b: 1,
          planes: planes.set,
          layer,
          classifier: tapped,
          out: join(work, "where"),
        });
        assert.deepEqual(where.grid, { height: 7, width: 7 });
        const first = why.masks.subarray(0, 49).reduce((m, v) => Math.max(m, v), 0);
        assert.ok(Math.abs(where.maxScore - first) <= 1e-4 * first, `${where.maxScore} vs ${first}`);
      } finally {
        await tapped.release();
      }

      // insert test: that crop pasted into class 1's images raises p(0) over the control patch.
      const inserted = await runInsertAuto({
        model,
        data,
        predictions,
        ep,
        layer,
        hyperplanes: planes,
        auto: 1,
        pairs: [{ from: 0, to: 1 }],
        k: 3,
        out: join(work, "insert"),
      });
      const pair = inserted.pairs[0];
      assert.ok(pair, JSON.stringify(inserted.left));
      assert.equal(motifAt(pair.crop.path, pair.crop.y, pair.crop.x), "M1");
      assert.ok(
        pair.measurement.riseOverControl > 0,
        `rise over control ${pair.measurement.riseOverControl}`,
      );

      // report: every output read, nothing reported unusable, the ViT composites described.
      const page = await writeReport({ run: work, out: join(work, "report.html") });
      assert.deepEqual(page.problems, []);
      const html = await Deno.readTextFile(page.out);
      assert.match(html, /patch-aligned down the first column/);
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
);

Deno.test(
  "the prototype search refuses a token tap whose patches do not tile the input, naming the layer",
  ORT_TEST,
  async () => {
    // 15 px patches: 14 x 14 of them cover 210 of the 224 px, so a token's crop could not be its patch.
    const C = 4, P = 15, T = 14 * 14;
    const g = new GraphBuilder("patch15");
    const input = g.input("input", ["N", 3, 224, 224]);
    const conv = g.node("Conv", [
      input,
      g.weight("w", [C, 3, P, P], new Float32Array(C * 3 * P * P).fill(1e-3)),
    ], {
      kernel_shape: [P, P],
      strides: [P, P],
    });
    const flat = g.node("Reshape", [conv, g.int64s("shape", [0, C, T])]);
    g.node("Transpose", [flat], { perm: [0, 2, 1] }, { outputs: ["tokens"] });
    const pooled = g.node("ReduceMean", ["tokens"], { axes: [1], keepdims: 0 });
    g.node("Gemm", [pooled, g.weight("head", [2, C], new Float32Array(2 * C).fill(1))], { transB: 1 }, {
      outputs: ["logits"],
    });
    g.output("logits", ["N", 2]);
    const fixture = await ensureVitFixture();
    const dataset = await openDataset(fixture.imageFolder, { limit: 2 });
    const classifier = await Classifier.fromModel(g.model(17), "patch15.onnx", "patch15", {
      ep: "cpu",
      layers: ["tokens"],
      withLogits: false,
    });
    try {
      await assert.rejects(
        () =>
          searchPrototypes(
            dataset,
            classifier,
            {
              bases: new Float32Array(C).fill(1),
              prototypeClass: Int32Array.of(0),
              channels: C,
            },
            Int32Array.of(0, 0),
            { topK: 1, cpu: true },
          ),
        /--layer tokens: 14 patches of 15 px do not tile the 224 px input/,
      );
    } finally {
      await classifier.release();
      dataset.close();
    }
  },
);
