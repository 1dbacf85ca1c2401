// Contrast vectors against a brute-force CPU computation on the fixture (wasm): the raw attributions from the
// Attributor, the channel mean without ReLU, the cutoff mask and the gather done by plain loops; plus the
// shared attribution cache (a second run and the concepts stage take the maps from it) and bad input.
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureFixture } from "../fixtures/ensure.ts";
import {
  computeContrastVectors,
  selectContrastRows,
} from "../src/pipeline/contrast/vectors/contrast_vectors.ts";
import { readContrastVectors } from "../src/pipeline/contrast/vectors/vectors_io.ts";
import { computeConcepts } from "../src/pipeline/concepts/concepts.ts";
import { predictDataset, readPredictedClasses } from "../src/pipeline/predict/predict.ts";
import { Attributor } from "../src/pipeline/attribute/attributor.ts";
import { openDataset } from "../src/data/dataset.ts";
import { readModel, sha256File } from "../src/onnx/model.ts";
import { readJsonIfExists } from "../src/io/atomic.ts";
import { readNpy } from "../src/io/npy.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };
const fixture = await ensureFixture();
const work = await Deno.makeTempDir();
const predictions = join(work, "predictions");
await predictDataset({ model: fixture.modelPath, data: fixture.imageFolder, out: predictions, ep: "wasm" });

const CLASSES = [0, 6];
const MAX_IMAGES = 3;
const base = {
  model: fixture.modelPath,
  data: fixture.imageFolder,
  layer: "layer3",
  method: "deeplift" as const,
  samples: 2,
  sigma: 0.25,
  seed: 0,
  maxImages: MAX_IMAGES,
  batch: 2,
  predictions,
  classes: CLASSES.join(","),
  ep: "wasm" as const,
};
const cache = join(work, "attribution-cache");

Deno.test("selectContrastRows: strict > cutoff x per-image max, image-major rows, skipped images", () => {
  // 3 images, 2 channels, 4 positions; activations n x C x hw.
  const maps = Float32Array.from([1, 0.25, 0.3, -1, /**/ -2, -1, -3, -4, /**/ 0, 4, 2, 1]);
  const act = Float32Array.from({ length: 3 * 2 * 4 }, (_, i) => i);
  const r = selectContrastRows(act, maps, 3, 2, 4, 0.25);
  // image 0: > 0.25 -> p0, p2; image 1 (max -1, threshold -0.25): none; image 2: > 1 -> p1, p2.
  assert.deepEqual(r.rowsPerImage, [2, 0, 2]);
  assert.deepEqual([...r.rows], [0, 4, 2, 6, 17, 21, 18, 22]);
  const skipped = selectContrastRows(act, maps, 3, 2, 4, 0.25, (i) => i === 0);
  assert.deepEqual(skipped.rowsPerImage, [0, 0, 2]);
});

Deno.test(
  "contrast vectors equal a brute-force CPU computation from the raw attributions",
  ORT_TEST,
  async () => {
    const out = join(work, "vectors");
    const summary = await computeContrastVectors({ ...base, out, attributionCache: cache });
    assert.deepEqual(summary.classes.map((c) => c.status), ["done", "done"]);
    assert.ok(summary.classes.every((c) => !c.cached));

    // Brute force: the first MAX_IMAGES images predicted as the class, attributed in batches of 2 (the noise of
    // a batch's rows is numbered from its first image), raw attributions n x C x hw, then plain loops.
    const predicted = await readPredictedClasses(predictions);
    const model = await readModel(fixture.modelPath);
    const sha256 = await sha256File(fixture.modelPath);
    const attributor = await Attributor.open(model, { path: fixture.modelPath, sha256 }, "layer3", {
      method: "deeplift",
      samples: 2,
      sigma: 0.25,
      seed: 0,
    }, { ep: "wasm", saveRaw: true, withMean: true });
    const dataset = await openDataset(fixture.imageFolder);
    try {
      const [c, h, w] = attributor.tapShape;
      const hw = h * w;
      const vectors = await readContrastVectors(out);
      assert.equal(vectors.channels, c);
      for (const cls of CLASSES) {
        const images: number[] = [];
        for (let i = 0; i < predicted.length && images.length < MAX_IMAGES; i++) {
          if (predicted[i] === cls) images.push(i);
        }
        const expected: number[][] = [];
        const perImage: number[] = [];
        for (let s = 0; s < images.length; s += 2) {
          const ids = images.slice(s, s + 2);
          const pixels = new Uint8Array(ids.length * dataset.imageBytes);
          for (let k = 0; k < ids.length; k++) {
            pixels.set((await dataset.readBatch(ids[k], 1)).images, k * dataset.imageBytes);
          }
          const r = await attributor.attribute(pixels, ids.length, ids.map(() => cls), ids[0], {
            activations: true,
          });
          for (let k = 0; k < ids.length; k++) {
            const mean = new Float64Array(hw);
            for (let ch = 0; ch < c; ch++) {
              for (let p = 0; p < hw; p++) mean[p] += r.attributions![(k * c + ch) * hw + p] / c;
            }
            // The graph's `mean` output is this mean (no ReLU).
            for (let p = 0; p < hw; p++) {
              assert.ok(Math.abs(r.means![k * hw + p] - mean[p]) <= 1e-6 * (1 + Math.abs(mean[p])));
            }
            let max = -Infinity;
            for (let p = 0; p < hw; p++) if (mean[p] > max) max = mean[p];
            let kept = 0;
            for (let p = 0; p < hw; p++) {
              if (!(mean[p] > 0.25 * max)) continue;
              const row: number[] = [];
              for (let ch = 0; ch < c; ch++) row.push(r.activations![(k * c + ch) * hw + p]);
              expected.push(row);
              kept++;
            }
            perImage.push(kept);
          }
        }
        const got = vectors.rows.get(cls)!;
        assert.equal(vectors.counts.get(cls), expected.length, `class ${cls}: row count`);
        assert.ok(expected.length > 0);
        for (let r = 0; r < expected.length; r++) {
          for (let ch = 0; ch < c; ch++) {
            assert.ok(
              Math.abs(got[r * c + ch] - expected[r][ch]) <= 1e-6 * (1 + Math.abs(expected[r][ch])),
              `class ${cls} row ${r} channel ${ch}: ${got[r * c + ch]} vs ${expected[r][ch]}`,
            );
          }
        }
        const entry = summary.classes.find((e) => e.class === cls)!;
        assert.deepEqual(entry.images, images);
        assert.deepEqual(entry.rowsPerImage, perImage);
      }
    } finally {
      await attributor.release();
      dataset.close();
    }
  },
);

