// Tokens as positions through the attribution stage: on a transformer tap the Attributor gives the concepts
// and contrast stages the patch grid they read for a CNN ([C, 7, 7] activations, 7 x 7 maps, the class token
// dropped), from per-token maps (the mean over channels). Checked against torch autograd in float64 on
// prepared images (tools/reference/export_vit.py `pixel_inputs`).
import assert from "node:assert/strict";
import { join } from "node:path";
import { Attributor } from "../src/pipeline/attribute/attributor.ts";
import { computeConcepts } from "../src/pipeline/concepts/concepts.ts";
import { predictDataset } from "../src/pipeline/predict/predict.ts";
import { ensureFixture } from "../fixtures/ensure.ts";
import { computeContrastVectors } from "../src/pipeline/contrast/vectors/contrast_vectors.ts";
import { openDataset } from "../src/data/dataset.ts";
import { readNpy } from "../src/io/npy.ts";
import { relativeError } from "./_helpers/numeric.ts";
import { pixelInputs, readVitTiny, VIT_LAYER, VIT_TINY_DIR } from "./_helpers/vit_tiny.ts";
import type { TokenAxes } from "../src/model/tokens.ts";
import type { SignedMode } from "../src/pipeline/concepts/signed_rows.ts";
import { readManifest } from "../src/io/manifest.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };

/** The small ViT's predictions for the first 4 fixture images, and the class of the first. */
async function firstPrediction(data: string, work: string) {
  const model = new URL("vit_tiny.onnx", VIT_TINY_DIR).pathname;
  const predictions = join(work, "predictions");
  await predictDataset({ model, data, out: predictions, ep: "wasm", limit: 4 });
  const predicted = await readNpy(join(predictions, "predictions.npy"));
  return { model, predictions, top: (predicted.data as Int32Array)[0] };
}

/** What the Attributor must give for torch's [2, 50, 24] Grad x Act under each reading of the tokens. */
function expectedViews(ref: Float64Array, axes: TokenAxes) {
  const tokens = axes === "patches" ? range(1, 50) : range(0, 50);
  if (axes === "reference") {
    // Rows (image, channel), features the 50 tokens: maps are means over tokens, positions the 24 channels.
    const maps = new Float64Array(2 * 24), means = new Float64Array(2 * 24);
    for (let i = 0; i < 2; i++) {
      for (let t = 0; t < 50; t++) {
        for (let c = 0; c < 24; c++) {
          const v = ref[(i * 50 + t) * 24 + c];
          maps[i * 24 + c] += Math.max(0, v) / 50;
          means[i * 24 + c] += v / 50;
        }
      }
    }
    return { maps, means, attributions: Float64Array.from(ref), shape: [50, 24, 1] };
  }
  const p = tokens.length;
  const maps = new Float64Array(2 * p), means = new Float64Array(2 * p), grid = new Float64Array(2 * 24 * p);
  for (let i = 0; i < 2; i++) {
    tokens.forEach((t, k) => {
      for (let c = 0; c < 24; c++) {
        const v = ref[(i * 50 + t) * 24 + c];
        maps[i * p + k] += Math.max(0, v) / 24;
        means[i * p + k] += v / 24;
        grid[(i * 24 + c) * p + k] = v;
      }
    });
  }
  return { maps, means, attributions: grid, shape: axes === "patches" ? [24, 7, 7] : [24, 1, 50] };
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, k) => from + k);
}

Deno.test(
  "Attributor on a ViT block: patch grid, patches + class token, the reference's axes, against torch",
  ORT_TEST,
  async () => {
    const model = await readVitTiny();
    const reference = await readNpy(new URL("vit_tiny_pixels_gradxact.npy", VIT_TINY_DIR).pathname);
    const ref = reference.data as Float64Array; // [2, 50, 24]
    for (const axes of ["patches", "patches+cls", "reference"] as const) {
      const attributor = await Attributor.open(
        model,
        { path: "vit_tiny.onnx", sha256: "vit-tiny-test" },
        VIT_LAYER,
        { method: "gradxact", samples: 1, sigma: 0, seed: 0 },
        { ep: "wasm", saveRaw: true, withMean: true, tokenAxes: axes },
      );
      try {
        const expected = expectedViews(ref, axes);
        assert.deepEqual(attributor.tapShape, expected.shape);
        const out = await attributor.attribute(pixelInputs(2), 2, [3, 417], 0, { activations: true });
        const errors = {
          maps: relativeError(out.maps, expected.maps),
          means: relativeError(out.means!, expected.means),
          attributions: relativeError(out.attributions!, expected.attributions),
        };
        console.log(`ViT ${axes} attribution vs torch float64: ${JSON.stringify(errors)}`);
        for (const [what, err] of Object.entries(errors)) assert.ok(err < 1e-3, `${axes} ${what}: ${err}`);
        assert.equal(out.activations!.length, 2 * 24 * 50 - (axes === "patches" ? 2 * 24 : 0));
      } finally {
        await attributor.release();
      }
    }
  },
);

