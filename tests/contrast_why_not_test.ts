// "Why A, not B" on the planted fixture. Expected, from the construction (fixtures/spec.ts, contrast_truth.ts):
// class images hold only their class's two motifs (and the distractor); the (i, j) hyperplane, trained from
// zeros on the contrast vectors, weighs i's motifs that j lacks negatively (A side) and j's that i lacks
// positively, and leaves every channel that is 0 on both classes' rows at exactly 0. So the A-side mask is
// positive on the cells of i's unique motifs, and the NMF of the masked activations has a prototype on each
// such motif; j's motifs never occur in i's images, so no prototype points at them.
//
//   pair (i, j)   i's motifs   j's motifs   a prototype with cosine >= 0.9   cosine <= 0.1 with
//   (0, 3)        M0 M1        M2 M4        M0, M1 (disjoint pair)           M2, M4
//   (0, 5)        M0 M1        M0 M3        M1 (M0 shared)                   M3
//   (7, 6)        M5 M6        M4 M5        M6 (M5 shared)                   M4
//
// The mask keeps (score > 0 on all four tap positions) every planted cell of i's unique motifs in i's images.
// The shared motif is also j's: asserted <= 0.1 too (measured 0.000 and 0.002), though the construction fixes
// only the signs of the unique motifs' weights.
//
// The hyperplanes are trained to separation (1000 epochs at lr 0.5 from zeros). The reference's budget (100
// epochs at lr 0.01) leaves them bias-dominated at this scale: from zeros, (0, 3) keeps M1's cells but not
// M0's (best M0 cosine 0); from the torch start the masks keep ~0% or ~100% of the positions ((0, 5): none,
// so no prototypes; (7, 6): all, so the "why" prototypes are just c7's concepts, M5 included).
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureFixture } from "../fixtures/ensure.ts";
import { CLASSES, MOTIF_CHANNELS, motifById, STAGE_CHANNELS } from "../fixtures/spec.ts";
import { pairTruth } from "../fixtures/contrast_truth.ts";
import type { FixtureTruth } from "../fixtures/fixture_images.ts";
import { writeLabelPredictions } from "./_helpers/planted_concepts.ts";
import { fixtureContrastVectors } from "./_helpers/fixture_vectors.ts";
import { hyperplanesInMemory } from "../src/pipeline/contrast/hyperplanes/hyperplane_set.ts";
import { sideMasks, whyNot } from "../src/pipeline/contrast/why_not/why_not.ts";
import { trainPairCpu } from "../kernels/hyperplane/reference.ts";
import { readNpy } from "../src/io/npy.ts";
import { readManifest } from "../src/io/manifest.ts";
import { UsageError } from "../src/cli/cli.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };
const C = STAGE_CHANNELS.layer3;
const K = CLASSES.length;
const channelOf = (m: string) => MOTIF_CHANNELS["layer3.1"][motifById(m).slot];

const fixture = await ensureFixture();
const truth: FixtureTruth = JSON.parse(await Deno.readTextFile(fixture.truthPath));
const work = await Deno.makeTempDir();
const predictions = join(work, "predictions");
// The fixture model predicts every image's label (predict_test checks): no predict pass needed.
await writeLabelPredictions(predictions, fixture.imageFolder);
const vectors = await fixtureContrastVectors(fixture, work, predictions);

const PAIRS: [number, number][] = [[0, 3], [0, 5], [7, 6]];
const TRAINING = { epochs: 1000, lr: 0.5, init: "zeros" as const, seed: 0 };

/** Rows i of the pairs asked, trained from zeros on the contrast vectors (the CPU twin). */
function trainedPlanes(pairs: [number, number][]) {
  const normals = new Map<number, Float32Array>(), biases = new Map<number, Float32Array>();
  for (const [i, j] of pairs) {
    const row = normals.get(i) ?? normals.set(i, new Float32Array(K * C)).get(i)!;
    const bias = biases.get(i) ?? biases.set(i, new Float32Array(K)).get(i)!;
    const t = trainPairCpu(vectors.rows.get(i)!, vectors.rows.get(j)!, C, i, j, TRAINING);
    row.set(t.normal, j * C);
    bias[j] = t.bias;
  }
  return hyperplanesInMemory(K, C, normals, biases);
}
const planes = trainedPlanes([...PAIRS, ...PAIRS.map(([i, j]) => [j, i] as [number, number])]);

