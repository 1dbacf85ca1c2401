// The fixture's contrasting truth (fixtures/contrast_truth.ts): the shifted-logit closed form against the
// fixture model's own head, the contrast vectors' premise (each class's rows carry only its own motifs) and
// the hyperplane sign pattern of every ordered pair, trained with the CPU twin from the contrast vectors.
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureFixture } from "../fixtures/ensure.ts";
import { buildFixtureModel } from "../fixtures/fixture_model.ts";
import { Prng } from "../fixtures/prng.ts";
import {
  CLASSES,
  expectedLogits,
  FIXTURE_TAP_LAYER3,
  MOTIF_CHANNELS,
  MOTIF_COUNT,
  motifById,
  STAGE_CHANNELS,
} from "../fixtures/spec.ts";
import {
  CONTRAST_TRUTH,
  largeOffsetOutcome,
  shiftedClass,
  shiftedLogits,
  TAP_POSITIONS,
} from "../fixtures/contrast_truth.ts";
import { headFromTap } from "../src/model/surgery.ts";
import { createSession, ort } from "../src/runtime/ort.ts";
import { fixtureContrastVectors } from "./_helpers/fixture_vectors.ts";
import { predictDataset } from "../src/pipeline/predict/predict.ts";
import { trainPairCpu } from "../kernels/hyperplane/reference.ts";
import { initialWeights, REFERENCE_TRAINING } from "../kernels/hyperplane/settings.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };
const C = STAGE_CHANNELS.layer3;
const CHANNELS = MOTIF_CHANNELS["layer3.1"];

Deno.test("the large-offset outcome rule on hand-checked pairs", () => {
  // c1 {M0,M2} -> c5 {M0,M3}: M3 alone is shared by c2, c4, c5, and c2 wins the tie (lower index).
  assert.equal(largeOffsetOutcome(5, [motifById("M3").slot]), "stays");
  assert.equal(largeOffsetOutcome(5, [motifById("M0").slot, motifById("M3").slot]), "flips");
  // M6 belongs to c7 alone; with M5 too, c6 (M5 weighed 1.15) may win, depending on the magnitudes.
  assert.equal(largeOffsetOutcome(7, [motifById("M6").slot]), "flips");
  assert.equal(largeOffsetOutcome(7, [motifById("M5").slot, motifById("M6").slot]), "depends");
  const t = CONTRAST_TRUTH.find((p) => p.from === 0 && p.to === 5)!;
  assert.deepEqual([t.positiveMotifs, t.negativeMotifs, t.sharedMotifs], [["M3"], ["M1"], ["M0"]]);
  assert.deepEqual(t.untouchedMotifs, ["M2", "M4", "M5", "M6", "D0"]);
  assert.deepEqual(t.largeOffset, { sharedPositive: "flips", sharedNegative: "stays" });
});

