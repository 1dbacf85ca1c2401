// deno task demo [--out out/demo] [--ep auto|webgpu|cpu|wasm]: the pipeline on the generated fixture.
import { basename, join, resolve } from "node:path";
import { choiceArg, parseCli, runTask } from "../src/cli/cli.ts";
import { ensureFixture, ensureVitFixture } from "../fixtures/ensure.ts";
import { prepareCache } from "../src/data/cache.ts";
import { predictDataset } from "../src/pipeline/predict/predict.ts";
import { attributeDataset } from "../src/pipeline/attribute/attribute_dataset.ts";
import { PAPER_ATTRIBUTION } from "../src/pipeline/attribute/attributor.ts";
import { computeConcepts } from "../src/pipeline/concepts/concepts.ts";
import { formatComponentTable, runComponentTest } from "../src/pipeline/component_test/component_test_run.ts";
import { runVisualize } from "../src/pipeline/figures/visualize.ts";
import { runExplain } from "../src/pipeline/figures/explain.ts";
import { EP_CHOICES, EP_HELP, type EpChoice } from "../src/runtime/ort.ts";
import { computeContrastVectors } from "../src/pipeline/contrast/vectors/contrast_vectors.ts";
import {
  formatHyperplaneSummary,
  trainHyperplanes,
} from "../src/pipeline/contrast/hyperplanes/hyperplanes.ts";
import { REFERENCE_TRAINING } from "../kernels/hyperplane/settings.ts";
import { readHyperplanes } from "../src/pipeline/contrast/hyperplanes/hyperplanes_io.ts";
import { runContrastTest } from "../src/pipeline/contrast/sanity_checks/contrast_test_run.ts";
import { REFERENCE_OFFSETS, shiftingTest } from "../src/pipeline/contrast/sanity_checks/shifting.ts";
import { maskingTest } from "../src/pipeline/contrast/sanity_checks/masking.ts";
import { runDecompose } from "../src/pipeline/decompose/decompose.ts";
import { whyNot } from "../src/pipeline/contrast/why_not/why_not.ts";
import { writeReport } from "../src/pipeline/report/report.ts";
import { runInsertTest } from "../src/pipeline/contrast/insert/insert.ts";
import { runInsertAuto } from "../src/pipeline/contrast/insert/insert_auto.ts";
import type { FixtureTruth } from "../fixtures/fixture_images.ts";
import { MOTIFS } from "../fixtures/spec.ts";
import { VIT_FIXTURE_LAYER, vitMotifChannel } from "../fixtures/vit_fixture.ts";
import { readConcepts } from "../src/pipeline/concepts/read_concepts.ts";

/** A few pairs for the contrast tests: classes sharing a motif (2 -> 4, 0 -> 1), none (0 -> 7, 3 -> 5), and
 * the M5 pair whose weights differ (6 -> 7, 7 -> 6). */
const DEMO_PAIRS = "2:4,0:1,0:7,3:5,6:7,7:6";

