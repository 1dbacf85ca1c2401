// The figures on the fixture: every motif prototype's best crops lie on planted cells of its motif (and look
// like it in the JPEG), the second grid holds only other classes' images, and the explanation figure of c7
// shows why it fails the target-excluded test.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Image } from "imagescript";
import { ensureFixture } from "../fixtures/ensure.ts";
import { CLASSES, DISTRACTORS, motifById } from "../fixtures/spec.ts";
import { runVisualize, type VisualizeReport } from "../src/pipeline/figures/visualize.ts";
import { prototypeGridLayout } from "../src/pipeline/figures/prototype_grid_figure.ts";
import { explanationGeometry } from "../src/pipeline/figures/explanation_figure.ts";
import type { ExplainReport } from "../src/pipeline/figures/explain.ts";
import { Canvas } from "../src/render/canvas.ts";
import { textWidth } from "../src/render/font.ts";
import { motifsAt, PLANTED_K, readTruthByPath, writePlantedConcepts } from "./_helpers/planted_concepts.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };
const fixture = await ensureFixture();
const truth = await readTruthByPath(fixture.truthPath);

async function decode(path: string): Promise<Image> {
  return await Image.decode(await Deno.readFile(path));
}

/** Mean RGB of the square (x, y, side) of a decoded image, inset to skip frames and JPEG edge ringing. */
function meanRgb(img: Image, x: number, y: number, side: number, inset = 6): number[] {
  const sum = [0, 0, 0];
  let n = 0;
  for (let yy = y + inset; yy < y + side - inset; yy++) {
    for (let xx = x + inset; xx < x + side - inset; xx++) {
      const o = (yy * img.width + xx) * 4;
      for (let c = 0; c < 3; c++) sum[c] += img.bitmap[o + c];
      n++;
    }
  }
  return sum.map((s) => s / n);
}

/** A motif's colour is a corner of the RGB cube: channels on are bright, channels off dark. */
function assertMotifColour(rgb: number[], motif: string, what: string) {
  const vertex = motifById(motif).vertex;
  vertex.forEach((on, c) => {
    assert.ok(on ? rgb[c] > 160 : rgb[c] < 90, `${what}: mean colour ${rgb.map(Math.round)} is not ${motif}`);
  });
}

Deno.test("canvas: text leaves ink inside its box, shrinking averages", () => {
  const canvas = new Canvas(80, 20);
  const end = canvas.text(2, 2, "C7_X", [0, 0, 0], 2);
  // The returned x is one blank column (at scale 2) past the last glyph.
  assert.equal(end - 2, textWidth("C7_X", 2) + 2);
  let ink = 0;
  for (let y = 0; y < 20; y++) {
    for (let x = 0; x < 80; x++) {
      if (canvas.pixels[(y * 80 + x) * 3] === 0) {
        ink++;
        assert.ok(x >= 2 && x < end && y >= 2 && y < 16);
      }
    }
  }
  assert.ok(ink > 40);
  const small = new Canvas(1, 1);
  small.blit(
    { pixels: Uint8Array.from([0, 0, 0, 100, 100, 100, 200, 200, 200, 100, 100, 100]), width: 2, height: 2 },
    0,
    0,
    1,
    1,
  );
  assert.deepEqual([...small.pixels], [100, 100, 100]);
});