Deno.test(
  "shifted logits: the closed form equals the fixture model's head on shifted activations",
  ORT_TEST,
  async () => {
    const head = headFromTap(buildFixtureModel(), FIXTURE_TAP_LAYER3, ["N", C, 14, 14]);
    const { session } = await createSession(head, { ep: "wasm" });
    const rng = new Prng(11);
    // An image of c1 (M0 twice, M2 once) with a distractor cell; generic channels hold arbitrary values.
    const placed: [string, number, number][] = [["M0", 0, 0], ["M0", 3, 5], ["M2", 6, 2], ["D0", 2, 2]];
    const cells = new Array(MOTIF_COUNT).fill(0);
    const a = new Float32Array(C * TAP_POSITIONS);
    const motifChannels = new Set(CHANNELS);
    for (let ch = 0; ch < C; ch++) {
      if (!motifChannels.has(ch)) {
        for (let p = 0; p < TAP_POSITIONS; p++) {
          a[ch * TAP_POSITIONS + p] = rng.range(0, 2);
        }
      }
    }
    const mask = new Float32Array(TAP_POSITIONS);
    for (const [id, row, col] of placed) {
      const slot = motifById(id).slot;
      cells[slot]++;
      for (const [dy, dx] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
        const p = (2 * row + dy) * 14 + 2 * col + dx;
        a[CHANNELS[slot] * TAP_POSITIONS + p] = 1;
        if (id !== "D0") mask[p] = 1;
      }
    }
    assert.deepEqual(
      shiftedLogits(cells, new Array(MOTIF_COUNT).fill(0), 0),
      expectedLogits(cells, 224, 224),
    );
    for (let trial = 0; trial < 3; trial++) {
      const n = Float32Array.from({ length: C }, () => rng.range(-0.3, 0.3));
      const normal = CHANNELS.map((ch) => n[ch]);
      for (const region of ["all", { attributionOf: 1 }] as const) {
        for (const offset of [0, -0.5, -2, -50]) {
          const shifted = new Float32Array(a.length);
          for (let ch = 0; ch < C; ch++) {
            for (let p = 0; p < TAP_POSITIONS; p++) {
              const m = region === "all" ? 1 : mask[p];
              shifted[ch * TAP_POSITIONS + p] = Math.max(0, a[ch * TAP_POSITIONS + p] - m * n[ch] * offset);
            }
          }
          const out = await session.run({
            [session.inputNames[0]]: new ort.Tensor("float32", shifted, [1, C, 14, 14]),
          });
          const got = out[session.outputNames[0]].data as Float32Array;
          const want = shiftedLogits(cells, normal, offset, region);
          for (let c = 0; c < CLASSES.length; c++) {
            assert.ok(
              Math.abs(got[c] - want[c]) <= 1e-4 * (1 + Math.abs(want[c])),
              `${JSON.stringify(region)} offset ${offset} class ${c}: model ${got[c]}, closed form ${
                want[c]
              }`,
            );
          }
          const argmax = [...got].indexOf(Math.max(...got));
          assert.equal(shiftedClass(cells, normal, offset, region), argmax);
        }
      }
    }
    await session.release();
  },
);

Deno.test(
  "hyperplanes trained on the fixture's contrast vectors put the sign pattern on the motif channels",
  ORT_TEST,
  async () => {
    const fixture = await ensureFixture();
    const work = await Deno.makeTempDir();
    const predictions = join(work, "predictions");
    await predictDataset({
      model: fixture.modelPath,
      data: fixture.imageFolder,
      out: predictions,
      ep: "wasm",
    });
    const v = await fixtureContrastVectors(fixture, work, predictions);
    assert.equal(v.channels, C);
    assert.deepEqual(v.classes, CLASSES.map((c) => c.index));

    // The premise: class c's rows are its own motif cells; every row has one of c's motif channels on, and
    // every other motif channel (the distractor's too) off.
    for (const cls of CLASSES) {
      const rows = v.rows.get(cls.index)!;
      const own = cls.motifs.map((m) => CHANNELS[motifById(m).slot]);
      for (let r = 0; r < v.counts.get(cls.index)!; r++) {
        const row = rows.subarray(r * C, (r + 1) * C);
        assert.ok(own.some((ch) => row[ch] > 0.5), `class ${cls.index} row ${r}: no own motif channel on`);
        for (const ch of CHANNELS) if (!own.includes(ch)) assert.equal(row[ch], 0);
      }
    }

    for (const t of CONTRAST_TRUTH) {
      const xi = v.rows.get(t.from)!, xj = v.rows.get(t.to)!;
      const where = `pair (${t.from}, ${t.to})`;
      const zeros = trainPairCpu(xi, xj, C, t.from, t.to, { ...REFERENCE_TRAINING, init: "zeros" });
      for (const ch of t.positive) {
        assert.ok(zeros.normal[ch] > 0, `${where} channel ${ch}: ${zeros.normal[ch]}`);
      }
      for (const ch of t.negative) {
        assert.ok(zeros.normal[ch] < 0, `${where} channel ${ch}: ${zeros.normal[ch]}`);
      }
      for (const ch of t.untouched) assert.equal(zeros.normal[ch], 0, `${where} channel ${ch}`);
      // The reference's random start: the same signs for the change from the start.
      const torch = trainPairCpu(xi, xj, C, t.from, t.to, REFERENCE_TRAINING);
      const start = initialWeights(t.from, t.to, C, REFERENCE_TRAINING);
      for (const ch of t.positive) {
        assert.ok(torch.normal[ch] > start[ch], `${where} channel ${ch} (torch init)`);
      }
      for (const ch of t.negative) {
        assert.ok(torch.normal[ch] < start[ch], `${where} channel ${ch} (torch init)`);
      }
      for (const ch of t.untouched) {
        assert.equal(torch.normal[ch], start[ch], `${where} channel ${ch} (torch init)`);
      }
    }
  },
);
