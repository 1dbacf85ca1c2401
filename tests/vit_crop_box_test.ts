// `--crop-patches P` (src/pipeline/search/crop_patches.ts): on a token tap a hit's crop is the P x P patches
// centred on the token, moved inside the image at the border (kernels/composite/crop_cells.ts cropBox). Checked
// against boxes computed here from the token's centre (not through cropBox): the crops the figures and the
// component test's canvas show, the planted ViT's figures and records with P = 3 (a motif hit's crop is the
// image's 96 px box around the motif patch, a hit on the border row or column its clamped box), the manifests
// recording P, and the refusals (a CNN tap, P even or < 1, P over the grid, k crops that do not fit the canvas).
import assert from "node:assert/strict";
import { join } from "node:path";
import { compositeRgbCpu, cropBox, cropGrid } from "../kernels/composite/mod.ts";
import { onCanvas } from "../src/pipeline/component_test/composite_canvas.ts";
import { checkCropPatchesModel, cropPatchesArg } from "../src/pipeline/search/crop_patches.ts";
import { UsageError } from "../src/cli/cli.ts";
import { main as visualizeTask } from "../tasks/visualize.ts";
import { ensureFixture } from "../fixtures/ensure.ts";
import { FIXTURE_TAP_LAYER3 } from "../fixtures/spec.ts";
import { VIT_FIXTURE_LAYER } from "../fixtures/vit_fixture.ts";
import { plantedVit, prototypeMotifs } from "./_helpers/planted_vit.ts";
import { predictDataset } from "../src/pipeline/predict/predict.ts";
import { computeConcepts } from "../src/pipeline/concepts/concepts.ts";
import { readConcepts } from "../src/pipeline/concepts/read_concepts.ts";
import { runVisualize } from "../src/pipeline/figures/visualize.ts";
import { runExplain } from "../src/pipeline/figures/explain.ts";
import { runComponentTest } from "../src/pipeline/component_test/component_test_run.ts";
import { prototypeGridFigure, prototypeGridLayout } from "../src/pipeline/figures/prototype_grid_figure.ts";
import { loadImages } from "../src/pipeline/search/crop_images.ts";
import { openDataset } from "../src/data/dataset.ts";
import { Classifier } from "../src/model/classifier.ts";
import { searchPrototypes } from "../src/pipeline/search/streaming_search.ts";
import { readManifest } from "../src/io/manifest.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };
const SIDE = 224, PATCH = 32, GRID = 7;

/** The P x P-patch box around patch (y, x), from its centre pixel, shifted inside the image: [top, left, side]. */
function expectedBox(y: number, x: number, p: number): [number, number, number] {
  const side = p * PATCH;
  const place = (c: number) => Math.min(Math.max(c * PATCH + PATCH / 2 - side / 2, 0), SIDE - side);
  return [place(y), place(x), side];
}

/** Pixels [side x side x 3] of an image's box. */
function boxPixels(image: Uint8Array, [top, left, side]: [number, number, number]): Uint8Array {
  const out = new Uint8Array(side * side * 3);
  for (let r = 0; r < side; r++) {
    out.set(
      image.subarray(((top + r) * SIDE + left) * 3, ((top + r) * SIDE + left + side) * 3),
      r * side * 3,
    );
  }
  return out;
}

/** Pixels [side x side x 3] of a canvas (`width` wide) at (x0, y0). */
function canvasPixels(pixels: Uint8Array, width: number, x0: number, y0: number, side: number): Uint8Array {
  const out = new Uint8Array(side * side * 3);
  for (let r = 0; r < side; r++) {
    out.set(pixels.subarray(((y0 + r) * width + x0) * 3, ((y0 + r) * width + x0 + side) * 3), r * side * 3);
  }
  return out;
}

/** A 224 px image whose every pixel tells its place: (row, column, image) in the three channels. */
function placeImage(seed: number): Uint8Array {
  const img = new Uint8Array(SIDE * SIDE * 3);
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) img.set([y, x, (seed * 37 + x * 7 + y * 13) & 255], (y * SIDE + x) * 3);
  }
  return img;
}