export async function main(argv: string[]): Promise<void> {
  const a = parseCli("demo", "Runs protoscope on the generated planted-concept fixture.", {
    out: { type: "string", default: "out/demo", help: "output folder" },
    ep: { type: "string", default: "auto", help: EP_HELP },
  }, argv);
  const out = resolve(a.out as string);
  const ep = choiceArg("ep", a.ep, EP_CHOICES);

  console.log("1/14 fixture and cache");
  const fixture = await ensureFixture();
  const cache = join(out, "cache");
  const prepared = await prepareCache({ data: fixture.valFolder, out: cache });
  console.log(`    ${prepared.images} images prepared into ${cache}`);

  console.log("2/14 predictions");
  const predictions = join(out, "predictions");
  const p = await predictDataset({ model: fixture.modelPath, data: cache, out: predictions, ep });
  const s = p.summary;
  console.log(
    `    ${s.predicted}/${s.images} predicted, top-1 ${(100 * (s.top1Accuracy ?? 0)).toFixed(1)}% ` +
      `(the fixture's construction implies 100%), ${s.imagesPerSecond.toFixed(1)} img/s on ${
        (p.manifest as { device: string }).device
      }`,
  );

  console.log("3/14 attribution (DeepLift, 20-sample noise tunnel) of class 0 on its own images");
  const attribution = join(out, "attribution");
  const firstClass = join(fixture.imageFolder, fixture.classNames[0]);
  const att = await attributeDataset({
    ...PAPER_ATTRIBUTION,
    model: fixture.modelPath,
    data: firstClass,
    layer: "layer3",
    target: "0",
    out: attribution,
    ep,
    overlays: 8,
  });
  console.log(`    ${att.images} maps at ${att.tapShape.join("x")} on ${att.device}`);

  console.log("4/14 concepts: 6 NMF prototypes per class from attribution-weighted layer3 activations");
  const concepts = join(out, "concepts");
  // Shared with the contrast vectors (step 7): each class's attribution is computed once.
  const attributionCache = join(out, "attribution-cache");
  const c = await computeConcepts({
    ...PAPER_ATTRIBUTION,
    model: fixture.modelPath,
    data: cache,
    layer: "layer3",
    out: concepts,
    predictions,
    ep,
    attributionCache,
  });
  console.log(
    `    ${c.classes.filter((x) => x.status === "done").length} classes, k = ${c.k}, ${c.channels} channels`,
  );

  console.log("5/14 component prediction test (both variants)");
  const componentOut = join(out, "component-test");
  const run = { model: fixture.modelPath, data: cache, concepts, out: componentOut, predictions, ep };
  const report = await runComponentTest(run);
  console.log(formatComponentTable(report).split("\n").map((l) => `    ${l}`).join("\n"));

  console.log(
    "6/14 figures: prototype crops per class, and the explanation figure of the class with a unique motif",
  );
  const figures = join(out, "figures");
  await runVisualize({ ...run, out: figures });
  const explained = await runExplain({ ...run, out: figures, cls: 7 });

  console.log(
    "7/14 contrast vectors: activations where each class's attribution mean exceeds 0.25 x its max",
  );
  const vectors = join(out, "contrast-vectors");
  const v = await computeContrastVectors({
    ...PAPER_ATTRIBUTION,
    model: fixture.modelPath,
    data: cache,
    layer: "layer3",
    out: vectors,
    predictions,
    ep,
    attributionCache,
  });
  console.log(`    ${v.classes.length} classes, ${v.classes.reduce((a, x) => a + (x.rows ?? 0), 0)} vectors`);

  console.log("8/14 hyperplanes: every ordered class pair, trained as the reference does");
  const hyperplanes = join(out, "hyperplanes");
  const h = await trainHyperplanes({
    vectors,
    out: hyperplanes,
    training: REFERENCE_TRAINING,
    log: () => {},
  });
  console.log(formatHyperplaneSummary(h).split("\n").map((l) => `    ${l}`).join("\n"));

  console.log("9/14 shifting and masking tests on a few pairs (the paper's Table 3)");
  const planes = { source: hyperplanes, set: await readHyperplanes(hyperplanes, { classes: [] }) };
  const contrastRun = {
    model: fixture.modelPath,
    data: cache,
    layer: "layer3",
    hyperplanes: planes,
    predictions,
    ep,
    pairs: DEMO_PAIRS,
    maxImages: 10,
  };
  const shifting = join(out, "shifting-test");
  const sh = await runContrastTest(shiftingTest([...REFERENCE_OFFSETS]), { ...contrastRun, out: shifting });
  console.log(sh.table.split("\n").map((l) => `    ${l}`).join("\n"));
  const masking = join(out, "masking-test");
  const ma = await runContrastTest(maskingTest(0), { ...contrastRun, out: masking });
  console.log(ma.table.split("\n").map((l) => `    ${l}`).join("\n"));

  console.log("10/14 why c6, not c7 (and why c7, not c6): NMF of the activations on each class's side");
  const contrastOut = join(out, "contrast-6-not-7");
  const why = await whyNot({
    model: fixture.modelPath,
    data: cache,
    layer: "layer3",
    hyperplanes: planes,
    classA: 6,
    classB: 7,
    both: true,
    k: 3,
    maxImages: 10,
    predictions,
    ep,
    out: contrastOut,
  });
  for (const d of [why, why.reverse!]) {
    console.log(
      `    why ${d.from}, not ${d.to}: the mask keeps ${
        (100 * d.keptShare).toFixed(1)
      }% of ${d.images.length} ` +
        `images' positions; best crop per prototype scores ${
          d.topCrops.map((c) => c[0]?.score.toFixed(2) ?? "-").join(", ")
        }`,
    );
  }
  console.log(`    figure: ${why.figure}`);
  console.log("11/14 insert test (Table 4): c7's black motif cell pasted into c0's images; then --auto");
  const insertOut = join(out, "insert-test");
  const truth: FixtureTruth = JSON.parse(await Deno.readTextFile(fixture.truthPath));
  const donor = truth.images.find((t) => t.classIndex === 7 && t.inputCells?.some((c) => c.motif === "M6"))!;
  const m6 = donor.inputCells!.find((c) => c.motif === "M6")!;
  const ins = await runInsertTest({
    model: fixture.modelPath,
    data: cache,
    predictions,
    ep,
    into: "0",
    crop: `${join(resolve(".cache/fixture"), donor.imageFolderPath)}:${m6.row * 32},${m6.col * 32},32,32`,
    maxImages: 10,
    out: insertOut,
  });
  console.log(ins.table.split("\n").map((l) => `    ${l}`).join("\n"));
  const insertAuto = join(out, "insert-test-auto");
  const auto = await runInsertAuto({
    model: fixture.modelPath,
    data: cache,
    predictions,
    ep,
    layer: "layer3",
    hyperplanes: planes,
    auto: 4,
    maxImages: 10,
    out: insertAuto,
  });
  console.log(auto.table.split("\n").map((l) => `    ${l}`).join("\n"));

  console.log("12/14 decompose: one image of class 7 explained in its prototypes (exact NNLS per position)");
  const decomposed = join(out, "decompose");
  const classFolder = join(fixture.imageFolder, fixture.classNames[7]);
  const newImage = [...Deno.readDirSync(classFolder)].map((e) => e.name).sort()[0];
  const dec = await runDecompose({
    model: fixture.modelPath,
    images: [join(classFolder, newImage)],
    concepts,
    cls: 7,
    out: decomposed,
    ep,
  });
  const image = dec.images[0];
  const shares = image.prototypes.map((p) => `${p.prototype}: ${(100 * p.share).toFixed(0)}%`).join(", ");
  console.log(
    `    ${newImage}: predicted ${image.top5[0].class} (p ${image.top5[0].probability.toFixed(2)}); ` +
      `contribution shares ${shares}; relative reconstruction error ${
        image.reconstruction.relative.toFixed(3)
      }`,
  );

  console.log("13/14 report: one self-contained HTML page of everything above");
  const page = await writeReport({ run: out, out: join(out, "report.html") });
  console.log(`    ${page.out} (${(page.bytes / 2 ** 20).toFixed(2)} MiB, ${page.classes} classes)`);

  const vit = await vitStep(`${out}-vit`, ep);

  console.log("\nOutputs:");
  console.log(`  fixture (model, images, ground truth)  ${resolve(".cache/fixture")}`);
  console.log(`  prepared images                        ${cache}/images.npy, index.json`);
  console.log(`  predictions                            ${predictions}/predictions.json, predictions.npy`);
  console.log(`  attribution maps and overlays          ${attribution}/maps.npy, overlays/*.jpg`);
  console.log(`  concepts (prototypes per class)        ${concepts}/<class>/basis.npy, concepts.json`);
  console.log(
    `  component test                         ${componentOut}/component_test.json, composites/*.jpg`,
  );
  console.log(`  prototype figures                      ${figures}/<class>_<name>.jpg`);
  console.log(`  explanation figure                     ${join(figures, explained.jpeg)}`);
  console.log(`  contrast vectors                       ${vectors}/<class>.npy, vectors.json`);
  console.log(
    `  hyperplanes                            ${hyperplanes}/<i>.npy, bias_<i>.npy, accuracy_<i>.npy`,
  );
  console.log(`  shifting test                          ${shifting}/shifting_test.json, shifting_run0.jpg`);
  console.log(`  masking test                           ${masking}/masking_test.json, masking_run0.jpg`);
  console.log(
    `  why c6, not c7 (both directions)       ${contrastOut}/basis.npy, contrast.json, ${why.figure}`,
  );
  console.log(
    `  decomposed image                       ${decomposed}/decompose.json, ${image.folder}/prototype_<j>.jpg`,
  );
  console.log(
    `  insert test                            ${insertOut}/insert_test.json, inserted.jpg, control.jpg`,
  );
  console.log(`  insert test --auto                     ${insertAuto}/insert_test.json, pairs/*.jpg`);
  console.log(`  report (open in a browser)             ${page.out}`);
  console.log(`  the planted ViT: every stage, report   ${vit.out}/, ${vit.report}`);
  console.log("\nExplore the run live (classes, why A not B, your own image) at http://127.0.0.1:8080/:");
  console.log(`  deno task serve --run ${out} --model ${fixture.modelPath} --data ${cache}`);
}

/**
 * Step 14, into `out`: the planted-concept ViT (fixtures/vit_fixture.ts, 32 px patches, tapped at its first
 * block's output) through the stages that read token taps, printing what they found against the planted truth.
 */
async function vitStep(out: string, ep: EpChoice): Promise<{ out: string; report: string }> {
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

if (import.meta.main) await runTask(() => main(Deno.args));
