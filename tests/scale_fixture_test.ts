// The scale fixture (fixtures/scale/): K = 20 and K = 200 are valid (distinct motif pairs, planted cells that
// predict their class), the closed-form pair truth agrees with the general dominance rule of
// fixtures/contrast_truth.ts, the model predicts every planted class, and bad options are refused by name.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  cellCounts,
  ensureScaleFixture,
  planScaleImage,
  readScaleTruth,
  renderScaleImage,
} from "../fixtures/scale/scale_images.ts";
import { buildScaleModel } from "../fixtures/scale/scale_model.ts";
import { encodeModel } from "../src/onnx/model.ts";
import { SplitModel } from "../src/model/split_model.ts";
import {
  motifsFor,
  scaleComponentTruth,
  scaleLogits,
  scalePairTruths,
  type ScaleSpec,
  scaleSpec,
} from "../fixtures/scale/scale_spec.ts";
import { largeOffsetWinner } from "../fixtures/scale/scale_check.ts";
import { predictDataset } from "../src/pipeline/predict/predict.ts";
import { UsageError } from "../src/cli/cli.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };
const work = await Deno.makeTempDir({ prefix: "scale-fixture-" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));

/** The general rule (contrast_truth.ts largeOffsetOutcome) by brute force: j flips for every positive
 * magnitude on P when it dominates every other class there (ties to the lower index). */
function bruteForceFlips(spec: ScaleSpec, to: number, positive: number[]): boolean {
  const w = (c: number, m: number) => (spec.classes[c].motifs.includes(m) ? 1 : 0);
  return spec.classes.every((c) => {
    if (c.index === to) return true;
    let strict = false;
    for (const m of positive) {
      if (w(to, m) < w(c.index, m)) return false;
      if (w(to, m) > w(c.index, m)) strict = true;
    }
    return strict || to < c.index;
  });
}

for (const K of [20, 200]) {
  Deno.test(`scale fixture K = ${K}: distinct classes, derivable truth, planted cells predict the class`, async () => {
    const paths = await ensureScaleFixture(join(work, `k${K}`), { classes: K, perClass: 2, size: 56 });
    const truth = await readScaleTruth(paths.truthPath);
    const spec = truth.spec;
    assert.equal(spec.classes.length, K);
    assert.equal(spec.motifCount, motifsFor(K));
    const keys = new Set(spec.classes.map((c) => c.motifs.join(",")));
    assert.equal(keys.size, K, "two classes share both motifs");
    assert.equal(new Set(spec.palette.map((p) => p.join(","))).size, spec.motifCount + 1);
    // The folder names sort in index order (what the ImageFolder reader relies on).
    const names = spec.classes.map((c) => c.name);
    assert.deepEqual([...names].sort(), names);
    assert.equal(truth.images.length, K * 2);
    for (const image of truth.images) {
      const z = scaleLogits(spec, cellCounts(spec, image.cells));
      assert.equal(z.indexOf(Math.max(...z)), image.classIndex, image.path);
      assert.ok((await Deno.stat(join(paths.dir, image.path))).isFile);
    }
    assert.ok(scaleComponentTruth(spec).every((t) => t.allImages && t.targetExcluded));
    const pairs = scalePairTruths(spec);
    assert.equal(pairs.length, K * (K - 1));
    // Each pair's positive and negative motifs, and so its truth, differ from every other pair's of the same i.
    const byFrom = new Map<number, Set<string>>();
    for (const t of pairs) {
      const set = byFrom.get(t.from) ?? new Set();
      set.add(`${t.positive}|${t.shared}`);
      byFrom.set(t.from, set);
    }
    for (const [from, set] of byFrom) assert.equal(set.size, K - 1, `class ${from}: two pairs look alike`);
    // The closed form of the shifting truth against the brute-force rule (both signs of the shared weight).
    for (const t of pairs.slice(0, 4000)) {
      const always = bruteForceFlips(spec, t.to, t.positive) &&
        bruteForceFlips(spec, t.to, [...t.positive, ...t.shared]);
      assert.equal(t.shift === "flips", always, `pair ${t.from} -> ${t.to}`);
    }
  });
}