Deno.test("cropBox: P x P patches centred on the token, moved inside the image at the border, whole", () => {
  assert.deepEqual(cropBox({ y: 3, x: 3 }, GRID, 1), { top: 96, left: 96, side: 32 });
  assert.deepEqual(cropBox({ y: 3, x: 3 }, GRID, 3), { top: 64, left: 64, side: 96 });
  assert.deepEqual(cropBox({ y: 0, x: 6 }, GRID, 3), { top: 0, left: 128, side: 96 });
  assert.deepEqual(cropBox({ y: 6, x: 1 }, GRID, 5), { top: 64, left: 0, side: 160 });
  assert.deepEqual(cropBox({ y: 2, x: 5 }, GRID, 7), { top: 0, left: 0, side: 224 });
  // A CNN's 3 x 3 grid of 74 px cells: the box stays within the cells (222 px), the 2 px remainder never shown.
  assert.deepEqual(cropBox({ y: 2, x: 2 }, 3, 1, 224), { top: 148, left: 148, side: 74 });
  for (const bad of [0, 2, 9, 1.5]) assert.throws(() => cropBox({ y: 0, x: 0 }, GRID, bad), /span must be/);

  // The crops the figures (cropGrid) and the composites (compositeRgbCpu, onCanvas) show are the image's boxes.
  const images = [placeImage(0), placeImage(1)];
  const cells = [
    { image: 0, y: 3, x: 3 },
    { image: 1, y: 0, x: 0 },
    { image: 0, y: 6, x: 2 },
    { image: 1, y: 5, x: 6 },
  ];
  const grid = cropGrid((i) => images[i], [cells.slice(0, 2), cells.slice(2)], GRID, { gap: 3, span: 3 });
  assert.deepEqual([grid.width, grid.height], [2 * 96 + 3, 2 * 96 + 3]);
  cells.forEach((c, i) => {
    const at = [(i % 2) * 99, Math.floor(i / 2) * 99];
    assert.deepEqual(
      canvasPixels(grid.pixels, grid.width, at[0], at[1], 96),
      boxPixels(images[c.image], expectedBox(c.y, c.x, 3)),
      `figure crop ${i}`,
    );
  });
  // On the transformer's canvas: the grid of 96 px cells, down the first column first.
  const canvas = onCanvas(compositeRgbCpu((i) => images[i], [cells], GRID, SIDE, 3), SIDE);
  assert.deepEqual(canvas.dims, [1, SIDE, SIDE, 3]);
  cells.forEach((c, r) => {
    const top = (r % 2) * 96, left = Math.floor(r / 2) * 96;
    assert.deepEqual(
      canvasPixels(canvas.pixels, SIDE, left, top, 96),
      boxPixels(images[c.image], expectedBox(c.y, c.x, 3)),
      `canvas crop ${r}`,
    );
  });
  assert.throws(() =>
    onCanvas(compositeRgbCpu((i) => images[i], [[...cells, cells[0]]], GRID, SIDE, 3), SIDE)
  );
});

Deno.test("--crop-patches even, below 1 or not a number is a usage error naming the flag", async () => {
  assert.equal(cropPatchesArg("3"), 3);
  assert.equal(cropPatchesArg(undefined), undefined);
  for (const bad of ["2", "0", "-1", "x", "1.5"]) {
    assert.throws(
      () => cropPatchesArg(bad),
      (e) =>
        e instanceof UsageError && e.message.includes(`--crop-patches expects an odd integer >= 1`) &&
        e.message.includes(`'${bad}'`),
      bad,
    );
  }
  // The task refuses it from its command line, before it reads anything.
  await assert.rejects(
    () =>
      visualizeTask(["--model", "m", "--data", "d", "--concepts", "c", "--out", "o", "--crop-patches", "4"]),
    (e) => e instanceof UsageError && /--crop-patches expects an odd integer >= 1.*'4'/.test(e.message),
  );
});

