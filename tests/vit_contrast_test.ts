// The contrast chain on a ViT block, end to end on the small torchvision ViT: contrast-vectors (patch tokens
// as positions) -> hyperplanes -> shifting-test and masking-test with every token as a position (the class
// token too), the head running from the shifted tokens (SplitModel). The ViT has random weights, so there is
// no planted truth; what must hold is what the hyperplanes claim: moving class i's tokens along the (i, j)
// normal towards j raises p(j) step by step, moving them the other way lowers it, and far enough along it
// j wins (710 -> 745). A shift on the wrong axis (tokens for channels), the wrong sign, tokens put back in
// the wrong order or the CNN's ReLU clip on the signed stream breaks these. Masks lie on the 7 x 7 patch grid
// (the class token is no place on the image), and step 0 of both tests is the same unchanged model.
// The second test has an exact truth: a transformer-shaped model whose rest after the tap is linear in the
// tokens (tests/_helpers/linear_vit.ts), so every shifted p(i), p(j) follows from the unshifted logits and
// W n_ij, with the whole shift and with --region attribution (the tokens whose Grad x Act channel mean passes
// the cutoff, the class token among them); shifting 49 of the 50 tokens (2% less), clipping the signed tap or
// a mask of the patch tokens alone misses it.
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureFixture } from "../fixtures/ensure.ts";
import { computeContrastVectors } from "../src/pipeline/contrast/vectors/contrast_vectors.ts";
import { trainHyperplanes } from "../src/pipeline/contrast/hyperplanes/hyperplanes.ts";
import { openHyperplanes } from "../src/pipeline/contrast/hyperplanes/hyperplanes_io.ts";
import { runContrastTest } from "../src/pipeline/contrast/sanity_checks/contrast_test_run.ts";
import { shiftingTest } from "../src/pipeline/contrast/sanity_checks/shifting.ts";
import { maskingTest } from "../src/pipeline/contrast/sanity_checks/masking.ts";
import { REFERENCE_TRAINING } from "../kernels/hyperplane/settings.ts";
import { readManifest } from "../src/io/manifest.ts";
import { VIT_LAYER, VIT_TINY_DIR } from "./_helpers/vit_tiny.ts";
import {
  buildLinearVit,
  LINEAR_VIT_CHANNELS,
  LINEAR_VIT_CLASSES,
  LINEAR_VIT_TAP,
} from "./_helpers/linear_vit.ts";
import { readNpy } from "../src/io/npy.ts";
import { hyperplanesInMemory } from "../src/pipeline/contrast/hyperplanes/hyperplane_set.ts";
import { UsageError } from "../src/cli/cli.ts";
import { openDataset } from "../src/data/dataset.ts";
import { readImages } from "../src/pipeline/attribute/class_attribution.ts";
import { Classifier, softmaxRows } from "../src/model/classifier.ts";
import { SplitModel } from "../src/model/split_model.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };
const MODEL = new URL("vit_tiny.onnx", VIT_TINY_DIR).pathname;
/** The classes the small ViT predicts among the first 24 fixture images (745 most, 386 and 710 a few). */
const CLASSES = "386,745,710";
const PAIRS = [[386, 745], [745, 386], [710, 745], [745, 710]];
/** Offset 0, one step away from j, then towards j. */
const OFFSETS = [0, 2, -0.5, -1, -2, -5];

/** contrast-vectors of `classes` (Grad x Act, 3 images each) and the hyperplanes trained on them, in `work`. */
async function vectorsAndPlanes(
  common: { model: string; data: string; limit: number; layer: string; ep: "wasm" },
  classes: string,
  work: string,
) {
  const vectors = join(work, "vectors");
  const settings = { method: "gradxact" as const, samples: 1, sigma: 0, seed: 0 };
  await computeContrastVectors({ ...common, ...settings, classes, maxImages: 3, batch: 4, out: vectors });
  const planes = join(work, "planes");
  await trainHyperplanes({
    vectors,
    out: planes,
    training: REFERENCE_TRAINING,
    solver: "cpu",
    log: () => {},
  });
  return { vectors, hyperplanes: { source: planes, set: await openHyperplanes(planes) } };
}