Deno.test(
  "concepts on a ViT block: --signed split factorizes [x+, x-] and reports p+ - p-; relu clips; refuse refuses; --tokens",
  ORT_TEST,
  async () => {
    const fixture = await ensureFixture();
    const work = await Deno.makeTempDir();
    try {
      const { model, predictions, top } = await firstPrediction(fixture.imageFolder, work);
      const run = (signed: SignedMode | undefined, out: string, tokens?: TokenAxes) =>
        computeConcepts({
          model,
          data: fixture.imageFolder,
          limit: 4,
          layer: VIT_LAYER,
          classes: String(top),
          method: "gradxact",
          samples: 1,
          sigma: 0,
          seed: 0,
          maxImages: 2,
          k: 3,
          predictions,
          out: join(work, out),
          ep: "wasm",
          nmfDevice: "cpu",
          signed,
          tokens,
        });
      // The default on a token tap is split: NMF over 2C = 48 features, the prototypes back in the tap's space.
      const split = await run(undefined, "split");
      assert.equal(split.signed, "split");
      assert.equal(split.classes[0].status, "done");
      const manifest = (await readManifest(join(work, "split")))!.manifest;
      assert.equal(manifest.settings!.signed, "split");
      assert.equal(manifest.settings!.tokens, "patches");
      const both = await readNpy(join(work, "split", String(top), "basis_split.npy"));
      const basis = await readNpy(join(work, "split", String(top), "basis.npy"));
      assert.deepEqual(both.shape, [3, 48]);
      assert.deepEqual(basis.shape, [3, 24]);
      const h = both.data as Float32Array, p = basis.data as Float32Array;
      assert.ok(h.every((x) => x >= 0), "NMF factors are non-negative");
      for (let r = 0; r < 3; r++) {
        for (let c = 0; c < 24; c++) {
          assert.equal(p[r * 24 + c], Math.fround(h[r * 48 + c] - h[r * 48 + 24 + c]));
        }
      }
      // The stream is signed and the split keeps its negative half: some prototype has negative features.
      assert.ok(p.some((x) => x < 0), "p+ - p- has negative entries");
      assert.ok(h.some((x, j) => j % 48 >= 24 && x > 0), "the ReLU(-x) half is used");

      const relu = await run("relu", "relu");
      const clipped = await readNpy(join(work, "relu", String(top), "basis.npy"));
      assert.deepEqual(clipped.shape, [3, 24]);
      assert.ok((clipped.data as Float32Array).every((x) => x >= 0));
      assert.equal(relu.signed, "relu");
      assert.equal(
        await Deno.stat(join(work, "relu", String(top), "basis_split.npy")).then(() => 1, () => 0),
        0,
      );

      // The other readings of the tokens: 50 positions of 24 features, or the reference's 24 of 50.
      const withCls = await run("relu", "cls", "patches+cls");
      assert.equal(withCls.classes[0].rows, 2 * 50);
      assert.equal((await readManifest(join(work, "cls")))!.manifest.settings!.tokens, "patches+cls");
      const reference = await run(undefined, "reference", "reference");
      assert.equal(reference.classes[0].rows, 2 * 24);
      assert.equal(reference.channels, 50);
      assert.deepEqual((await readNpy(join(work, "reference", String(top), "basis_split.npy"))).shape, [
        3,
        100,
      ]);

      await assert.rejects(
        () => run("refuse", "refuse"),
        /--layer encoder\.layers\.encoder_layer_7: the weighted activations are negative \(image 0, position \d+, channel \d+.*--signed split/,
      );
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
);

Deno.test(
  "contrast vectors on a ViT block: one row of C = 24 per patch token above the cutoff, no class token",
  ORT_TEST,
  async () => {
    const fixture = await ensureFixture();
    const work = await Deno.makeTempDir();
    try {
      const { model: modelPath, predictions, top } = await firstPrediction(fixture.imageFolder, work);
      const settings = { method: "gradxact" as const, samples: 1, sigma: 0, seed: 0 };
      const out = join(work, "vectors");
      const summary = await computeContrastVectors({
        model: modelPath,
        data: fixture.imageFolder,
        limit: 4,
        layer: VIT_LAYER,
        classes: String(top),
        ...settings,
        maxImages: 2,
        batch: 2,
        predictions,
        out,
        ep: "wasm",
      });
      assert.equal(summary.channels, 24);
      const entry = summary.classes.find((c) => c.class === top)!;
      assert.equal(entry.status, "done");
      // Brute force from the Attributor's patch-grid means (checked against torch above).
      const attributor = await Attributor.open(
        await readVitTiny(),
        { path: modelPath, sha256: "x" },
        VIT_LAYER,
        settings,
        {
          ep: "wasm",
          withMean: true,
        },
      );
      const dataset = await openDataset(fixture.imageFolder);
      try {
        const pixels = new Uint8Array(entry.images.length * dataset.imageBytes);
        for (const [k, index] of entry.images.entries()) {
          pixels.set((await dataset.readBatch(index, 1)).images, k * dataset.imageBytes);
        }
        const batch = await attributor.attribute(pixels, entry.images.length, entry.images.map(() => top), 0);
        entry.images.forEach((_, i) => {
          const means = batch.means!.subarray(i * 49, (i + 1) * 49);
          const max = Math.max(...means);
          const kept = [...means].filter((m) => m > 0.25 * max).length;
          assert.equal(entry.rowsPerImage[i], kept, `image ${i}`);
          assert.ok(kept <= 49);
        });
        const v = await readNpy(join(out, `${top}.npy`));
        assert.deepEqual(v.shape, [entry.rows, 24]);
      } finally {
        dataset.close();
        await attributor.release();
      }
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
);
