// The insert test (Table 4) on the planted fixture, whose logits are exactly spec.expectedLogits of the motif
// cells an image holds (one aligned 32 px cell of motif m adds w(c, m) to class c's logit, the distractor
// and the mean colour add nothing). Pasting a cell of motif m at the bottom-right cell, against the mean-colour
// control at the same place (both remove what that cell held), adds d_c = w(c, m) to each logit, so
//   p(j) with the crop / p(j) with the control = exp(d_j) / sum_c p_c exp(d_c)   (p: the control's softmax)
// which is > 1 when d_j is the largest d (and some class with d < d_j has p > 0: always, softmax is positive)
// and < 1 when d_j = 0 < max d. So, for every receiving class i, p(j) rises over the control exactly for the
// classes j that weigh m most (EXPECTED_RISERS); it falls for every j that does not use m; the one case the
// construction leaves open is c7 with M5 (c6 weighs M5 by 1.15), decided by the closed form per image.
// Every pair (i, j) has a motif of j that i lacks and that j weighs most (j's "unique" motif for the pair,
// UNIQUE_MOTIF), so pasting it raises p(j) over the control for all 56 ordered pairs.
// With `--control black` the control is itself the black motif M6 (vertex [0,0,0]) on this fixture, so a
// pasted M6 cell and the black patch give the same p(c7): the reason the reference's "black" (zero in
// normalized space) is our `mean`, not real black.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Image } from "imagescript";
import { ensureFixture } from "../fixtures/ensure.ts";
import { renderStack, type TruthImage } from "../fixtures/fixture_images.ts";
import {
  CLASSES,
  classMotifWeight,
  expectedLogits,
  motifById,
  motifChannel,
  MOTIFS,
  STAGE_CHANNELS,
} from "../fixtures/spec.ts";
import { Classifier, softmaxRows } from "../src/model/classifier.ts";
import { openDataset } from "../src/data/dataset.ts";
import {
  controlPatch,
  parseCropSpec,
  patchOf,
  placePatch,
} from "../src/pipeline/contrast/insert/insert_patch.ts";
import { conditionProbabilities } from "../src/pipeline/contrast/insert/insert_scores.ts";
import { type InsertReport, runInsertTest } from "../src/pipeline/contrast/insert/insert.ts";
import { runInsertAuto, sampleInsertPairs, topCrop } from "../src/pipeline/contrast/insert/insert_auto.ts";
import { hyperplanesInMemory } from "../src/pipeline/contrast/hyperplanes/hyperplane_set.ts";
import { motifsAt, readTruthByPath, writeLabelPredictions } from "./_helpers/planted_concepts.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };
const fixture = await ensureFixture();
const truth = await readTruthByPath(fixture.truthPath);
const K = CLASSES.length;
const SIDE = 224, CELL = 32, LAST = 6;
const IMAGES = 3;
/** Images per class in the table test (8 classes x 8 conditions). */
const TABLE_IMAGES = 2;
const CLASS_MOTIFS = MOTIFS.filter((m) => m.role === "motif").map((m) => m.id);

/** The expected table: pasting motif m raises p(j) over the control exactly for these classes. */
const EXPECTED_RISERS: Record<string, number[]> = {
  M0: [0, 1, 5],
  M1: [0, 2],
  M2: [1, 3],
  M3: [2, 4, 5],
  M4: [3, 4, 6],
  M5: [6],
  M6: [7],
};
/** Left open by the construction: decided by the closed form. */
const DEPENDS: Record<string, number[]> = { M5: [7] };

/** The motif of j that i lacks and that j weighs most (the lowest slot when two qualify). */
function uniqueMotif(i: number, j: number): string {
  const m = CLASSES[j].motifs.find((id) =>
    !CLASSES[i].motifs.includes(id) && EXPECTED_RISERS[id].includes(j)
  );
  if (!m) throw new Error(`no unique motif of ${j} against ${i}`);
  return m;
}

/** Softmax of the closed-form logits of `image` with its bottom-right cell replaced by `motif` (null: by
 * the mean colour) and, for `before`, unchanged. */
