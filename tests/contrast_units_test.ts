// The arithmetic of the contrast tests on hand-checked cases: the reference's pair sampling loop, the summary
// figures (ours and the reference's index-slipped flip count), offsets and pairs parsing, the shift, the
// masking thresholds (torch's float32 index arithmetic) and the nearest-neighbour mask upsampling.
import assert from "node:assert/strict";
import {
  allPairs,
  groupBySource,
  parsePairList,
  samplePairs,
} from "../src/pipeline/contrast/sanity_checks/pair_sampling.ts";
import {
  type PairRecord,
  summarizeRun,
  summarizeRuns,
} from "../src/pipeline/contrast/sanity_checks/contrast_summary.ts";
import {
  attributionMask,
  parseOffsets,
  shiftImage,
  shiftingTest,
} from "../src/pipeline/contrast/sanity_checks/shifting.ts";
import {
  hyperplaneDistances,
  keptShare,
  maskImage,
  maskLevel,
  quantileThresholds,
} from "../src/pipeline/contrast/sanity_checks/masking.ts";
import { stepQuartiles } from "../src/pipeline/contrast/sanity_checks/step_figure.ts";

Deno.test("pair sampling reproduces the reference's loop on a hand-checked case", () => {
  // seededRandom(3) starts 0.7202 0.0387 0.4562 0.0749 0.7630 0.4812 0.4867 0.1618 0.2633 ...; i = floor(4u),
  // j = 1 + floor(3u). Draw 1: i=2, j=1 -> (2,1), j=2 -> i == j. Draw 2: i=0, j=3, j=2. Draw 3: i=1, j=1, j=1.
  assert.deepEqual(samplePairs(4, { draws: 3, others: 2, seed: 3 }), [
    { from: 2, to: 1 },
    { from: 0, to: 3 },
    { from: 0, to: 2 },
  ]);
  // Without images for class 0 its draw consumes no j: draw 3 then reads u = 0.7630 (i = 3), j = 2, and the
  // repeat (3, 2) is skipped.
  assert.deepEqual(samplePairs(4, { draws: 3, others: 2, seed: 3, hasImages: (c) => c !== 0 }), [
    { from: 2, to: 1 },
    { from: 3, to: 2 },
  ]);
  // Class 0 is never a target (randint(1, K-1)) and no pair repeats.
  const many = samplePairs(20, { draws: 200, others: 10, seed: 1 });
  assert.ok(many.every((p) => p.to >= 1 && p.from !== p.to));
  assert.equal(new Set(many.map((p) => `${p.from}:${p.to}`)).size, many.length);
  assert.deepEqual(samplePairs(20, { draws: 200, others: 10, seed: 1 }), many, "seeded");
});

Deno.test("all pairs, explicit pairs and grouping by source class", () => {
  assert.deepEqual(allPairs(3, (c) => c !== 1), [
    { from: 0, to: 1 },
    { from: 0, to: 2 },
    { from: 2, to: 0 },
    { from: 2, to: 1 },
  ]);
  assert.deepEqual(parsePairList("3:7, 0:1", 8), [{ from: 3, to: 7 }, { from: 0, to: 1 }]);
  assert.equal(parsePairList("all", 8), "all");
  assert.equal(parsePairList(undefined, 8), undefined);
  assert.throws(() => parsePairList("3-7", 8), /--pairs.*3-7/);
  assert.throws(() => parsePairList("3:8", 8), /--pairs 3:8: class 8 is outside the 8 classes/);
  assert.throws(() => parsePairList("2:2", 8), /--pairs 2:2: a class cannot be contrasted with itself/);
  assert.deepEqual([...groupBySource([{ from: 2, to: 1 }, { from: 0, to: 3 }, { from: 2, to: 4 }])], [
    [2, [1, 4]],
    [0, [3]],
  ]);
});

Deno.test("summary figures on hand-made records, and the reference's one-step-early flip count", () => {
  const a: PairRecord = {
    from: 0,
    to: 1,
    images: 2,
    pFrom: [0.9, 0.6, 0.3],
    pTo: [0.05, 0.3, 0.6],
    top1: [],
  };
  const b: PairRecord = {
    from: 1,
    to: 2,
    images: 2,
    pFrom: [0.8, 0.45, 0.2],
    pTo: [0.1, 0.52, 0.4],
    top1: [],
  };
  const c: PairRecord = { from: 2, to: 0, images: 2, pFrom: [0.7, 0.7, 0.7], pTo: [0, 0.1, 0.2], top1: [] };
  const s = summarizeRun([a, b, c]);
  const near = (x: number, y: number) => assert.ok(Math.abs(x - y) < 1e-12, `${x} vs ${y}`);
  assert.equal(s.pairs, 3);
  near(s.meanOriginalPTo, 0.05);
  near(s.stdOriginalPTo, Math.sqrt(0.005 / 3));
  near(s.meanMaxShiftedPTo, 0.44);
  near(s.stdMaxShiftedPTo, Math.sqrt(((0.6 - 0.44) ** 2 + (0.52 - 0.44) ** 2 + (0.2 - 0.44) ** 2) / 3));
  // a: best 0.6 at step 2, p(i) there 0.3 -> flip; b: 0.52 at step 1 vs 0.45 -> flip; c: 0.2 -> no.
  near(s.flipPercent, 200 / 3);
  // The reference reads p(i) one step earlier: a vs 0.6 (flip, 0.6 >= 0.6), b vs 0.8 (no).
  near(s.referenceFlipPercent, 100 / 3);
  // c has p(j) = 0 at step 0: its factor is infinite and left out.
  near(s.meanIncreaseFactor, (12 + 5.2) / 2);
  assert.equal(s.increaseFactorPairsLeftOut, 1);
  near(s.ratioOfMeans, 0.44 / 0.05);
  const over = summarizeRuns([s, summarizeRun([a])]);
  near(over.flipPercent.mean, (200 / 3 + 100) / 2);
  near(over.flipPercent.std, (100 - 200 / 3) / 2);
  near(over.pairs.mean, 2);
});