const base = {
  model: fixture.modelPath,
  data: fixture.imageFolder,
  layer: "layer3",
  hyperplanes: { source: "trained in the test", set: planes },
  maxImages: 6,
  crops: 4,
  predictions,
  ep: "wasm" as const,
  nmfDevice: "cpu" as const,
  cpuSearch: true,
};

function bestCosine(basis: Float32Array, k: number, channel: number): number {
  let best = 0;
  for (let r = 0; r < k; r++) {
    const row = basis.subarray(r * C, (r + 1) * C);
    const norm = Math.hypot(...row);
    if (norm > 0) best = Math.max(best, row[channel] / norm);
  }
  return best;
}

/** The 14 x 14 tap positions of the planted cells of `motif` in the truth image of dataset entry `path`. */
function motifPositions(path: string, motif: string): number[] {
  const image = truth.images.find((t) => path.endsWith(t.imageFolderPath));
  assert.ok(image?.inputCells, `${path}: no grid-aligned truth`);
  return image.inputCells.filter((c) => c.motif === motif).flatMap((c) =>
    [[0, 0], [0, 1], [1, 0], [1, 1]].map(([dy, dx]) => (2 * c.row + dy) * 14 + 2 * c.col + dx)
  );
}

for (const [i, j] of PAIRS) {
  Deno.test(
    `why c${i}, not c${j}: prototypes on i's motifs that j lacks, masks keep their cells`,
    ORT_TEST,
    async () => {
      const t = pairTruth(i, j);
      const k = 3;
      const out = join(work, `why-${i}-${j}`);
      const r = await whyNot({ ...base, classA: i, classB: j, out, k });
      assert.equal(r.images.length, 6);
      const report: string[] = [];
      for (const m of t.negativeMotifs) {
        const cos = bestCosine(r.basis, k, channelOf(m));
        report.push(`${m} ${cos.toFixed(3)}`);
        assert.ok(cos >= 0.9, `why c${i} not c${j}: best prototype cosine with ${m} is ${cos}`);
      }
      for (const m of [...t.positiveMotifs]) {
        const cos = bestCosine(r.basis, k, channelOf(m));
        report.push(`${m} ${cos.toFixed(3)}`);
        assert.ok(cos <= 0.1, `why c${i} not c${j}: a prototype points at c${j}'s motif ${m} (${cos})`);
      }
      for (const m of t.sharedMotifs) {
        report.push(`shared ${m} ${bestCosine(r.basis, k, channelOf(m)).toFixed(3)}`);
      }
      // The mask keeps every planted cell of i's unique motifs.
      const [, h, w] = r.maskShape;
      let kept = 0, total = 0;
      r.imagePaths.forEach((path, n) => {
        for (const m of t.negativeMotifs) {
          for (const p of motifPositions(path, m)) {
            total++;
            if (r.masks[n * h * w + p] > 0) kept++;
          }
        }
      });
      console.log(
        `why c${i} not c${j}: ${report.join(", ")}; unique-motif positions kept ${kept}/${total}; ` +
          `keptShare ${r.keptShare.toFixed(3)}`,
      );
      assert.ok(total > 0);
      assert.equal(kept, total);
      // Outputs on disk.
      const basis = await readNpy(join(out, "basis.npy"));
      assert.deepEqual(basis.shape, [k, C]);
      assert.deepEqual((await readNpy(join(out, "masks.npy"))).shape, [6, h, w]);
      const json = JSON.parse(await Deno.readTextFile(join(out, "contrast.json")));
      assert.equal(json.prototypes.length, k);
      assert.ok((await Deno.stat(r.figure)).size > 1000);
    },
  );
}

Deno.test(
  "--both: B, not A beside A, not B; the reverse prototypes are on j's motifs that i lacks",
  ORT_TEST,
  async () => {
    const out = join(work, "both");
    const r = await whyNot({ ...base, classA: 0, classB: 5, out, k: 3, both: true });
    assert.ok(r.reverse);
    assert.equal(r.reverse.from, 5);
    assert.ok(bestCosine(r.reverse.basis, 3, channelOf("M3")) >= 0.9);
    assert.ok(bestCosine(r.reverse.basis, 3, channelOf("M1")) <= 0.1);
    assert.deepEqual((await readNpy(join(out, "reverse", "basis.npy"))).shape, [3, C]);
    const json = JSON.parse(await Deno.readTextFile(join(out, "contrast.json")));
    assert.equal(json.reverse.from, 5);
    assert.ok(r.figure.endsWith(`why_0_${CLASSES[0].name}_not_5_${CLASSES[5].name}.jpg`));
  },
);

