// Provenance of the remaining tasks (issue 18, the rest): predict, attribute, nmf, component-test, prepare,
// visualize and explain write `complete: false` first and list their files last; visualize and explain share
// one folder and each removes only what its earlier run listed; component-test folders are read by one reader
// that checks kind, completeness, model and layer (the report uses it); nested run folders (insert-test
// --auto's why_not/<pair>/) do not survive a rerun.
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureFixture } from "../fixtures/ensure.ts";
import { UsageError } from "../src/cli/cli.ts";
import { writeJsonAtomic } from "../src/io/atomic.ts";
import { writeNpy } from "../src/io/npy.ts";
import { completeManifest, type ManifestRecord, startManifest, takeOverOutDir } from "../src/io/manifest.ts";
import { predictDataset } from "../src/pipeline/predict/predict.ts";
import { findOrComputePredictions } from "../src/pipeline/predict/find_predictions.ts";
import { openDataset } from "../src/data/dataset.ts";
import { runVisualize } from "../src/pipeline/figures/visualize.ts";
import { runExplain } from "../src/pipeline/figures/explain.ts";
import { readComponentTest } from "../src/pipeline/component_test/read_component_test_folder.ts";
import { readRunFolder } from "../src/pipeline/report/run_folder.ts";
import { nmfTask } from "../tasks/nmf.ts";
import { writePlantedConcepts } from "./_helpers/planted_concepts.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };
const fixture = await ensureFixture();
const work = await Deno.makeTempDir({ prefix: "provenance_outputs_test_" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));

async function manifestOf(dir: string, file = "manifest.json"): Promise<ManifestRecord> {
  const value = JSON.parse(await Deno.readTextFile(join(dir, file)));
  return file === "manifest.json" ? value : value.manifest;
}

async function refused(run: () => Promise<unknown>, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(run, (e) => {
    assert.ok(e instanceof UsageError, `expected a UsageError (exit 2), got ${(e as Error).stack}`);
    for (const p of patterns) assert.match((e as Error).message, p);
    return true;
  });
}

async function files(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isFile && !e.name.startsWith(".")) names.push(e.name);
  return names.sort();
}

Deno.test(
  "predict: a killed run says complete: false and is not used; a finished one lists its files",
  ORT_TEST,
  async () => {
    const out = join(work, "predict");
    const base = {
      model: fixture.modelPath,
      data: fixture.imageFolder,
      out,
      ep: "wasm" as const,
      limit: 8,
      batch: 4,
    };
    await predictDataset(base);
    const done = await manifestOf(out);
    assert.equal(done.complete, true);
    assert.equal(done.kind, "predict");
    assert.deepEqual(done.outputs, ["predictions.json", "predictions.npy"]);
    // Killed after its first batch (the earlier run's predictions.npy is still there).
    await assert.rejects(
      predictDataset({
        ...base,
        fresh: true,
        checkpointEvery: 1,
        onBatch: () => {
          throw new Error("killed");
        },
      }),
      /killed/,
    );
    assert.equal((await manifestOf(out)).complete, false);
    const dataset = await openDataset(fixture.imageFolder, { limit: 8 });
    try {
      await refused(
        () =>
          findOrComputePredictions({
            model: fixture.modelPath,
            modelSha256: done.model!.sha256,
            data: fixture.imageFolder,
            dataset,
            given: out,
            computeInto: join(work, "unused"),
          }),
        /--predictions .*predict does not fit: its run has not finished/,
      );
    } finally {
      dataset.close();
    }
  },
);

Deno.test("nmf: the manifest names the task and lists W, H and nmf.json, complete", async () => {
  const input = join(work, "v.npy");
  await writeNpy(input, Float32Array.from({ length: 40 }, (_, i) => (i * 7) % 5 + 0.5), [10, 4]);
  const out = join(work, "nmf");
  await nmfTask(["--input", input, "--out", out, "--k", "2", "--cpu"], () => {});
  const m = await manifestOf(out);
  assert.equal(m.kind, "nmf");
  assert.equal(m.complete, true);
  assert.deepEqual(m.outputs, ["W.npy", "H.npy", "nmf.json"]);
  // A folder of another task is refused by name, before anything is removed.
  await refused(
    () => nmfTask(["--input", input, "--out", join(work, "predict"), "--k", "2", "--cpu"], () => {}),
    /found a 'predict' folder/,
  );
  assert.ok((await files(join(work, "predict"))).includes("predictions.npy"));
});

Deno.test(
  "visualize and explain share one --out: each lists its own files and a rerun removes only its own",
  ORT_TEST,
  async () => {
    const concepts = await writePlantedConcepts(join(work, "concepts"), fixture.imageFolder);
    const out = join(work, "figures");
    const run = { model: fixture.modelPath, data: fixture.imageFolder, concepts, out, ep: "wasm" as const };
    const first = await runVisualize({ ...run, classes: [0, 1] });
    const explained = await runExplain({ ...run, cls: 7 });
    const firstFiles = first.classes.map((c) => c.file);
    assert.deepEqual((await manifestOf(out, "visualize.json")).outputs, [...firstFiles, "visualize.json"]);
    const explainManifest = await manifestOf(out, "explain_7.json");
    assert.equal(explainManifest.complete, true);
    assert.deepEqual(explainManifest.outputs, [explained.jpeg, "explain_7.json"]);
    // Another visualize run: the first one's class figures go, explain's stay.
    const second = await runVisualize({ ...run, classes: [2] });
    const m = await manifestOf(out, "visualize.json");
    assert.equal(m.complete, true);
    assert.deepEqual(m.outputs, [second.classes[0].file, "visualize.json"]);
    assert.deepEqual(
      await files(out),
      [second.classes[0].file, "explain_7.jpg", "explain_7.json", "visualize.json"].sort(),
    );
  },
);