Deno.test("offsets must start with 0; a cutoff outside [0, 1) is refused before any compute", () => {
  assert.deepEqual(parseOffsets(undefined), [0, -0.5, -1, -2, -10, -15, -20, -35, -50, -200]);
  assert.deepEqual(parseOffsets("0,-1,-5"), [0, -1, -5]);
  assert.throws(() => parseOffsets("-1,0"), /--offsets must start with 0/);
  assert.throws(() => parseOffsets("0,x"), /--offsets.*'x'/);
  assert.throws(() => parseOffsets("0"), /--offsets needs at least one offset after 0/);
  assert.throws(() => shiftingTest([0, -1], "attribution", 1.5), /--cutoff 1.5/);
});

Deno.test("shift: ReLU(a - mask * n * offset) per channel and position", () => {
  // C = 2, hw = 3.
  const acts = Float32Array.from([1, 2, 3, 4, 5, 6]);
  const normal = Float32Array.from([1, -2]);
  const out = new Float32Array(6);
  shiftImage(acts, normal, -1.5, 3, out);
  assert.deepEqual([...out], [2.5, 3.5, 4.5, 1, 2, 3]);
  shiftImage(acts, normal, -3, 3, out, Float32Array.from([1, 0, 1]));
  assert.deepEqual([...out], [4, 2, 6, 0, 5, 0]);
});

Deno.test("attribution region: the mean (not ReLU'd) above cutoff x each image's maximum, strictly", () => {
  // Image 0: max 4 -> threshold 1: keeps 4 and 2 (1 is not > 1). Image 1: all negative, max -1 -> threshold
  // -0.25: nothing is above it, as in the reference.
  const means = Float32Array.from([4, 1, 2, -3, -1, -2, -4, -1]);
  assert.deepEqual([...attributionMask(means, 2, 4)], [1, 0, 1, 0, 0, 0, 0, 0]);
});

Deno.test("masking: distances, torch's float32 quantile indices, levels and nearest upsampling", () => {
  // Two images, C = 2, hw = 2: a . n + b with n = (1, 2), b = -1.
  const acts = Float32Array.from([1, 0, 0, 1, 2, 2, 1, 0]);
  assert.deepEqual([...hyperplaneDistances(acts, 2, 2, Float32Array.from([1, 2]), -1)], [0, 1, 3, 1]);
  // L = 10: indices 0..9, the sorted values themselves.
  const d = Float32Array.from([5, 1, 4, 2, 3, 0, 9, 8, 7, 6]);
  assert.deepEqual(quantileThresholds(d), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // L = 4 < N: (k * 0.4).long() - 1 is -1 for k = 1, 2, which torch reads as the last element.
  assert.deepEqual(quantileThresholds(Float32Array.from([3, 1, 2, 0])), [3, 3, 0, 0, 1, 1, 1, 2, 2, 3]);
  // L = 11761: float32(1176.1) * 10 rounds to 11761.0, so the last index is L - 1, not L - 2 as doubles give.
  const big = Float32Array.from({ length: 11761 }, (_, i) => i);
  assert.equal(quantileThresholds(big)[9], 11760);
  assert.equal(quantileThresholds(big)[0], 1175);
  const t = quantileThresholds(d);
  assert.deepEqual([...maskLevel(d, t, 0)], new Array(10).fill(1));
  assert.deepEqual([...maskLevel(d, t, 10)], [0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
  assert.deepEqual(keptShare(d, t), [1, 1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]);
  // A 2 x 2 mask onto a 4 x 4 image (3 channels): each mask cell covers a 2 x 2 block.
  const image = Float32Array.from({ length: 48 }, (_, i) => i + 1);
  const out = new Float32Array(48);
  maskImage(image, Uint8Array.from([1, 0, 0, 1]), 2, 2, 4, 4, -7, out);
  const kept = (y: number, x: number) => (y < 2) === (x < 2);
  for (let ch = 0; ch < 3; ch++) {
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 4; x++) {
        const p = ch * 16 + y * 4 + x;
        assert.equal(out[p], kept(y, x) ? image[p] : -7);
      }
    }
  }
});

Deno.test("figure quartiles: median and quartiles per step (numpy's linear interpolation)", () => {
  const q = stepQuartiles([[0, 1], [0.5, 3], [1, 2], [0.25, 4]], 2);
  assert.deepEqual(q.median, [0.375, 2.5]);
  assert.deepEqual(q.q1, [0.1875, 1.75]);
  assert.deepEqual(q.q3, [0.625, 3.25]);
});