Deno.test(
  "--signed split on a tap after a ReLU: the ReLU(-x) half stays empty and the planted answer holds",
  ORT_TEST,
  async () => {
    const out = join(work, "signed-split");
    const r = await whyNot({ ...base, classA: 0, classB: 5, out, k: 3, signed: "split" });
    const split = await readNpy(join(out, "basis_split.npy"));
    assert.deepEqual(split.shape, [3, 2 * C]);
    const h = split.data as Float32Array;
    for (let p = 0; p < 3; p++) {
      assert.ok(h.subarray(p * 2 * C + C, (p + 1) * 2 * C).every((x) => x === 0), `prototype ${p}: p- = 0`);
      assert.deepEqual([...r.basis.subarray(p * C, (p + 1) * C)], [...h.subarray(p * 2 * C, p * 2 * C + C)]);
    }
    assert.ok(bestCosine(r.basis, 3, channelOf("M1")) >= 0.9);
    assert.ok(bestCosine(r.basis, 3, channelOf("M3")) <= 0.1);
    assert.equal((await readManifest(out))!.manifest.settings!.signed, "split");
  },
);

Deno.test("the A-side score: consistent -(n.a + b) and the reference's -n.a + b, against a hand computation", () => {
  // Two images, two channels, two positions: a = [[1, 0], [0, 2]] (channel x position) and [[0, 1], [3, 0]].
  const acts = Float32Array.from([1, 0, 0, 2, 0, 1, 3, 0]);
  const normal = Float32Array.from([-1, 0.5]);
  const bias = 0.25;
  // n.a per position: image 0: [-1, 1], image 1: [1.5, -1].
  assert.deepEqual([...sideMasks(acts, 2, 2, 2, normal, bias)], [0.75, 0, 0, 0.75]);
  assert.deepEqual([...sideMasks(acts, 2, 2, 2, normal, bias, true)], [1.25, 0, 0, 1.25]);
});

Deno.test("bad input is refused before compute, naming the argument", ORT_TEST, async () => {
  const refuse = async (opts: Partial<Parameters<typeof whyNot>[0]>, pattern: RegExp) => {
    await assert.rejects(
      () => whyNot({ ...base, classA: 0, classB: 3, out: join(work, "bad"), ...opts }),
      (e: Error) => e instanceof UsageError && pattern.test(e.message),
    );
  };
  await refuse({ classB: 0 }, /--class 0 and --not 0 name the same class/);
  await refuse({ classB: CLASSES[0].name }, /name the same class/);
  await refuse({ classA: 99 }, /--class 99: expected a class index in 0\.\.7/);
  const narrow = hyperplanesInMemory(K, 16, new Map([[0, new Float32Array(K * 16)]]));
  await refuse(
    { hyperplanes: { source: "narrow", set: narrow } },
    /--hyperplanes narrow: normals have 16 channels, but --layer layer3 has 32/,
  );
  // The first 30 images are c0's: no image is predicted as c3 (B needs images only with --both).
  await refuse(
    { classA: 3, classB: 0, limit: 30, predictions: undefined },
    /--class 3: no image .* is predicted as class 3/,
  );
});

Deno.test("a mask that keeps no position gives no prototypes, reported, not a crash", ORT_TEST, async () => {
  // A bias far on B's side: -(n . a + b) < 0 everywhere.
  const normals = new Map([[0, new Float32Array(K * C)]]);
  normals.get(0)![3 * C + channelOf("M0")] = -1;
  const biases = new Map([[0, Float32Array.from({ length: K }, () => 1000)]]);
  const set = hyperplanesInMemory(K, C, normals, biases);
  const out = join(work, "empty");
  const r = await whyNot({ ...base, hyperplanes: { source: "far", set }, classA: 0, classB: 3, out, k: 2 });
  assert.equal(r.noPositions, true);
  assert.equal(r.keptShare, 0);
  assert.ok(r.basis.every((v) => v === 0));
  assert.deepEqual(r.topCrops, [[], []]);
  const json = JSON.parse(await Deno.readTextFile(join(out, "contrast.json")));
  assert.equal(json.noPositions, true);
  // The reference's sign keeps the bias on A's side: -n . a + 1000 > 0 everywhere.
  const ref = await whyNot({
    ...base,
    hyperplanes: { source: "far", set },
    classA: 0,
    classB: 3,
    out: join(work, "empty-ref"),
    k: 2,
    referenceBias: true,
  });
  assert.equal(ref.keptShare, 1);
});
