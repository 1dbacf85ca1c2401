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
import { summarizeError, summarizePrototypes } from "../src/pipeline/decompose/contributions.ts";
import { noGpu } from "./_helpers/gpu.ts";
import { motifsAt, PLANTED_K, readTruthByPath, writePlantedConcepts } from "./_helpers/planted_concepts.ts";

const fixture = await ensureFixture();
const truth = await readTruthByPath(fixture.truthPath);
const work = await Deno.makeTempDir({ prefix: "decompose_test_" });
const concepts = await writePlantedConcepts(join(work, "concepts"));
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));

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
      // The explained figure is written beside the maps, and p(class) is the top-1 probability here.
      assert.equal(image.classProbability, image.top5[0].probability);
      assert.ok(await exists(join(out, image.figure)), image.figure);
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

Deno.test({
  name: "decompose: the webgpu path (GPU solver) gives the CPU twin's maps",
  ignore: noGpu,
  sanitizeResources: false,
  async fn() {
    const image = imagesOf(7, 1)[0][0];
    const run = (ep: "wasm" | "webgpu") =>
      runDecompose({ model: fixture.modelPath, images: [image], concepts, cls: 7, out: join(work, ep), ep });
    const [cpu, gpu] = [await run("wasm"), await run("webgpu")];
    assert.match(gpu.solver, /^GPU/);
    assert.match(cpu.solver, /^CPU twin/);
    const read = async (ep: string, r: typeof cpu) =>
      (await readNpy(join(work, ep, r.images[0].folder, "contribution.npy"))).data as Float32Array;
    const [a, b] = [await read("wasm", cpu), await read("webgpu", gpu)];
    for (let i = 0; i < a.length; i++) {
      assert.ok(Math.abs(a[i] - b[i]) <= 1e-3 * (1 + Math.abs(a[i])), `value ${i}`);
    }
  },
});

Deno.test("decompose: summaries of hand-made maps and solutions", () => {
  // k = 2 on a 2 x 2 grid: prototype 0 peaks at (1, 0), prototype 1 is unused.
  const maps = Float32Array.from([1, 0, 3, 0, 0, 0, 0, 0]);
  const [p0, p1] = summarizePrototypes(maps, 2, 2);
  assert.deepEqual(p0, {
    prototype: 0,
    totalContribution: 4,
    share: 1,
    peak: { row: 1, col: 0, value: 3 },
    activePositions: 2,
  });
  assert.equal(p1.share, 0);
  const solution = {
    x: new Float32Array(8),
    iterations: new Uint32Array(4),
    converged: Uint8Array.from([1, 1, 0, 1]),
    error: Float64Array.from([1, 0, 4, 0]),
    norm: Float64Array.from([4, 1, 16, 0]),
  };
  const e = summarizeError(solution, 0, 4);
  assert.ok(Math.abs(e.relative - Math.sqrt(5 / 21)) < 1e-12);
  assert.deepEqual(e.perPosition, { min: 0, median: 0.5, mean: 1 / 3, max: 0.5, positions: 3 });
  assert.equal(e.zeroPositions, 1);
  assert.equal(e.unconverged, 1);
});