Deno.test(
  "ViT block: contrast-vectors -> hyperplanes -> shifting raises p(j) along the normal; masking on the patch grid",
  ORT_TEST,
  async () => {
    const fixture = await ensureFixture();
    const work = await Deno.makeTempDir({ prefix: "vit-contrast-" });
    try {
      const common = {
        model: MODEL,
        data: fixture.imageFolder,
        limit: 24,
        layer: VIT_LAYER,
        ep: "wasm" as const,
      };
      const { vectors, hyperplanes } = await vectorsAndPlanes(common, CLASSES, work);
      assert.equal((await readManifest(vectors))!.manifest.settings!.tokens, "patches");
      const run = {
        ...common,
        hyperplanes,
        predictions: join(vectors, "predictions"),
        pairs: PAIRS.map(([i, j]) => `${i}:${j}`).join(","),
        maxImages: 3,
      };

      const shifting = await runContrastTest(shiftingTest(OFFSETS), { ...run, out: join(work, "shifting") });
      assert.equal(shifting.settings.tokens, "patches+cls");
      const shifted = shifting.runs[0].pairs;
      assert.deepEqual(shifted.map((p) => [p.from, p.to]), PAIRS);
      for (const p of shifted) {
        const [at0, away, ...towards] = p.pTo;
        assert.ok(away < at0, `${p.from}:${p.to}: p(j) ${away} at +2 must fall below ${at0}`);
        [at0, ...towards].reduce((before, now) => {
          assert.ok(now > before, `${p.from}:${p.to}: p(j) must rise towards j: ${p.pTo}`);
          return now;
        });
        assert.equal(p.top1[0], p.from, `${p.from}:${p.to} unshifted is predicted as ${p.from}`);
      }
      assert.equal(shifted[2].top1.at(-1), 745, `710 -> 745 at offset -5: top-1 ${shifted[2].top1}`);

      const masking = await runContrastTest(maskingTest(), { ...run, out: join(work, "masking") });
      masking.runs[0].pairs.forEach((p, k) => {
        // Level 0 (the whole image, through the whole model) = offset 0 (the tokens, through the head).
        assert.ok(Math.abs(p.pTo[0] - shifted[k].pTo[0]) < 1e-6, `${p.from}:${p.to} step 0`);
        // Shares of the images' 49 patches each: the class token is not among the masked positions.
        const positions = p.images * 49;
        for (const share of p.keptShare as number[]) {
          const kept = share * positions;
          assert.ok(Math.abs(kept - Math.round(kept)) < 1e-9, `kept share ${share} is not of ${positions}`);
        }
      });
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
);

Deno.test(
  "shifting on a token tap with a linear rest of the network: p(i), p(j) per offset exactly as W n predicts, whole and attribution region",
  ORT_TEST,
  async () => {
    const fixture = await ensureFixture();
    const work = await Deno.makeTempDir({ prefix: "vit-linear-" });
    try {
      const vit = buildLinearVit();
      const model = join(work, "linear_vit.onnx");
      await Deno.writeFile(model, vit.bytes);
      const common = {
        model,
        data: fixture.imageFolder,
        limit: 24,
        layer: LINEAR_VIT_TAP,
        ep: "wasm" as const,
      };
      const { vectors, hyperplanes } = await vectorsAndPlanes(common, "3,5,7", work);
      const set = hyperplanes.set;
      const predictions = join(vectors, "predictions");
      const offsets = [0, 1, -1, -4];
      const run = {
        ...common,
        hyperplanes,
        predictions,
        pairs: "3:5,5:3,3:7,7:3,5:7,7:5",
        maxImages: 3,
        attribution: { settings: { method: "gradxact" as const, samples: 1, sigma: 0, seed: 0 } },
      };
      const everywhere = await runContrastTest(shiftingTest(offsets), { ...run, out: join(work, "all") });
      const cutoff = 0.25;
      const masked = await runContrastTest(shiftingTest(offsets, "attribution", cutoff), {
        ...run,
        out: join(work, "attribution"),
      });
      // The truth: each image's unshifted logits, moved by -offset x W n_ij x (the share of its 50 tokens that
      // move: all, or those where the attribution's channel mean exceeds the cutoff), through softmax, averaged.
      // Grad x Act towards i is a_t,c W_ic / 50 (the head averages the 50 tokens), so that mean is exact too.
      const predicted = (await readNpy(join(predictions, "predictions.npy"))).data as Int32Array;
      const dataset = await openDataset(fixture.imageFolder, { limit: 24 });
      const classifier = await Classifier.open(model, { ep: "wasm" });
      const split = await SplitModel.open(model, LINEAR_VIT_TAP, "wasm", "patches+cls");
      const C = LINEAR_VIT_CHANNELS, K = LINEAR_VIT_CLASSES, T = 50;
      try {
        for (const report of [everywhere, masked]) {
          const pairs = report.runs[0].pairs;
          assert.equal(pairs.length, 6);
          for (const p of pairs) {
            const images = [...predicted.keys()].filter((i) => predicted[i] === p.from).slice(0, 3);
            const { pixels } = await readImages(dataset, images);
            const logits = (await classifier.forward(pixels, images.length)).logits!;
            const acts = await split.activations(pixels, images.length); // [n, C, 1, 50]
            const share = images.map((_, i) => {
              if (report === everywhere) return 1;
              const means = Array.from({ length: T }, (_, t) => {
                let s = 0;
                for (let c = 0; c < C; c++) s += acts[(i * C + c) * T + t] * vit.w[p.from * C + c];
                return s / (T * C);
              });
              const threshold = Math.max(...means) * cutoff;
              return means.filter((m) => m > threshold).length / T;
            });
            await set.loadRow(p.from);
            const n = set.normal(p.from, p.to);
            const wn = Array.from({ length: K }, (_, k) => {
              let s = 0;
              for (let c = 0; c < C; c++) s += vit.w[k * C + c] * n[c];
              return s;
            });
            offsets.forEach((offset, step) => {
              const shifted = Float32Array.from(
                logits,
                (l, at) => l - offset * share[Math.floor(at / K)] * wn[at % K],
              );
              const probs = softmaxRows(shifted, K);
              const mean = (k: number) => images.reduce((s, _, i) => s + probs[i * K + k], 0) / images.length;
              const what = `${report.settings.region} ${p.from}:${p.to} offset ${offset}`;
              assert.ok(
                Math.abs(p.pTo[step] - mean(p.to)) < 1e-5,
                `${what}: p(j) ${p.pTo[step]} vs ${mean(p.to)}`,
              );
              assert.ok(Math.abs(p.pFrom[step] - mean(p.from)) < 1e-5, `${what}: p(i)`);
            });
          }
        }
        // The attribution region moves part of the tokens only: some pair's p(j) differs from the whole shift.
        assert.ok(
          masked.runs[0].pairs.some((p, k) => Math.abs(p.pTo[3] - everywhere.runs[0].pairs[k].pTo[3]) > 1e-4),
        );
      } finally {
        dataset.close();
        await classifier.release();
        await split.release();
      }
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
);

Deno.test(
  "masking-test under --tokens reference is refused before anything runs: its positions are channels",
  ORT_TEST,
  async () => {
    const work = await Deno.makeTempDir({ prefix: "vit-masking-" });
    try {
      await assert.rejects(
        () =>
          runContrastTest(maskingTest(), {
            model: MODEL,
            data: work,
            layer: VIT_LAYER,
            hyperplanes: { source: "none", set: hyperplanesInMemory(1000, 50, new Map()) },
            out: join(work, "masking"),
            ep: "wasm",
            tokens: "reference",
          }),
        (e) =>
          e instanceof UsageError &&
          /masking test: under --tokens reference the positions are channels/.test(e.message),
      );
      assert.equal(await Deno.stat(join(work, "masking")).then(() => true, () => false), false);
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
);
