// The component prediction test on the fixture, whose construction fixes the answer (fixtures/spec.ts
// COMPONENT_TEST): with crops from all images every class passes; with the target's images excluded c0..c6
// pass and c7 fails (its motif M6 occurs only in c7 images), predicted as c6. Also: reading concepts folders
// of both layouts, the search pass on every path (GPU-resident taps, CPU arrays, CPU search), and the task
// computing predictions itself.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Image } from "imagescript";
import { ensureFixture, ensureResNet50 } from "../fixtures/ensure.ts";
import type { TruthImage } from "../fixtures/fixture_images.ts";
import {
  CELL,
  CLASSES,
  COMPONENT_TEST,
  DISTRACTORS,
  expectedLogits,
  MOTIF_COUNT,
  motifById,
} from "../fixtures/spec.ts";
import { readConcepts } from "../src/pipeline/concepts/read_concepts.ts";
import {
  type ComponentTestCore,
  type ComponentTestReport,
  compositeCells,
  runComponentTest,
  scoreComposites,
  summarizeVariant,
  type VariantRecord,
  VARIANTS,
} from "../src/pipeline/component_test/component_test_run.ts";
import { openCompositeClassifier, openPassClassifier, openRun } from "../src/pipeline/search/run.ts";
import { type SearchPassResult, searchPrototypes } from "../src/pipeline/search/streaming_search.ts";
import type { SearchHit } from "../kernels/search/hits.ts";
import { writeNpy } from "../src/io/npy.ts";
import { writeJsonAtomic } from "../src/io/atomic.ts";
import { gpu, noGpu } from "./_helpers/gpu.ts";
import { float64TensorPt } from "./_helpers/torch_pt_files.ts";
import {
  motifsAt,
  PLANTED_K,
  plantedBasis,
  readTruthByPath,
  writePlantedConcepts,
} from "./_helpers/planted_concepts.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };
const fixture = await ensureFixture();
const truth = await readTruthByPath(fixture.truthPath);
const truthOf = (path: string | null): TruthImage => {
  const t = truth.get(path!);
  assert.ok(t, `no truth for ${path}`);
  return t;
};

// ---- Concepts folders ----

Deno.test("readConcepts reads the reference layout (<class>/nmf/nmf_basis.pt, float64 k x C)", async () => {
  const dir = await Deno.makeTempDir();
  const C = 5, k = 3;
  const values = (cls: number) => Array.from({ length: k * C }, (_, i) => cls + i / 7);
  // Class folders by index and by ImageNet wnid (n01443537 is class 1, goldfish); stray folders are ignored.
  for (const [folder, cls] of [["0", 0], ["n01443537", 1], ["7", 7]] as const) {
    await Deno.mkdir(join(dir, folder, "nmf"), { recursive: true });
    await Deno.writeFile(join(dir, folder, "nmf", "nmf_basis.pt"), float64TensorPt(values(cls), [k, C]));
  }
  await Deno.mkdir(join(dir, "notes"));
  const all = await readConcepts(dir);
  assert.equal(all.source, "reference");
  assert.deepEqual(all.classes, [0, 1, 7]);
  assert.equal(all.k, k);
  assert.equal(all.channels, C);
  assert.deepEqual([...all.prototypeClass], [0, 0, 0, 1, 1, 1, 7, 7, 7]);
  assert.deepEqual([...all.bases.subarray(2 * k * C)], values(7).map(Math.fround));
  const some = await readConcepts(dir, { classes: [7, 1] });
  assert.deepEqual(some.classes, [1, 7]);
  assert.deepEqual([...some.bases.subarray(0, k * C)], values(1).map(Math.fround));
  await assert.rejects(
    () => readConcepts(dir, { classes: [1, 3, 4] }),
    /no <class>\/nmf\/nmf_basis\.pt for classes 3, 4/,
  );
  // A basis with another k is named with the file.
  await Deno.writeFile(
    join(dir, "7", "nmf", "nmf_basis.pt"),
    float64TensorPt(values(7).slice(0, 2 * C), [2, C]),
  );
  await assert.rejects(
    () => readConcepts(dir),
    /7\/nmf\/nmf_basis\.pt: 2 prototypes, but .*0\/nmf\/nmf_basis\.pt has 3/,
  );
  await assert.rejects(
    async () => readConcepts(await Deno.makeTempDir()),
    /neither protoscope's layout .* nor the reference's/,
  );
});