Deno.test(
  "scale fixture K = 200: the model predicts the planted class (classes across the range)",
  ORT_TEST,
  async () => {
    const paths = await ensureScaleFixture(join(work, "k200"), { classes: 200, perClass: 2, size: 56 });
    const truth = await readScaleTruth(paths.truthPath);
    // A plain folder (no labels) of both images of 12 classes from first to last, named by their class.
    const few = join(work, "few");
    await Deno.mkdir(few, { recursive: true });
    const picked = truth.images.filter((im) => im.classIndex % 18 === 0 || im.classIndex === 199);
    for (const [n, im] of picked.entries()) {
      await Deno.copyFile(
        join(paths.dir, im.path),
        join(few, `${String(n).padStart(2, "0")}_${im.classIndex}.png`),
      );
    }
    const p = await predictDataset({ model: paths.modelPath, data: few, out: join(work, "p"), ep: "wasm" });
    assert.equal(p.images.length, picked.length);
    for (const im of p.images) {
      const want = Number(/_(\d+)\.png$/.exec(im.path)![1]);
      assert.equal(im.predicted, want, im.path);
    }
  },
);

Deno.test(
  "scale fixture K = 1000: a motif channel is exactly 0 off its own colour, also on cells of a palette neighbour",
  ORT_TEST,
  async () => {
    // Black (motif 0) has neighbours 0.3 away among K = 1000's 46 motifs (24, 26, 28); with the match ramp
    // ending at 0.3, pixel noise let them leak ~1e-3 into black cells and NMF made a prototype of the leak.
    const spec = scaleSpec({ classes: 1000, size: 224 });
    const modelPath = join(work, "k1000.onnx");
    await Deno.writeFile(modelPath, encodeModel(buildScaleModel(spec)));
    const model = await SplitModel.open(modelPath, "layer3", "auto");
    try {
      const [C, h, w] = model.tapShape;
      const images = [0, 1, 2, 26, 28].flatMap((c) =>
        [0, 1, 2].map((n) => ({ c, cells: planScaleImage(spec, c, n) }))
      );
      const pixels = new Uint8Array(images.length * 224 * 224 * 3);
      images.forEach((im, k) => pixels.set(renderScaleImage(spec, im.cells, 1000 + k), k * 224 * 224 * 3));
      const acts = await model.activations(pixels, images.length);
      for (const [k, im] of images.entries()) {
        const present = new Set(im.cells.map((cell) => cell.motif));
        for (let m = 0; m <= spec.motifCount; m++) {
          const plane = acts.subarray((k * C + m) * h * w, (k * C + m + 1) * h * w);
          const total = plane.reduce((a, b) => a + b, 0);
          if (present.has(m)) {
            const cells = im.cells.filter((cell) => cell.motif === m).length;
            assert.ok(
              Math.abs(total - 4 * cells) < 1e-4,
              `image ${k} motif ${m}: ${total} for ${cells} cells`,
            );
          } else {
            assert.equal(total, 0, `image ${k} (class ${im.c}): motif ${m} leaks ${total}`);
          }
        }
      }
    } finally {
      await model.release();
    }
  },
);

Deno.test("largeOffsetWinner: the class whose two motifs carry the most positive weight", () => {
  const spec = scaleSpec({ classes: 20 });
  const normal = new Array(spec.channels).fill(0);
  const c = spec.classes[13];
  normal[c.motifs[0]] = 0.6;
  normal[c.motifs[1]] = 0.5;
  normal[spec.motifCount + 1] = 9; // a generic channel: no fc weight, no say
  assert.equal(largeOffsetWinner(spec, normal), 13);
  normal[c.motifs[1]] = -0.5; // now only motif a: every class with it ties, too close to call
  assert.equal(largeOffsetWinner(spec, normal), undefined);
});

Deno.test("scale fixture: bad options are refused naming the flag", () => {
  assert.throws(
    () => scaleSpec({ classes: 1 }),
    (e) => e instanceof UsageError && /--classes 1/.test(e.message),
  );
  assert.throws(() => scaleSpec({ classes: 5000 }), /--classes 5000: expected an integer in 2\.\.1953/);
  assert.throws(() => scaleSpec({ classes: 1000, channels: 40 }), /--channels 40: expected an integer >= 48/);
  assert.throws(() => scaleSpec({ classes: 20, size: 100 }), /--size 100/);
});
