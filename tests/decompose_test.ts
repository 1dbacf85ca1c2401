// deno task decompose's stage (src/pipeline/decompose): on the fixture with planted concepts a class's image
// puts its motif prototypes' mass exactly on the planted boxes of those motifs; bad input is refused before
// compute; an unreadable image among several is skipped and reported.
import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { ensureFixture } from "../fixtures/ensure.ts";
import { CLASSES } from "../fixtures/spec.ts";
import { readNpy } from "../src/io/npy.ts";
import { exists } from "../src/io/atomic.ts";
import { writeNpy } from "../src/io/npy.ts";
import { runDecompose, validateDecompose } from "../src/pipeline/decompose/decompose.ts";
import { summarizePrototypes } from "../src/pipeline/decompose/contributions.ts";
import { motifsAt, PLANTED_K, readTruthByPath, writePlantedConcepts } from "./_helpers/planted_concepts.ts";

const fixture = await ensureFixture();
const truth = await readTruthByPath(fixture.truthPath);
const work = await Deno.makeTempDir({ prefix: "decompose_test_" });
const concepts = await writePlantedConcepts(join(work, "concepts"));

/** Grid-aligned ImageFolder images of a class (their planted cells are known on the 7x7 grid). */
function imagesOf(cls: number, count: number) {
  return [...truth.entries()]
    .filter(([p, t]) => p.startsWith(resolve(fixture.imageFolder)) && t.classIndex === cls && t.inputCells)
    .slice(0, count);
}

Deno.test({
  name: "decompose: a class's image puts its motif prototypes' mass on the planted boxes of those motifs",
  sanitizeResources: false,
  async fn() {
    const cls = 2;
    const images = imagesOf(cls, 2);
    const broken = join(work, "broken.jpg");
    await Deno.writeTextFile(broken, "not an image");
    const out = join(work, "out");
    const report = await runDecompose({
      model: fixture.modelPath,
      images: [images[0][0], broken, images[1][0]],
      concepts,
      cls,
      out,
      ep: "wasm",
    });
    assert.equal(report.k, PLANTED_K);
    assert.deepEqual(report.skipped.map((s) => s.path), [broken]);
    assert.equal(report.images.length, 2);
    for (const [i, image] of report.images.entries()) {
      const t = images[i][1];
      assert.equal(image.top5[0].class, cls, `${image.path}: predicted ${image.top5[0].class}`);
      assert.equal(image.reconstruction.unconverged, 0);
      const maps = (await readNpy(join(out, image.folder, "contribution.npy"))).data as Float32Array;
      const hw = image.grid.height * image.grid.width;
      // Rows 0 and 1 of the planted basis are the class's two motifs (planted_concepts.ts).
      for (const [row, motif] of CLASSES[cls].motifs.entries()) {
        let inside = 0, total = 0, missed = 0;
        for (let y = 0; y < image.grid.height; y++) {
          for (let x = 0; x < image.grid.width; x++) {
            const v = maps[row * hw + y * image.grid.width + x];
            total += v;
            // A 14x14 position lies in the 32 px cell (y/2, x/2) of the 7x7 planting grid.
            if (motifsAt(t, y >> 1, x >> 1).includes(motif)) {
              inside += v;
              if (!(v > 0)) missed++;
              // Where the motif is planted, its prototype carries the most of all prototypes.
              for (let j = 0; j < PLANTED_K; j++) {
                assert.ok(
                  maps[j * hw + y * image.grid.width + x] <= v,
                  `${motif} at (${y},${x}): prototype ${j}`,
                );
              }
            }
          }
        }
        if (t.inputCells!.some((c) => c.motif === motif)) {
          assert.ok(total > 0, `${image.path}: prototype ${row} (${motif}) has no contribution`);
          assert.ok(
            inside / total > 0.99,
            `${image.path}: ${motif}: ${(100 * inside / total).toFixed(1)}% inside`,
          );
          assert.equal(
            missed,
            0,
            `${image.path}: ${motif}: ${missed} planted positions without contribution`,
          );
          const peak = image.prototypes[row].peak;
          assert.ok(
            motifsAt(t, peak.row >> 1, peak.col >> 1).includes(motif),
            `peak of ${motif} off its boxes`,
          );
        }
      }
      // The JSON's summaries are those of the written maps; overlays exist.
      assert.deepEqual(
        summarizePrototypes(maps, PLANTED_K, image.grid.width).map((p) => p.totalContribution),
        image.prototypes.map((p) => p.totalContribution),
      );
      for (const p of image.prototypes) assert.ok(await exists(join(out, p.overlay)), p.overlay);
    }
    const manifest = JSON.parse(await Deno.readTextFile(join(out, "manifest.json")));
    assert.equal(manifest.task, "decompose");
    assert.ok(await exists(join(out, "decompose.json")));
  },
});

Deno.test("decompose: bad input is refused before compute, naming the argument", async () => {
  const out = join(work, "never");
  const base = { model: fixture.modelPath, images: [imagesOf(0, 1)[0][0]], concepts, cls: 0, out };
  await assert.rejects(
    validateDecompose({ ...base, images: [join(work, "missing.jpg")] }),
    /missing\.jpg: file not found/,
  );
  await assert.rejects(validateDecompose({ ...base, cls: 9 }), /no basis for class 9/);
  // k = 25 prototypes: beyond the solver's private arrays.
  const wide = join(work, "wide");
  await Deno.mkdir(join(wide, "0"), { recursive: true });
  await Deno.writeTextFile(
    join(wide, "concepts.json"),
    JSON.stringify({ layer: "layer3.1", channels: 4, k: 25, classes: [{ class: 0, status: "done" }] }),
  );
  await writeNpy(join(wide, "0", "basis.npy"), new Float32Array(25 * 4).fill(1), [25, 4]);
  await assert.rejects(validateDecompose({ ...base, concepts: wide }), /k = 25 prototypes.*1 to 24/);
  await assert.rejects(validateDecompose({ ...base, layer: "layer2.0" }), /computed at layer3\.1/);
  assert.equal(await exists(out), false, "nothing is written before the input is valid");
});