Deno.test("readConcepts reads protoscope's layout and names missing classes and inconsistent files", async () => {
  const dir = await writePlantedConcepts(await Deno.makeTempDir());
  const c = await readConcepts(dir, { classes: [3, 1] });
  assert.equal(c.source, "protoscope");
  assert.deepEqual(c.layer, { name: "layer3.1", tensor: "/layer3/layer3.1/relu_2/Relu_output_0" });
  assert.deepEqual(c.classes, [1, 3]);
  assert.equal(c.k, PLANTED_K);
  assert.deepEqual([...c.bases.subarray(PLANTED_K * 32)], [...plantedBasis(3)]);
  await assert.rejects(
    () => readConcepts(dir, { classes: [2, 9] }),
    /no basis for class 9 \(not in concepts\.json\)/,
  );
  const index = JSON.parse(await Deno.readTextFile(join(dir, "concepts.json")));
  index.classes[5].status = "no-images";
  await writeJsonAtomic(join(dir, "concepts.json"), index);
  await assert.rejects(() => readConcepts(dir, { classes: [5] }), /5 \(status "no-images"/);
  assert.deepEqual((await readConcepts(dir)).withoutBasis, [5]);
  await writeNpy(join(dir, "4", "basis.npy"), new Float32Array(PLANTED_K * 31), [PLANTED_K, 31]);
  await assert.rejects(() => readConcepts(dir), /4\/basis\.npy: 31 channels, but concepts\.json says 32/);
});

Deno.test("summarizeVariant and blank cells", () => {
  const s = summarizeVariant([
    { pClass: 0.05, pass: false },
    { pClass: 0.15, pass: false },
    { pClass: 0.6, pass: true },
    { pClass: 1, pass: true },
  ]);
  assert.equal(s.passed, 2);
  assert.equal(s.passRate, 0.5);
  assert.ok(Math.abs(s.meanP - 0.45) < 1e-12);
  // Population std (numpy's default): sqrt(mean of squared deviations).
  assert.ok(Math.abs(s.stdP - Math.sqrt((0.16 + 0.09 + 0.0225 + 0.3025) / 4)) < 1e-12);
  assert.deepEqual(s.shareAbove, { "0.1": 0.75, "0.2": 0.5, "0.5": 0.5 });
  // A prototype without any other-class position gets the blank cell.
  const hit = { score: 1, image: 4, y: 1, x: 2 };
  const blank = { image: 99, y: 0, x: 0 };
  const { cells } = compositeCells(
    { topK: [[hit], [hit]], bestOther: [hit, null] },
    new Int32Array([3, 3]),
    [3],
    blank,
  );
  assert.deepEqual(cells.targetExcluded, [[{ image: 4, y: 1, x: 2 }, blank]]);
});

// ---- The test on the fixture ----

/** The fixture's logits for a composite of these crops (all from grid-aligned images) -> p(class). */
function expectedP(v: VariantRecord, cls: number): number | undefined {
  const counts = new Array(MOTIF_COUNT).fill(0);
  for (const c of v.crops) {
    if (c.image === null) continue;
    const t = truthOf(c.path);
    if (!t.inputCells) return undefined;
    for (const m of motifsAt(t, c.y, c.x)) counts[motifById(m).slot]++;
  }
  const z = expectedLogits(counts, v.crops.length * CELL, CELL);
  const max = Math.max(...z);
  const e = z.map((x) => Math.exp(x - max));
  return e[cls] / e.reduce((a, b) => a + b, 0);
}

Deno.test(
  "component test on the fixture gives the table that its construction requires",
  ORT_TEST,
  async () => {
    const work = await Deno.makeTempDir();
    const concepts = await writePlantedConcepts(join(work, "concepts"), fixture.imageFolder);
    const out = join(work, "out");
    const report = await runComponentTest({
      model: fixture.modelPath,
      data: fixture.imageFolder,
      concepts,
      out,
      ep: "wasm",
    });
    // The expected table (fixtures/spec.ts COMPONENT_TEST):
    //   class              all images   target excluded
    //   c0..c6             pass         pass (predicted as the class)
    //   c7_magenta_black   pass         FAIL, predicted as c6_cyan_magenta
    const table = report.classes.map((r) => ({
      className: r.name,
      allImages: r.allImages.pass,
      targetExcluded: r.targetExcluded.pass,
      targetExcludedPrediction: r.targetExcluded.argmaxName,
    }));
    assert.deepEqual(
      table,
      COMPONENT_TEST.map(({ why: _, ...row }) => row),
    );
    for (const r of report.classes) assert.equal(r.allImages.argmaxName, r.name);

    for (const r of report.classes) {
      const cls = CLASSES[r.class];
      for (const v of VARIANTS) {
        const crops = r[v].crops;
        assert.equal(crops.length, PLANTED_K);
        assert.deepEqual(r[v].missing, []);
        // Rows 0-1: the class's motifs; row 2: the distractor; row 3: background (no class motif).
        cls.motifs.forEach((motif, i) => {
          const onlyInOwnClass = v === "targetExcluded" && motif === "M6";
          const at = motifsAt(truthOf(crops[i].path), crops[i].y, crops[i].x);
          if (onlyInOwnClass) {
            // No M6 outside c7: every other position scores exactly 0 and the tie goes to the first image.
            assert.equal(crops[i].score, 0);
            assert.ok(!at.includes("M6"));
          } else {
            assert.ok(
              at.includes(motif),
              `${cls.name} ${v} prototype ${i}: ${motif} not in ${at} (${crops[i].path})`,
            );
            assert.ok(crops[i].score! > 0.9, `${cls.name} ${v} prototype ${i}: cosine ${crops[i].score}`);
          }
        });
        assert.deepEqual(motifsAt(truthOf(crops[2].path), crops[2].y, crops[2].x), [DISTRACTORS[0].id]);
        assert.ok(!motifsAt(truthOf(crops[3].path), crops[3].y, crops[3].x).some((m) => m.startsWith("M")));
        if (v === "targetExcluded") {
          for (const c of crops) {
            assert.notEqual(
              c.predicted,
              r.class,
              `${cls.name}: excluded crop from its own class`,
            );
          }
        }
        const want = expectedP(r[v], r.class);
        if (want !== undefined) {
          assert.ok(
            Math.abs(r[v].pClass - want) < 1e-3,
            `${cls.name} ${v}: p ${r[v].pClass}, expected ${want}`,
          );
        }
        assert.equal(r[v].top5[0].class, r[v].argmax);
        assert.ok(r[v].top5.every((t, i) => i === 0 || t.p <= r[v].top5[i - 1].p));
      }
    }
    // c7's excluded composite: M5 from a c6 image, then c6 (weighing M5 by 1.15) beats c7.
    assert.ok(
      report.classes[7].targetExcluded.pClass < 0.5 && report.classes[7].targetExcluded.pClass > 0.05,
    );
    assert.equal(report.summary.allImages.passRate, 1);
    assert.equal(report.summary.targetExcluded.passed, 7);
    assert.equal(report.summary.targetExcluded.passRate, 7 / 8);
    const ps = report.classes.map((r) => r.targetExcluded.pClass);
    assert.ok(Math.abs(report.summary.targetExcluded.meanP - ps.reduce((a, b) => a + b) / 8) < 1e-9);
    assert.equal(report.timing.searchDevice.startsWith(gpu ? "webgpu" : "cpu"), true);

    const onDisk = JSON.parse(
      await Deno.readTextFile(join(out, "component_test.json")),
    ) as ComponentTestReport;
    assert.deepEqual(onDisk.classes, JSON.parse(JSON.stringify(report.classes)));
    assert.equal(onDisk.settings.predictions, join(concepts, "predictions"));
    const jpeg = await Image.decode(await Deno.readFile(join(out, "composites", "7_excluded.jpg")));
    assert.deepEqual([jpeg.width, jpeg.height], [32, 4 * 32]);
    for (const c of CLASSES) {
      for (const s of ["all", "excluded"]) {
        assert.ok(
          (await Deno.stat(join(out, "composites", `${c.index}_${s}.jpg`))).isFile,
        );
      }
    }
  },
);

// ---- The search pass on every path ----

const position = (h: SearchHit) => `${h.image}:${h.y}:${h.x}`;

/** Same positions, except where two candidates' scores are within float32 noise of each other. */
function assertSameHits(a: SearchHit[], b: SearchHit[], what: string) {
  assert.equal(a.length, b.length, what);
  a.forEach((h, i) => {
    if (position(h) !== position(b[i])) {
      assert.ok(
        Math.abs(h.score - b[i].score) < 1e-5,
        `${what} rank ${i}: ${position(h)} vs ${position(b[i])}`,
      );
    }
    assert.ok(Math.abs(h.score - b[i].score) < 1e-4, `${what} rank ${i}: score ${h.score} vs ${b[i].score}`);
  });
}

Deno.test({
  name: "the pass agrees on every path: GPU-resident taps (webgpu EP), CPU taps, CPU search; skips bad files",
  ...ORT_TEST,
  ignore: noGpu,
  fn: async () => {
    // 20 val images (mixed classes) with number 7 corrupt: batches of 8 split around it.
    const work = await Deno.makeTempDir();
    const val = join(work, "val");
    await Deno.mkdir(val);
    for (let i = 1; i <= 20; i++) {
      const name = `ILSVRC2012_val_${String(i).padStart(8, "0")}.JPEG`;
      await Deno.copyFile(join(fixture.valFolder, name), join(val, name));
    }
    await Deno.writeFile(join(val, "ILSVRC2012_val_00000007.JPEG"), new Uint8Array([0xff, 0xd8, 0xff, 1, 2]));
    for (const f of ["LOC_val_solution.csv", "classes.json"]) {
      await Deno.copyFile(join(fixture.valFolder, f), join(val, f));
    }
    const concepts = await writePlantedConcepts(join(work, "concepts"), val);
    const results: Record<string, SearchPassResult> = {};
    const scored: Record<string, ComponentTestCore> = {};
    for (
      const [name, ep, cpu] of [["wasm", "wasm", false], ["webgpu", "webgpu", false], [
        "cpu",
        "wasm",
        true,
      ]] as const
    ) {
      const run = await openRun({ model: fixture.modelPath, data: val, concepts, out: join(work, name), ep });
      try {
        const classifier = await openPassClassifier(fixture.modelPath, run.layer, ep);
        try {
          assert.equal(classifier.ep, ep);
          results[name] = await searchPrototypes(run.dataset, classifier, run.concepts, run.predicted, {
            topK: 3,
            excludedTopK: 3,
            batch: 8,
            cpu,
          });
        } finally {
          await classifier.release();
        }
        // Composites: assembled on the GPU and fed to ORT as a GPU buffer with the webgpu EP, on the CPU else.
        if (!cpu) scored[name] = await scoreComposites(run, results[name], run.concepts.classes);
      } finally {
        await run.close();
      }
    }
    scored.webgpu.records.forEach((r, i) => {
      for (const v of VARIANTS) {
        const want = scored.wasm.records[i][v];
        assert.equal(r[v].argmax, want.argmax, `webgpu class ${r.class} ${v}`);
        assert.ok(Math.abs(r[v].pClass - want.pClass) < 1e-4, `webgpu class ${r.class} ${v}: ${r[v].pClass}`);
      }
    });
    assert.match(scored.webgpu.modelDevice, /^webgpu/);
    const predicted = Int32Array.from(
      (JSON.parse(await Deno.readTextFile(join(concepts, "predictions", "predictions.json"))).images as {
        predicted: number;
      }[]).map((i) => i.predicted),
    );
    const prototypeClass = (await readConcepts(concepts)).prototypeClass;
    for (const r of Object.values(results)) {
      assert.equal(r.searched, 19);
      assert.deepEqual(r.skipped.map((s) => s.index), [6]);
      for (let p = 0; p < prototypeClass.length; p++) {
        for (const h of [...r.topK[p], ...r.excludedTopK![p]]) assert.notEqual(h.image, 6);
        for (const h of r.excludedTopK![p]) assert.notEqual(predicted[h.image], prototypeClass[p]);
        // The main search's best-other and the per-class search agree.
        assert.equal(position(r.bestOther[p]!), position(r.excludedTopK![p][0]));
      }
    }
    for (const other of ["webgpu", "cpu"]) {
      for (let p = 0; p < prototypeClass.length; p++) {
        assertSameHits(results[other].topK[p], results.wasm.topK[p], `${other} topK prototype ${p}`);
        assertSameHits(
          results[other].excludedTopK![p],
          results.wasm.excludedTopK![p],
          `${other} excluded ${p}`,
        );
      }
    }
    assert.equal(results.cpu.searchDevice, "cpu");
    assert.equal(results.webgpu.activations, "gpu");
    assert.equal(results.wasm.activations, "cpu");
  },
});

Deno.test(
  "the task predicts the dataset itself when no predictions exist; blank crops fill missing ones",
  ORT_TEST,
  async () => {
    // Only c0 images (the first 30): no image of another class, so no prototype has a target-excluded crop.
    const work = await Deno.makeTempDir();
    const concepts = await writePlantedConcepts(join(work, "concepts"));
    const out = join(work, "out");
    const cmd = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "tasks/component-test.ts",
        ...[
          "--model",
          fixture.modelPath,
          "--data",
          fixture.imageFolder,
          "--concepts",
          concepts,
          "--out",
          out,
        ],
        ...["--classes", "c0_red_green", "--limit", "30", "--ep", "wasm", "--no-composites"],
      ],
      env: { PROTOSCOPE_QUIET: "1" },
      stdout: "piped",
      stderr: "piped",
    });
    const r = await cmd.output();
    const stdout = new TextDecoder().decode(r.stdout);
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    assert.match(stdout, /all images\s+1\/1\s+100\.0%/);
    const predictions = JSON.parse(await Deno.readTextFile(join(out, "predictions", "predictions.json")));
    assert.equal(predictions.images.length, 30);
    const report = JSON.parse(
      await Deno.readTextFile(join(out, "component_test.json")),
    ) as ComponentTestReport;
    assert.equal(report.settings.predictions, join(out, "predictions"));
    assert.deepEqual(report.classes.map((c) => c.class), [0]);
    const excluded = report.classes[0].targetExcluded;
    assert.deepEqual(excluded.missing, [0, 1, 2, 3]);
    assert.ok(excluded.crops.every((c) => c.image === null));
    // Blank crops carry no motif, so the composite is a tie at 0 logits apart from the bias: class 0.
    assert.equal(excluded.argmax, 0);
    assert.ok(Math.abs(excluded.pClass - 1 / 8) < 0.01);
    // ... which is no evidence for the class: a composite without crops fails.
    assert.equal(excluded.pass, false);
    assert.equal(excluded.noCrops, true);
    assert.match(stdout, /target excluded\s+0\/1\s+0\.0%/);
    assert.match(stdout, /\(no crops\) X/);
    assert.equal(report.classes[0].allImages.pass, true);
    assert.equal(report.classes[0].allImages.noCrops, undefined);
    await assert.rejects(() => Deno.stat(join(out, "composites")));
  },
);

Deno.test("composites run through a model exported at a fixed 224x224 input", ORT_TEST, async () => {
  // torchvision's exports fix H and W; a k*32 x 32 composite needs them symbolic.
  const classifier = await openCompositeClassifier(await ensureResNet50(), "wasm");
  try {
    const dims = [1, 3, 4 * 32, 32];
    const r = await classifier.forwardNormalized({ data: new Float32Array(3 * 128 * 32).fill(0.5), dims });
    assert.equal(classifier.numClasses, 1000);
    assert.equal(r.logits!.length, 1000);
    assert.ok(r.logits!.every(Number.isFinite));
  } finally {
    await classifier.release();
  }
});