Deno.test(
  "visualize: each prototype's best 8 crops hold its motif; the second grid only other classes",
  ORT_TEST,
  async () => {
    const work = await Deno.makeTempDir();
    const concepts = await writePlantedConcepts(join(work, "concepts"), fixture.imageFolder);
    const out = join(work, "out");
    const report = await runVisualize({
      model: fixture.modelPath,
      data: fixture.imageFolder,
      concepts,
      out,
      ep: "wasm",
    });
    assert.equal(report.passes, 1);
    const predictions = JSON.parse(
      await Deno.readTextFile(join(concepts, "predictions", "predictions.json")),
    );
    const predicted = (predictions.images as { predicted: number }[]).map((i) => i.predicted);
    assert.deepEqual(report.classes.map((c) => c.class), CLASSES.map((c) => c.index));
    for (const entry of report.classes) {
      const cls = CLASSES[entry.class];
      assert.equal(entry.name, cls.name);
      assert.equal(entry.prototypes.length, PLANTED_K);
      const motifRows = [...cls.motifs, DISTRACTORS[0].id];
      entry.prototypes.forEach((row, p) => {
        assert.equal(row.all.length, 8);
        assert.equal(row.excluded.length, 8);
        for (const c of row.excluded) assert.notEqual(predicted[c.image], cls.index, `${cls.name} P${p + 1}`);
        assert.ok(row.all.every((c, i) => i === 0 || c.score <= row.all[i - 1].score));
        if (p >= motifRows.length) return;
        const motif = motifRows[p];
        for (const c of row.all) {
          const at = motifsAt(truth.get(c.path)!, c.y, c.x);
          assert.ok(
            at.includes(motif),
            `${cls.name} P${p + 1}: ${c.path} (${c.y}, ${c.x}) holds ${at}, not ${motif}`,
          );
        }
        for (const c of row.excluded) {
          const at = motifsAt(truth.get(c.path)!, c.y, c.x);
          // M6 occurs only in c7's images: its best "other" positions score 0 and hold no M6.
          if (motif === "M6") assert.ok(c.score === 0 && !at.includes("M6"));
          else assert.ok(at.includes(motif), `${cls.name} P${p + 1} excluded: ${c.path} holds ${at}`);
        }
      });
      // The JPEG: its size follows the layout, and the motif rows' crops have the motif's colour.
      const img = await decode(join(out, entry.file));
      const layout = prototypeGridLayout({
        cls: entry.class,
        name: entry.name,
        layer: "layer3.1",
        rows: entry.prototypes.map(() => ({ all: [], excluded: [] })),
        images: () => new Uint8Array(0),
        pooledWidth: 7,
        predicted: new Int32Array(0),
      });
      assert.deepEqual([img.width, img.height], [layout.width, layout.height]);
      cls.motifs.forEach((motif, p) => {
        for (const column of [0, 7]) {
          const [x0, y0] = layout.origins.all;
          const rgb = meanRgb(img, x0 + column * layout.pitch, y0 + p * layout.pitch, layout.cell);
          assertMotifColour(rgb, motif, `${entry.file} P${p + 1} crop ${column + 1}`);
        }
      });
    }
    const onDisk = JSON.parse(await Deno.readTextFile(join(out, "visualize.json"))) as VisualizeReport;
    assert.deepEqual(onDisk.classes, report.classes);
  },
);

Deno.test(
  "explain --class c7_magenta_black: columns, source classes and the composite's prediction",
  ORT_TEST,
  async () => {
    const work = await Deno.makeTempDir();
    const concepts = await writePlantedConcepts(join(work, "concepts"), fixture.imageFolder);
    const out = join(work, "out");
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "tasks/explain.ts",
        ...["--class", "c7_magenta_black", "--model", fixture.modelPath, "--data", fixture.imageFolder],
        ...["--concepts", concepts, "--out", out, "--ep", "wasm"],
      ],
      env: { PROTOSCOPE_QUIET: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    assert.match(
      new TextDecoder().decode(r.stdout),
      /class 7 \(c7_magenta_black\): .* predicted as c6_cyan_magenta/,
    );
    const report = JSON.parse(await Deno.readTextFile(join(out, "explain_7.json"))) as ExplainReport;
    assert.equal(report.class, 7);
    const { allImages, targetExcluded } = report.record;
    assert.equal(allImages.argmaxName, "c7_magenta_black");
    assert.equal(targetExcluded.argmaxName, "c6_cyan_magenta");
    assert.equal(targetExcluded.pass, false);
    // Column 3: the source images of column 2, with their predicted classes (never c7).
    for (const c of targetExcluded.crops) {
      assert.notEqual(c.predicted, 7);
      assert.equal(c.predictedName, CLASSES[c.predicted!].name);
      assert.equal(truth.get(c.path!)!.classIndex, c.predicted);
    }
    // The M5 prototype's other-class crop comes from a c6 image.
    assert.equal(targetExcluded.crops[0].predictedName, "c6_cyan_magenta");
    const img = await decode(join(out, report.jpeg));
    const g = explanationGeometry(PLANTED_K);
    assertMotifColour(meanRgb(img, g.columns[0], g.rows[0], g.cell, 10), "M5", "column 1, M5 row");
    assertMotifColour(meanRgb(img, g.columns[1], g.rows[0], g.cell, 10), "M5", "column 2, M5 row");
    assertMotifColour(meanRgb(img, g.columns[0], g.rows[1], g.cell, 10), "M6", "column 1, M6 row");
    // Column 2 has no M6 to show: whatever it shows is not black.
    assert.ok(Math.max(...meanRgb(img, g.columns[1], g.rows[1], g.cell, 10)) > 90);
  },
);