Deno.test(
  "the planted ViT with --crop-patches 3: 96 px boxes around the motif patches, P in every manifest, refusals",
  ORT_TEST,
  async () => {
    const { fixture, motifAt } = await plantedVit();
    const work = await Deno.makeTempDir({ prefix: "vit_crop_box_" });
    const model = fixture.modelPath, data = fixture.imageFolder, ep = "cpu" as const;
    const dataset = await openDataset(data);
    try {
      const predictions = join(work, "predictions");
      await predictDataset({ model, data, out: predictions, ep });
      const concepts = join(work, "concepts");
      // k = 4: the 2 x 2 grid of 96 px cells on the 224 px canvas holds exactly four crops.
      await computeConcepts({
        model,
        data,
        layer: VIT_FIXTURE_LAYER,
        predictions,
        ep,
        k: 4,
        out: concepts,
        method: "deeplift",
        samples: 1,
        sigma: 0,
        seed: 0,
      });
      const read = await readConcepts(concepts);
      const { motifOf, prototypesOf: rowsOf } = prototypeMotifs(read);
      const run = { model, data, concepts, predictions, ep };

      // visualize: the records and the manifest say P and the crop side.
      const figures = join(work, "figures");
      const vis = await runVisualize({ ...run, out: figures, columns: 4, cropPatches: 3 });
      assert.equal(vis.cropSize, 96);
      assert.equal(vis.cropPatches, 3);
      const onDisk = JSON.parse(await Deno.readTextFile(join(figures, "visualize.json")));
      assert.equal(onDisk.manifest.settings.cropPatches, 3);
      // A motif prototype's best crop holds its motif at the centre patch, and the crops are the image's 96 px
      // boxes around the hit patch; at least one hit lies on the border, where the box is moved inside.
      const hits = vis.classes.flatMap((c) => c.prototypes.flatMap((p) => [...p.all, ...p.excluded]));
      const images = await loadImages(dataset, hits.map((h) => h.image));
      let motifHits = 0, borderHits = 0;
      for (const cls of vis.classes) {
        cls.prototypes.forEach(({ all }, j) => {
          const motif = motifOf(rowsOf(cls.class)[j]);
          if (motif && all[0].score > 0.9) {
            assert.equal(motifAt(all[0].path, all[0].y, all[0].x), motif, `class ${cls.class} P${j + 1}`);
            motifHits++;
          }
        });
        // The figure itself: its crops (before JPEG) are those boxes, unscaled at 96 px.
        const rows = cls.prototypes.map((p) => ({ all: p.all, excluded: p.excluded }));
        const input = {
          cls: cls.class,
          layer: VIT_FIXTURE_LAYER,
          rows,
          images,
          pooledWidth: GRID,
          predicted: new Int32Array(dataset.size),
          columns: 4,
          cropPatches: 3,
          tokens: true,
        };
        const layout = prototypeGridLayout(input);
        assert.equal(layout.scale, 1);
        const figure = prototypeGridFigure(input);
        rows.forEach((row, r) =>
          row.all.forEach((h, c) => {
            const [x0, y0] = layout.origins.all;
            const box = expectedBox(h.y, h.x, 3);
            if (h.y === 0 || h.x === 0 || h.y === GRID - 1 || h.x === GRID - 1) borderHits++;
            assert.deepEqual(
              canvasPixels(figure.pixels, figure.width, x0 + c * layout.pitch, y0 + r * layout.pitch, 96),
              boxPixels(images(h.image), box),
              `class ${cls.class} P${r + 1} crop ${c + 1} at (${h.y}, ${h.x})`,
            );
          })
        );
      }
      assert.ok(motifHits >= 8, `${motifHits} motif prototypes`);
      assert.ok(borderHits >= 1, "no crop on the border: the clamped box is untested");

      // The component test: k = 4 crops of 96 px on the canvas, P recorded in its settings and manifest.
      const ctOut = join(work, "component-test");
      const ct = await runComponentTest({ ...run, out: ctOut, cropPatches: 3 });
      assert.equal(ct.settings.cropSize, 96);
      assert.equal(ct.settings.cropPatches, 3);
      assert.match(ct.settings.composite!, /96 px box of 3 x 3 patches centred on the hit token/);
      assert.equal((ct.manifest.settings as Record<string, unknown>).cropPatches, 3);
      assert.equal((await readManifest(ctOut))!.manifest.settings!.cropPatches, 3);
      // explain: the same crop box, recorded.
      const explained = await runExplain({ ...run, out: figures, cls: 0, cropPatches: 3 });
      assert.equal(explained.cropSize, 96);
      assert.equal((explained.manifest.settings as Record<string, unknown>).cropPatches, 3);
      // P = 1 on a token tap is recorded too, so a P = 3 run is never mistaken for it.
      const plain = await runVisualize({ ...run, out: join(work, "plain"), columns: 1 });
      assert.equal(plain.cropSize, 32);
      assert.equal((plain.manifest.settings as Record<string, unknown>).cropPatches, 1);

      // Refusals: one 160 px crop fits the canvas, k = 4 do not; nine patches exceed the 7 x 7 grid.
      await assert.rejects(
        () => runComponentTest({ ...run, out: join(work, "ct5"), cropPatches: 5 }),
        (e) =>
          e instanceof UsageError &&
          /--crop-patches 5: the composite of k = 4 crops of 160 px does not fit .* holds 1 such crop/.test(
            e.message,
          ),
      );
      await assert.rejects(
        () => runVisualize({ ...run, out: join(work, "vis9"), cropPatches: 9 }),
        (e) => e instanceof UsageError && /--crop-patches 9: .* 7 x 7 patch grid/.test(e.message),
      );
    } finally {
      dataset.close();
      await Deno.remove(work, { recursive: true });
    }
  },
);

Deno.test(
  "a CNN tap refuses --crop-patches, naming the flag: its crop is the pooled grid's cell",
  ORT_TEST,
  async () => {
    const fixture = await ensureFixture();
    const dataset = await openDataset(fixture.imageFolder, { limit: 2 });
    const classifier = await Classifier.open(fixture.modelPath, {
      ep: "cpu",
      layers: [FIXTURE_TAP_LAYER3],
      withLogits: false,
    });
    try {
      // The search refuses it when it sees the tap (the run refuses earlier, from the model: see below).
      const C = 4; // refused before the channels are compared
      await assert.rejects(
        () =>
          searchPrototypes(
            dataset,
            classifier,
            { bases: new Float32Array(C).fill(1), prototypeClass: Int32Array.of(0), channels: C },
            Int32Array.of(0, 0),
            { topK: 1, cpu: true, cropPatches: 3 },
          ),
        (e) => e instanceof UsageError && /--crop-patches 3: --layer .* is a CNN tap/.test(e.message),
      );
    } finally {
      await classifier.release();
      dataset.close();
    }
    // A run (openRun) refuses it before any prediction is computed: the model has no patch embedding.
    await assert.rejects(
      () => checkCropPatchesModel(fixture.modelPath, "layer3.1", 3),
      (e) => e instanceof UsageError && /--crop-patches 3: --layer layer3.1 is a CNN tap/.test(e.message),
    );
    await checkCropPatchesModel(fixture.modelPath, "layer3.1", 1);
  },
);