Deno.test(
  "resume per class; the attribution cache: a rerun and the concepts stage reuse each class's maps",
  ORT_TEST,
  async () => {
    const first = join(work, "vectors");
    if (!(await readJsonIfExists(join(first, "vectors.json")))) {
      await computeContrastVectors({ ...base, out: first, attributionCache: cache });
    }
    // Resume: a rerun into the same folder keeps finished classes and redoes only a class whose file is gone.
    const kept = (await Deno.stat(join(first, "0.npy"))).mtime!.getTime();
    await Deno.remove(join(first, "6.npy"));
    const resumed = await computeContrastVectors({ ...base, out: first, attributionCache: cache });
    assert.equal((await Deno.stat(join(first, "0.npy"))).mtime!.getTime(), kept);
    assert.ok(await Deno.stat(join(first, "6.npy")));
    assert.deepEqual(resumed.classes.map((c) => [c.class, c.status]), [[0, "done"], [6, "done"]]);
    const again = await computeContrastVectors({
      ...base,
      out: join(work, "vectors-again"),
      attributionCache: cache,
    });
    assert.ok(again.classes.every((c) => c.cached), "every class's maps come from the cache");
    for (const cls of CLASSES) {
      const a = await readNpy(join(first, `${cls}.npy`));
      const b = await readNpy(join(work, "vectors-again", `${cls}.npy`));
      assert.deepEqual(b.shape, a.shape);
      assert.deepEqual(b.data, a.data);
    }
    // concepts with and without the cache: the same prototypes, and the cached run took its maps from it.
    const concepts = { ...base, k: 2 };
    const fresh = await computeConcepts({ ...concepts, out: join(work, "concepts-fresh") });
    const shared = await computeConcepts({
      ...concepts,
      out: join(work, "concepts-cached"),
      attributionCache: cache,
    });
    assert.ok(shared.classes.every((c) => c.attributionCached), "concepts used the cached maps");
    assert.ok(fresh.classes.every((c) => !c.attributionCached));
    for (const cls of CLASSES) {
      const a = await readNpy(join(work, "concepts-fresh", String(cls), "basis.npy"));
      const b = await readNpy(join(work, "concepts-cached", String(cls), "basis.npy"));
      assert.deepEqual(b.data, a.data);
    }
  },
);

Deno.test("bad input is refused before any compute", ORT_TEST, async () => {
  await assert.rejects(
    computeContrastVectors({ ...base, out: join(work, "bad"), cutoff: 1.5 }),
    /--cutoff 1.5: expected a fraction/,
  );
  await assert.rejects(
    computeContrastVectors({ ...base, out: join(work, "bad"), layer: "layer9.9" }),
    /layer9\.9/,
  );
  await assert.rejects(
    computeContrastVectors({ ...base, out: join(work, "bad"), classes: "0,99" }),
    /99/,
  );
  assert.equal(await readJsonIfExists(join(work, "bad", "vectors.json")), undefined);
});