function expectedProbs(image: TruthImage, motif: string | null | "before"): number[] {
  const cells = new Array(MOTIFS.length).fill(0);
  for (const c of image.inputCells!) {
    if (motif !== "before" && c.row === LAST && c.col === LAST) continue;
    cells[c.slot]++;
  }
  if (motif && motif !== "before") cells[motifById(motif).slot]++;
  return Array.from(softmaxRows(Float32Array.from(expectedLogits(cells, SIDE, SIDE)), K));
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The first `count` images labelled `cls` in the ImageFolder layout (what the label predictions select). */
async function classImages(
  cls: number,
  count = IMAGES,
): Promise<{ pixels: Uint8Array; truth: TruthImage[] }> {
  const dataset = await openDataset(fixture.imageFolder, { workers: 0 });
  try {
    const ids = dataset.entries.flatMap((e, i) => (e.label === cls ? [i] : [])).slice(0, count);
    const pixels = new Uint8Array(ids.length * dataset.imageBytes);
    for (const [k, i] of ids.entries()) {
      pixels.set((await dataset.readBatch(i, 1)).images, k * dataset.imageBytes);
    }
    return { pixels, truth: ids.map((i) => truth.get(dataset.entries[i].path)!) };
  } finally {
    dataset.close();
  }
}

Deno.test({
  ...ORT_TEST,
  name: "insert on the fixture: p(j) rises over the control exactly for the classes the construction says",
  async fn() {
    const classifier = await Classifier.open(fixture.modelPath, { ep: "wasm" });
    try {
      const at = placePatch("bottom-right", CELL, CELL, SIDE);
      const motifPatches = CLASS_MOTIFS.map((m) => {
        const cell = renderStack([m], 11);
        return { name: m, patch: patchOf(cell.rgb, CELL, CELL), at };
      });
      const conditions = [{ name: "control", patch: controlPatch("mean", CELL, CELL), at }, ...motifPatches];
      const measured: Record<string, number[][]> = {}; // motif -> receiving class -> risers
      let pairsRising = 0, worst = 0;
      for (const into of CLASSES.map((c) => c.index)) {
        const { pixels, truth: images } = await classImages(into, TABLE_IMAGES);
        assert.ok(images.every((t) => t.inputCells), `class ${into}: its first images are grid aligned`);
        const probs = await conditionProbabilities(classifier, pixels, TABLE_IMAGES, SIDE, conditions, 8);
        // Every number against the closed form.
        conditions.forEach((cond, c) => {
          const motif = c === 0 ? null : cond.name;
          images.forEach((image, n) => {
            const want = expectedProbs(image, motif);
            for (let k = 0; k < K; k++) worst = Math.max(worst, Math.abs(probs[c][n * K + k] - want[k]));
          });
        });
        const pOf = (c: number, j: number) => mean(images.map((_, n) => probs[c][n * K + j]));
        CLASS_MOTIFS.forEach((m, mi) => {
          const risers = CLASSES.map((c) => c.index).filter((j) => pOf(mi + 1, j) > pOf(0, j));
          (measured[m] ??= []).push(risers);
          const open = DEPENDS[m] ?? [];
          const expected = new Set(EXPECTED_RISERS[m]);
          for (const j of open) {
            // The closed form's verdict for the class the construction leaves open.
            const after = mean(images.map((im) => expectedProbs(im, m)[j]));
            const control = mean(images.map((im) => expectedProbs(im, null)[j]));
            if (after > control) expected.add(j);
          }
          assert.deepEqual(risers, [...expected].sort(), `motif ${m} into class ${into}: p(j) rises for`);
        });
        for (const j of CLASSES.map((c) => c.index).filter((j) => j !== into)) {
          const m = uniqueMotif(into, j);
          const mi = CLASS_MOTIFS.indexOf(m);
          if (pOf(mi + 1, j) > pOf(0, j)) pairsRising++;
        }
      }
      assert.ok(worst < 1e-3, `largest |p - closed form| ${worst}`);
      assert.equal(
        pairsRising,
        K * (K - 1),
        "every ordered pair: j's unique motif raises p(j) over the control",
      );
      // Falls: a class that does not use m never rises (the table above says it for every m and i).
      for (const m of CLASS_MOTIFS) {
        for (const risers of measured[m]) {
          for (const j of risers) assert.ok(classMotifWeight(j, motifById(m).slot) > 0, `${m}: ${j} rose`);
        }
      }
    } finally {
      await classifier.release();
    }
  },
});

/** A scratch folder with label predictions of the ImageFolder layout (the fixture model is 100% right). */
async function withWork(body: (work: string, predictions: string) => Promise<void>): Promise<void> {
  const work = await Deno.makeTempDir({ prefix: "insert-" });
  try {
    await body(work, await writeLabelPredictions(join(work, "predictions"), fixture.imageFolder));
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/** The M6 cell of c7's first image: the planted box in the prepared image (rows, columns). */
function m6Crop(): { path: string; spec: string } {
  const image = [...truth.values()].find((t) =>
    t.classIndex === 7 && t.format === "png" && t.inputCells?.some((c) => c.motif === "M6")
  )!;
  const cell = image.inputCells!.find((c) => c.motif === "M6")!;
  const path = join(fixture.truthPath, "..", image.imageFolderPath);
  return { path, spec: `${path}:${cell.row * CELL},${cell.col * CELL},${CELL},${CELL}` };
}

Deno.test({
  ...ORT_TEST,
  name: "insert-test run: c7's M6 cell into c0's images, --watch defaults to c7, JSON and JPEGs written",
  async fn() {
    await withWork(async (work, predictions) => {
      const crop = m6Crop();
      const common = {
        model: fixture.modelPath,
        data: fixture.imageFolder,
        into: "0",
        crop: crop.spec,
        predictions,
        maxImages: IMAGES,
        ep: "wasm" as const,
      };
      const out = join(work, "mean");
      const report = await runInsertTest({ ...common, out });
      assert.equal(report.watchFrom, "crop image prediction");
      assert.deepEqual([report.classes.A.index, report.classes.B.index], [7, 0]);
      assert.equal(report.classes.A.name, CLASSES[7].name);
      const m = report.measurement;
      assert.equal(m.images.length, IMAGES);
      const { truth: images } = await classImages(0);
      m.images.forEach((r, n) => {
        for (const [cond, motif] of [["before", "before"], ["after", "M6"], ["control", null]] as const) {
          const want = expectedProbs(images[n], motif);
          assert.ok(Math.abs(r[cond].pA - want[7]) < 1e-3, `${cond} p(c7) ${r[cond].pA} vs ${want[7]}`);
          assert.ok(Math.abs(r[cond].pB - want[0]) < 1e-3, `${cond} p(c0) ${r[cond].pB} vs ${want[0]}`);
        }
        assert.ok(r.after.pA > r.control.pA, `image ${r.index}: p(c7) rises over the control`);
      });
      assert.ok(m.riseOverControl > 0.01, `mean rise ${m.riseOverControl}`);
      const stored = JSON.parse(await Deno.readTextFile(join(out, "insert_test.json"))) as InsertReport;
      assert.equal(stored.measurement.images.length, IMAGES);
      assert.ok(Math.abs(stored.measurement.summary.after.pA.mean - m.summary.after.pA.mean) < 1e-12);
      assert.ok(stored.measurement.summary.after.pA.std > 0);
      assert.equal((JSON.parse(await Deno.readTextFile(join(out, "manifest.json")))).task, "insert-test");
      // Figure 9: the first image with the crop (the M6 cell, dark, at the bottom-right) and with the control.
      const inserted = await Image.decode(await Deno.readFile(join(out, "inserted.jpg")));
      const control = await Image.decode(await Deno.readFile(join(out, "control.jpg")));
      // And the figure that says what they are: wider than the three 224 px panels it holds.
      assert.equal(stored.figures.figure, "figure.jpg");
      assert.ok((await Image.decode(await Deno.readFile(join(out, "figure.jpg")))).width > 3 * 224);
      assert.deepEqual([inserted.width, inserted.height, control.width, control.height], [
        224,
        224,
        224,
        224,
      ]);
      const brightness = (img: Image) => {
        let s = 0;
        for (let y = 200; y < 216; y++) for (let x = 200; x < 216; x++) s += img.getRGBAAt(x + 1, y + 1)[0];
        return s / 256;
      };
      assert.ok(brightness(inserted) < 90, `the inserted black motif is dark: ${brightness(inserted)}`);
      assert.ok(
        Math.abs(brightness(control) - 124) < 8,
        `the control is the mean colour: ${brightness(control)}`,
      );

      // Real black is the black motif M6 itself on this fixture: the control then raises p(c7) as the crop does.
      const black = await runInsertTest({
        ...common,
        out: join(work, "black"),
        control: "black",
        watch: "7",
      });
      assert.equal(black.watchFrom, "--watch");
      assert.ok(Math.abs(black.measurement.riseOverControl) < 1e-3, `${black.measurement.riseOverControl}`);
      assert.ok(
        black.measurement.summary.control.pA.mean > report.measurement.summary.control.pA.mean + 0.01,
      );
      // Seeded noise is inert for the motif detectors: it behaves as the mean colour, and repeats.
      const noise = await runInsertTest({ ...common, out: join(work, "noise"), control: "noise", seed: 3 });
      assert.ok(Math.abs(noise.measurement.riseOverControl - m.riseOverControl) < 1e-3);
    });
  },
});

Deno.test({
  ...ORT_TEST,
  name: "insert-test refuses bad input before compute, naming the argument",
  async fn() {
    await withWork(async (work, predictions) => {
      const base = {
        model: fixture.modelPath,
        data: fixture.imageFolder,
        into: "0",
        crop: m6Crop().spec,
        predictions,
        maxImages: IMAGES,
        ep: "wasm" as const,
      };
      const refuses = async (opts: Partial<typeof base> & Record<string, unknown>, pattern: RegExp) => {
        const out = join(work, `bad-${Math.random().toString(36).slice(2)}`);
        await assert.rejects(() => runInsertTest({ ...base, ...opts, out }), pattern);
        return out;
      };
      const same = await refuses({ watch: "c0_red_green" }, /--watch c0_red_green and --into 0 are the same/);
      assert.equal(await Deno.stat(same).then(() => true, () => false), false, "no output folder made");
      await refuses(
        { crop: `${m6Crop().path}:200,100,32,32` },
        /--crop .*outside the 224x224 prepared image/,
      );
      await refuses({ crop: "/no/such/file.png:0,0,32,32" }, /--crop \/no\/such\/file.png.*cannot read/);
      await refuses({ crop: "file.png" }, /--crop file.png: expected PATH:top,left,height,width/);
      await refuses({ into: "99" }, /--into 99: the model has 8 classes/);
      await refuses({ position: "200,200" }, /--position 200,200 .* outside/);
      // A class without images: the first 30 images are all c0.
      await refuses({ limit: 30, into: "5" }, /--into 5: no image of .* is predicted as class 5/);
      // Hyperplanes of another width (--auto): 16 channels at layer3.1, which has 32.
      const narrow = hyperplanesInMemory(K, 16, new Map([[0, new Float32Array(K * 16)]]));
      await assert.rejects(
        () =>
          runInsertAuto({
            ...base,
            out: join(work, "auto-bad"),
            auto: 2,
            layer: "layer3.1",
            hyperplanes: { source: "narrow", set: narrow },
          }),
        /--hyperplanes narrow: normals have 16 channels, but --layer layer3.1 has 32/,
      );
    });
  },
});

/** Row A of hyperplanes built from the truth: n_AB = +B's motif channels - A's (zero on shared motifs),
 * bias 0, so the A-side score -(n . a) is positive exactly on A's motifs that B lacks. */
function constructedRow(A: number): Float32Array {
  const C = STAGE_CHANNELS.layer3;
  const row = new Float32Array(K * C);
  for (let B = 0; B < K; B++) {
    if (B === A) continue;
    for (const m of CLASSES[B].motifs) row[B * C + motifChannel("layer3", motifById(m).slot)] += 1;
    for (const m of CLASSES[A].motifs) row[B * C + motifChannel("layer3", motifById(m).slot)] -= 1;
  }
  return row;
}

Deno.test({
  ...ORT_TEST,
  name: "insert-test --auto on the fixture: every pair's top crop is A's motif that B lacks, and p(A) rises",
  async fn() {
    await withWork(async (work, predictions) => {
      const C = STAGE_CHANNELS.layer3;
      const rows = new Map(CLASSES.map((c) => [c.index, constructedRow(c.index)]));
      const PAIRS = 4;
      const auto = {
        model: fixture.modelPath,
        data: fixture.imageFolder,
        predictions,
        out: join(work, "auto"),
        layer: "layer3.1",
        hyperplanes: { source: "constructed from the truth", set: hyperplanesInMemory(K, C, rows) },
        k: 2,
        seed: 5,
        maxImages: IMAGES,
        ep: "wasm" as const,
        nmfDevice: "cpu" as const,
        cpuSearch: true,
      };
      const report = await runInsertAuto({ ...auto, auto: PAIRS });
      assert.equal(report.pairs.length, PAIRS);
      assert.deepEqual(report.left, []);
      let expectedRises = 0;
      for (const p of report.pairs) {
        const image = truth.get(p.crop.path)!;
        assert.equal(image.classIndex, p.A, `the crop of (${p.A}, ${p.B}) comes from an image of A`);
        assert.equal(p.crop.size, CELL);
        const motifs = motifsAt(image, p.crop.y, p.crop.x);
        const own = CLASSES[p.A].motifs.filter((m) => !CLASSES[p.B].motifs.includes(m));
        assert.equal(motifs.length, 1, `(${p.A}, ${p.B}): the crop holds one planted motif`);
        assert.ok(own.includes(motifs[0]), `(${p.A}, ${p.B}): ${motifs[0]} is one of A's motifs B lacks`);
        // The closed form of this pair: B's images with that motif, against the control.
        const { truth: into } = await classImages(p.B);
        const after = mean(into.map((im) => expectedProbs(im, motifs[0])[p.A]));
        const control = mean(into.map((im) => expectedProbs(im, null)[p.A]));
        assert.ok(Math.abs(p.measurement.riseOverControl - (after - control)) < 1e-3);
        if (after > control) expectedRises++;
        for (const f of Object.values(p.figures)) await Deno.stat(join(work, "auto", f));
      }
      assert.equal(
        expectedRises,
        PAIRS,
        "the construction: A's motif that B lacks raises p(A) in every pair",
      );
      assert.equal(report.summary.risesOverControl, expectedRises);
      assert.ok(report.summary.riseOverControl.mean > 0 && report.summary.riseOverControl.median > 0);
      const stored = JSON.parse(await Deno.readTextFile(join(work, "auto", "insert_test.json")));
      assert.equal(stored.summary.risesOverControl, expectedRises);
      // A rerun with one pair into the same --out: the other pairs' why_not/<pair>/ folders go (issue 18).
      const [first] = report.pairs;
      const again = await runInsertAuto({ ...auto, auto: 1, pairs: [{ from: first.A, to: first.B }] });
      assert.equal(again.pairs.length, 1);
      const pair = `${first.A}_not_${first.B}`;
      assert.deepEqual([...Deno.readDirSync(join(work, "auto", "why_not"))].map((e) => e.name), [pair]);
      const manifest = JSON.parse(await Deno.readTextFile(join(work, "auto", "manifest.json")));
      assert.ok(manifest.outputs.includes(`why_not/${pair}/`));
    });
  },
});

Deno.test({
  ...ORT_TEST,
  name: "deno task insert-test: --help, and the flags --auto and --crop need, named",
  async fn() {
    const run = async (...args: string[]) => {
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "tasks/insert-test.ts", ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: r.code, text: new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr) };
    };
    const help = await run("--help");
    assert.equal(help.code, 0);
    assert.match(help.text, /--crop +PATH:top,left,height,width/);
    assert.match(help.text, /--control +control patch: mean/);
    const base = ["--model", fixture.modelPath, "--data", fixture.imageFolder, "--out", "/tmp/never-made"];
    const noLayer = await run(...base, "--auto", "2", "--hyperplanes", "H");
    assert.equal(noLayer.code, 2);
    assert.match(noLayer.text, /--auto needs --layer/);
    const noCrop = await run(...base, "--into", "0");
    assert.equal(noCrop.code, 2);
    assert.match(noCrop.text, /--crop is required without --auto/);
    const badControl = await run(...base, "--into", "0", "--crop", "x.png:0,0,1,1", "--control", "gray");
    assert.match(badControl.text, /--control expects one of mean\|black\|noise, got 'gray'/);
  },
});

Deno.test("insert arguments: crop spec, positions, controls and the --auto pair sampling", () => {
  assert.deepEqual(parseCropSpec("C:/data/malamute.jpg:20,135,160,60"), {
    path: "C:/data/malamute.jpg",
    box: { top: 20, left: 135, height: 160, width: 60 },
  });
  assert.throws(() => parseCropSpec("m.jpg:20,135,0,60"), /--crop m.jpg:20,135,0,60: height and width/);
  assert.throws(() => parseCropSpec("m.jpg:20,135,160"), /expected PATH:top,left,height,width/);
  // The reference's person (160 x 60) at the bottom-right of a 224 px image.
  assert.deepEqual(placePatch("bottom-right", 160, 60, 224), { top: 64, left: 164, height: 160, width: 60 });
  assert.deepEqual(placePatch("top-left", 160, 60, 224), { top: 0, left: 0, height: 160, width: 60 });
  assert.deepEqual(placePatch("10,20", 160, 60, 224), { top: 20, left: 10, height: 160, width: 60 });
  assert.throws(() => placePatch("middle", 1, 1, 224), /--position middle: expected bottom-right/);
  // mean is exactly zero for the model; black is (0 - mean) / std; noise repeats with its seed.
  assert.ok(controlPatch("mean", 2, 2).normalized.every((v) => v === 0));
  assert.ok(Math.abs(controlPatch("black", 1, 1).normalized[0] - -0.485 / 0.229) < 1e-6);
  assert.deepEqual(controlPatch("noise", 4, 4, 9).rgb, controlPatch("noise", 4, 4, 9).rgb);
  assert.notDeepEqual(controlPatch("noise", 4, 4, 9).rgb, controlPatch("noise", 4, 4, 10).rgb);
  const has = (c: number) => c !== 2;
  const pairs = sampleInsertPairs(5, 6, 1, has, (c) => c !== 4);
  assert.equal(pairs.length, 6);
  assert.equal(new Set(pairs.map((p) => `${p.from}:${p.to}`)).size, 6, "distinct");
  assert.ok(pairs.every((p) => p.from !== p.to && has(p.from) && has(p.to) && p.from !== 4));
  assert.deepEqual(sampleInsertPairs(5, 6, 1, has, (c) => c !== 4), pairs, "seeded");
  assert.equal(sampleInsertPairs(5, 99, 1, has).length, 4 * 3, "at most every eligible pair");
});

Deno.test("insert --auto: the top crop is the best cell by cosine x A-side mask, never one off A's side", () => {
  const crop = (score: number, maskAtCell: number, y = 0) => ({
    image: 0,
    path: "a.png",
    y,
    x: 0,
    score,
    predicted: 0,
    maskAtCell,
  });
  assert.deepEqual(topCrop([[crop(0.9, 0.1, 1)], [crop(0.8, 0.5, 2)], []])?.prototype, 1);
  assert.equal(topCrop([[crop(0, 0)], [crop(0.7, 0)], []]), undefined);
});