/** A component-test folder as the task writes it, with `manifest` overriding its manifest's fields. */
async function componentFolder(name: string, manifest: Record<string, unknown>): Promise<string> {
  const dir = join(work, name);
  const m = {
    task: "component-test",
    kind: "component-test",
    model: { path: "m.onnx", sha256: "a".repeat(64) },
    layer: { name: "layer3.1", tensor: "/layer3/layer3.1/relu_1/Relu_output_0" },
    complete: true,
    ...manifest,
  };
  const summary = { classes: 1, passed: 1, passRate: 1, meanP: 0.9, stdP: 0, shareAbove: {} };
  // As the task writes it: `complete` and `outputs` only in manifest.json.
  const { complete: _, ...embedded } = m;
  await writeJsonAtomic(join(dir, "component_test.json"), {
    manifest: embedded,
    settings: {},
    classes: [],
    summary: { allImages: summary, targetExcluded: summary },
  });
  await writeJsonAtomic(join(dir, "manifest.json"), m);
  return dir;
}

Deno.test("readComponentTest: checks kind, completeness, model and layer before reading", async () => {
  const want = {
    flag: "--component-test",
    model: { path: "m.onnx", sha256: "a".repeat(64) },
    layer: { name: "layer3.1", tensor: "/layer3/layer3.1/relu_1/Relu_output_0" },
  };
  const good = await componentFolder("ct-good", {});
  assert.equal((await readComponentTest(good, want)).summary.allImages.meanP, 0.9);
  const other = await componentFolder("ct-concepts", { task: "concepts", kind: "concepts" });
  await refused(() => readComponentTest(other, want), /expected a component-test folder, found a 'concepts'/);
  const killed = await componentFolder("ct-killed", { complete: false });
  await refused(() => readComponentTest(killed, want), /has not finished/);
  const otherModel = await componentFolder("ct-model", { model: { path: "b.onnx", sha256: "b".repeat(64) } });
  await refused(
    () => readComponentTest(otherModel, want),
    /expected component-test of --model m\.onnx .*found component-test of b\.onnx/,
  );
  const otherLayer = await componentFolder("ct-layer", {
    layer: { name: "layer3.0", tensor: "/layer3/layer3.0/relu_1/Relu_output_0" },
  });
  await refused(
    () => readComponentTest(otherLayer, want),
    /--layer layer3\.1 .*found component-test at layer3\.0/,
  );
  // The report reads it through the same reader: a killed test is a problem, not a section.
  const runDir = join(work, "run-killed");
  await Deno.mkdir(runDir);
  await Deno.rename(killed, join(runDir, "component"));
  const contents = await readRunFolder(runDir);
  assert.equal(contents.component, undefined);
  // Reported once, by its manifest.
  assert.deepEqual(contents.problems.map((p) => p.path), [join(runDir, "component", "manifest.json")]);
  assert.match(contents.problems[0].problem, /incomplete \("complete": false\): 'component-test'/);
  // A component_test.json without class records is named by the reader.
  const broken = await componentFolder("run-broken/component", {});
  await writeJsonAtomic(join(broken, "component_test.json"), { manifest: await manifestOf(broken) });
  const read = await readRunFolder(join(work, "run-broken"));
  assert.equal(read.component, undefined);
  assert.match(read.problems[0].problem, /expected component_test\.json with class records/);
});

Deno.test("a nested run folder a run made goes with the run's other files on the next run", async () => {
  const out = join(work, "nested");
  const nestedRun = async (rel: string) => {
    await writeJsonAtomic(join(out, rel, "manifest.json"), { task: "contrast", complete: true });
    await Deno.writeTextFile(join(out, rel, "figure.jpg"), "x");
  };
  // A finished run: one file, one nested run, and predictions it reused (kept: a nested input, not its output).
  await takeOverOutDir(out, "insert-test");
  await Deno.writeTextFile(join(out, "insert_test.json"), "{}");
  await nestedRun("why_not/0_not_1");
  await writeJsonAtomic(join(out, "predictions", "manifest.json"), { task: "predict", complete: true });
  await completeManifest(out, { task: "insert-test" }, undefined, ["why_not/0_not_1"]);
  assert.deepEqual((await manifestOf(out)).outputs, ["insert_test.json", "why_not/0_not_1/"]);
  await takeOverOutDir(out, "insert-test");
  await assert.rejects(Deno.stat(join(out, "why_not")), Deno.errors.NotFound);
  await Deno.stat(join(out, "predictions", "manifest.json"));
  // A killed run lists the nested runs it had started; the next run removes them too.
  await startManifest(out, { task: "insert-test", outputs: ["why_not/2_not_3/"] });
  await nestedRun("why_not/2_not_3");
  await takeOverOutDir(out, "insert-test");
  await assert.rejects(Deno.stat(join(out, "why_not")), Deno.errors.NotFound);
});
