// The demo's ViT step: the planted-concept ViT (fixtures/vit_fixture.ts, 32 px patches, tapped at its first
// block's output) through the stages that read token taps, printing what they found against the planted truth.
import { basename, join } from "node:path";
import { ensureVitFixture } from "../fixtures/ensure.ts";
import { MOTIFS } from "../fixtures/spec.ts";
import type { FixtureTruth } from "../fixtures/fixture_images.ts";
import { VIT_FIXTURE_LAYER, vitMotifChannel } from "../fixtures/vit_fixture.ts";
import { predictDataset } from "../src/pipeline/predict/predict.ts";
import { computeConcepts } from "../src/pipeline/concepts/concepts.ts";
import { readConcepts } from "../src/pipeline/concepts/read_concepts.ts";
import { formatComponentTable, runComponentTest } from "../src/pipeline/component_test/component_test_run.ts";
import { runVisualize } from "../src/pipeline/figures/visualize.ts";
import { computeContrastVectors } from "../src/pipeline/contrast/vectors/contrast_vectors.ts";
import { trainHyperplanes } from "../src/pipeline/contrast/hyperplanes/hyperplanes.ts";
import { REFERENCE_TRAINING } from "../kernels/hyperplane/settings.ts";
import { whyNot } from "../src/pipeline/contrast/why_not/why_not.ts";
import { writeReport } from "../src/pipeline/report/report.ts";
import type { EpChoice } from "../src/runtime/ort.ts";

/** Runs the ViT step into `out`; returns the folder and its report. */
export async function vitStep(out: string, ep: EpChoice): Promise<{ out: string; report: string }> {
  console.log(`14/14 a vision transformer: the planted ViT at ${VIT_FIXTURE_LAYER} (tokens as positions)`);
  const fixture = await ensureVitFixture();
  const truth: FixtureTruth = JSON.parse(await Deno.readTextFile(fixture.truthPath));
  const cells = new Map(truth.images.map((t) => [basename(t.imageFolderPath), t.inputCells ?? []]));
  const motifAt = (path: string, y: number, x: number) =>
    cells.get(basename(path))?.find((c) => c.row === y && c.col === x)?.motif ?? "background";
  const model = fixture.modelPath, data = fixture.imageFolder, layer = VIT_FIXTURE_LAYER;
  const predictions = join(out, "predictions");
  const p = await predictDataset({ model, data, out: predictions, ep });
  console.log(
    `    ${p.summary.predicted} images, top-1 ${(100 * (p.summary.top1Accuracy ?? 0)).toFixed(1)}%`,
  );

  // DeepLift without the noise tunnel: the planted motifs need none, and the step stays a few seconds.
  const attribution = { method: "deeplift" as const, samples: 1, sigma: 0, seed: 0 };
  const common = { model, data, layer, predictions, ep, attributionCache: join(out, "attribution-cache") };
  const concepts = join(out, "concepts");
  await computeConcepts({ ...common, ...attribution, out: concepts });
  const read = await readConcepts(concepts);
  /** The motif whose channel dominates prototype q (a global row), if one does. */
  const motifOf = (q: number) => {
    const values = MOTIFS.map((m) => read.bases[q * read.channels + vitMotifChannel(m.slot)]);
    const best = values.indexOf(Math.max(...values));
    return values[best] > 0.3 ? MOTIFS[best] : undefined;
  };
  const rowsOf = (c: number) => [...read.prototypeClass.keys()].filter((q) => read.prototypeClass[q] === c);
  const motifs = read.classes.map((c) =>
    `c${c}: ${
      rowsOf(c).flatMap((q) => motifOf(q) ? [`${motifOf(q)!.id} ${motifOf(q)!.name}`] : []).join(" + ")
    }`
  );
  console.log(`    motif prototypes per class (planted: two motifs each): ${motifs.join("; ")}`);

  const run = { model, data, concepts, predictions, ep };
  const visualized = await runVisualize({ ...run, out: join(out, "figures") });
  let shown = 0, onMotif = 0;
  for (const c of visualized.classes) {
    c.prototypes.forEach((q, j) => {
      const motif = motifOf(rowsOf(c.class)[j]);
      if (!motif || !q.all.length) return;
      shown++;
      if (motifAt(q.all[0].path, q.all[0].y, q.all[0].x) === motif.id) onMotif++;
    });
  }
  console.log(
    `    best crop of each motif prototype (a patch token's 32 px box): ${onMotif}/${shown} a patch of its motif`,
  );
  const component = await runComponentTest({ ...run, out: join(out, "component-test") });
  console.log(formatComponentTable(component).split("\n").map((l) => `    ${l}`).join("\n"));

  const vectors = join(out, "contrast-vectors");
  await computeContrastVectors({ ...common, ...attribution, out: vectors });
  const hyperplanes = join(out, "hyperplanes");
  await trainHyperplanes({ vectors, out: hyperplanes, training: REFERENCE_TRAINING, log: () => {} });
  const why = await whyNot({
    model,
    data,
    layer,
    hyperplanes,
    classA: 0,
    classB: 1,
    k: 3,
    predictions,
    ep,
    out: join(out, "why-0-not-1"),
  });
  const found = why.topCrops.map((c, q) =>
    `prototype ${q}: ${c.map((h) => motifAt(h.path, h.y, h.x)).join(", ")} (mask ${
      (c.reduce((s, h) => s + h.maskAtCell, 0) / Math.max(1, c.length)).toFixed(2)
    })`
  );
  console.log(`    why c0 (red, green), not c1 (red, blue): crops hold ${found.join("; ")}`);
  const page = await writeReport({ run: out, out: join(out, "report.html") });
  console.log(`    ${page.out}`);
  return { out, report: page.out };
}
