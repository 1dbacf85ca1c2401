// A small run folder in the shape the pipeline writes (component test, figures, hyperplanes, a shifting test and
// an output the report does not know), with made-up numbers, for the report's tests: building it takes
// milliseconds where running the pipeline takes minutes.
import { join } from "node:path";
import { writeNpy } from "../../src/io/npy.ts";
import { Canvas, type Rgb } from "../../src/render/canvas.ts";
import type {
  ComponentTestReport,
  VariantRecord,
} from "../../src/pipeline/component_test/component_test_run.ts";
import { summarizeVariant } from "../../src/pipeline/component_test/component_test_run.ts";
import { summarizeRun, summarizeRuns } from "../../src/pipeline/contrast/sanity_checks/contrast_summary.ts";

export interface FakeRun {
  dir: string;
  classes: number;
  component: ComponentTestReport;
}

const manifest = (task: string) => ({
  task,
  created: "2026-11-30T00:00:00.000Z",
  model: { path: "model.onnx", sha256: "ab12cd34ef56".padEnd(64, "0") },
  layer: { name: "layer3", tensor: "/layer3/Relu_output_0" },
  settings: { k: 6 },
  versions: { protoscope: "0.1.0", deno: Deno.version.deno },
});

async function jpeg(path: string, color: Rgb, label: string): Promise<void> {
  const c = new Canvas(96, 48, color);
  c.text(4, 4, label);
  await Deno.writeFile(path, await c.toJpeg(80));
}

function variant(cls: number, p: number, k: number): VariantRecord {
  const pass = p > 0.5;
  return {
    crops: [],
    missing: [],
    pClass: p,
    argmax: pass ? cls : (cls + 1) % k,
    argmaxName: `class_${pass ? cls : (cls + 1) % k}`,
    top5: [],
    pass,
  };
}

/** Writes the run folder under `dir`: `classes` classes, each with composites; figures for the first 8. */
/** `hyperplaneClasses`: the hyperplanes' K (at most `classes`; 8 by default, K(K-1) accuracies). */
export async function writeFakeRun(
  dir: string,
  classes = 8,
  hyperplaneClasses = Math.min(classes, 8),
): Promise<FakeRun> {
  const component = join(dir, "component-test"), figures = join(dir, "figures");
  const hyper = join(dir, "hyperplanes"),
    shifting = join(dir, "shifting-test"),
    other = join(dir, "insert-test");
  for (const d of [join(component, "composites"), figures, hyper, shifting, other]) {
    await Deno.mkdir(d, { recursive: true });
  }
  const records = [...Array(classes).keys()].map((c) => ({
    class: c,
    name: `class_${c}`,
    allImages: variant(c, ((c * 37) % 100) / 100, classes),
    targetExcluded: variant(c, ((c * 53) % 100) / 250, classes),
  }));
  const report = {
    manifest: manifest("component-test"),
    settings: {
      k: 6,
      layer: "layer3",
      tensor: "/layer3/Relu_output_0",
      pooledGrid: [14, 14],
      cropSize: 16,
      conceptsSource: "protoscope",
      predictions: "predictions",
      blankCrop: "gray",
    },
    classes: records,
    summary: {
      allImages: summarizeVariant(records.map((r) => r.allImages)),
      targetExcluded: summarizeVariant(records.map((r) => r.targetExcluded)),
    },
    timing: {
      searchSeconds: 1,
      imagesPerSecond: 1,
      compositeSeconds: 1,
      compositesPerSecond: 1,
      searchDevice: "cpu",
      modelDevice: "wasm",
    },
    skipped: [],
  } as ComponentTestReport;
  await Deno.writeTextFile(join(component, "component_test.json"), JSON.stringify(report, null, 2));
  // One tiny JPEG shared by every class's composites keeps 1000 classes quick to write.
  const tiny = join(dir, "tiny.jpg");
  await jpeg(tiny, [200, 120, 40], "c");
  const bytes = await Deno.readFile(tiny);
  await Deno.remove(tiny);
  for (const c of records) {
    await Deno.writeFile(join(component, "composites", `${c.class}_all.jpg`), bytes);
    await Deno.writeFile(join(component, "composites", `${c.class}_excluded.jpg`), bytes);
  }

  const shown = records.slice(0, Math.min(8, classes));
  for (const c of shown) {
    await jpeg(join(figures, `${c.class}_${c.name}.jpg`), [60, 120, 200], `grid ${c.class}`);
  }
  await Deno.writeTextFile(
    join(figures, "visualize.json"),
    JSON.stringify({
      manifest: manifest("visualize"),
      classes: shown.map((c) => ({
        class: c.class,
        name: c.name,
        file: `${c.class}_${c.name}.jpg`,
        prototypes: [],
      })),
      passes: 1,
      seconds: 1,
      skipped: [],
    }),
  );
  await jpeg(join(figures, "explain_1.jpg"), [40, 160, 80], "explain 1");
  await Deno.writeTextFile(
    join(figures, "explain_1.json"),
    JSON.stringify({
      manifest: manifest("explain"),
      class: 1,
      name: "class_1",
      jpeg: "explain_1.jpg",
      skipped: [],
    }),
  );

  const k = hyperplaneClasses;
  await Deno.writeTextFile(
    join(hyper, "hyperplanes.json"),
    JSON.stringify({
      numClasses: k,
      channels: 32,
      layer: "layer3",
      classes: [...Array(k).keys()],
      settings: {},
      pairs: { trained: k * (k - 1), derived: 0, skipped: 0 },
      complete: true,
    }),
  );
  await Deno.writeTextFile(join(hyper, "manifest.json"), JSON.stringify(manifest("hyperplanes")));
  for (let i = 0; i < k; i++) {
    const acc = Float32Array.from({ length: k }, (_, j) => (i === j ? 0 : 0.5 + ((i + 2 * j) % 5) / 10));
    await writeNpy(join(hyper, `accuracy_${i}.npy`), acc, [k]);
  }

  const offsets = [0, 1, 2, 4, 8, 16];
  const pairs = [[0, 1], [2, 3], [4, 5]].map(([from, to], n) => ({
    from,
    to,
    offsets,
    images: 10,
    pFrom: offsets.map((o) => Math.max(0, 0.9 - o * 0.05 * (n + 1))),
    pTo: offsets.map((o) => Math.min(1, 0.01 + o * 0.04 * (n + 1))),
    top1: offsets.map(() => from),
  }));
  const run = summarizeRun(pairs);
  await jpeg(join(shifting, "shifting_run0.jpg"), [120, 40, 160], "shift");
  await Deno.writeTextFile(
    join(shifting, "shifting_test.json"),
    JSON.stringify({
      manifest: manifest("shifting-test"),
      settings: { offsets, runs: 1 },
      runs: [{ run: 0, seed: null, pairs, noHyperplane: [], summary: run, figure: "shifting_run0.jpg" }],
      summary: { perRun: [run], overRuns: summarizeRuns([run]) },
      table: "",
    }),
  );

  // An output of a task the report does not know: shown by its JSON summary and JPEGs.
  await Deno.writeTextFile(join(other, "manifest.json"), JSON.stringify(manifest("insert-test")));
  await Deno.writeTextFile(
    join(other, "insert_test.json"),
    JSON.stringify({ summary: { insertedPairs: 3, meanGain: 0.4242 }, rows: [1, 2, 3] }),
  );
  await jpeg(join(other, "insert_run0.jpg"), [30, 30, 30], "insert");
  return { dir, classes, component: report };
}
