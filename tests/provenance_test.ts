// Provenance (issue 18): every output folder's manifest says what it is, what made it and whether it is
// finished, and every stage checks its input folders before any compute; a rerun leaves nothing stale. Each
// test is one probe of the issue, on the 8-class fixture (wasm EP, a few images per class, 2 noise samples):
//   1. contrast-vectors resumed into a folder of other data (--limit) is refused; --fresh starts over.
//   2. a killed contrast-vectors shard is neither merged nor trained on (its manifest says complete: false).
//   3. hyperplanes of another layer or another model are refused by shifting-test and contrast.
//   4. hyperplanes --vectors of a hyperplanes folder is refused by name.
//   6. decompose and contrast reruns into one --out leave only their own files.
import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { ensureFixture } from "../fixtures/ensure.ts";
import { UsageError } from "../src/cli/cli.ts";
import type { ManifestRecord } from "../src/io/manifest.ts";
import { encodeModel, readModel, sha256File, sha256Hex } from "../src/onnx/model.ts";
import { computeContrastVectors } from "../src/pipeline/contrast/vectors/contrast_vectors.ts";
import { trainHyperplanes } from "../src/pipeline/contrast/hyperplanes/hyperplanes.ts";
import { readHyperplanes } from "../src/pipeline/contrast/hyperplanes/hyperplanes_io.ts";
import { runContrastTest } from "../src/pipeline/contrast/sanity_checks/contrast_test_run.ts";
import { shiftingTest } from "../src/pipeline/contrast/sanity_checks/shifting.ts";
import { whyNot } from "../src/pipeline/contrast/why_not/why_not.ts";
import { runDecompose } from "../src/pipeline/decompose/decompose.ts";
import { merge } from "../tasks/merge.ts";
import { readRunFolder } from "../src/pipeline/report/run_folder.ts";
import { writeLabelPredictions, writePlantedConcepts } from "./_helpers/planted_concepts.ts";
import { fixtureVectorsOptions } from "./_helpers/fixture_vectors.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };
const ROOT = new URL("..", import.meta.url).pathname;
const fixture = await ensureFixture();
const work = await Deno.makeTempDir({ prefix: "provenance_test_" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));
// The fixture model predicts every image's label: no predict pass needed.
const predictions = await writeLabelPredictions(join(work, "predictions"), fixture.imageFolder);
const imageCount = JSON.parse(await Deno.readTextFile(join(predictions, "predictions.json"))).images.length;

const vectorsBase = fixtureVectorsOptions(fixture, predictions);
const TRAINING = { epochs: 20, lr: 0.5, init: "zeros" as const, seed: 0 };

// Read here, not through io/manifest.ts, so that this file also runs on a protoscope from before provenance
// (every probe must fail there).
async function readManifest(dir: string): Promise<{ manifest: ManifestRecord; sha256: string } | undefined> {
  const bytes = await Deno.readFile(join(dir, "manifest.json")).catch(() => undefined);
  return bytes && { manifest: JSON.parse(new TextDecoder().decode(bytes)), sha256: await sha256Hex(bytes) };
}

/** The files a run wrote into `dir`: all but its manifest, hidden files and the predictions it computed. */
async function listRunFiles(dir: string, rel = ""): Promise<string[]> {
  const files: string[] = [];
  for await (const e of Deno.readDir(join(dir, rel))) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (e.name.startsWith(".") || path === "manifest.json" || path === "predictions") continue;
    files.push(...(e.isDirectory ? await listRunFiles(dir, path) : [path]));
  }
  return files.sort();
}

/** Rejects with a UsageError (exit 2) whose message matches every pattern. */
async function refused(run: () => Promise<unknown>, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(run, (e) => {
    assert.ok(e instanceof UsageError, `expected a UsageError (exit 2), got ${(e as Error).stack}`);
    for (const p of patterns) assert.match((e as Error).message, p);
    return true;
  });
}

// Vectors and hyperplanes at layer3.0 (classes 0 and 1), shared by cases 3, 4 and 6.
const vectors30 = join(work, "vectors-layer3.0");
const hyper30 = join(work, "hyperplanes-layer3.0");
let trained30: Promise<void> | undefined;
function layer30(): Promise<void> {
  trained30 ??= (async () => {
    await computeContrastVectors({
      ...vectorsBase,
      layer: "layer3.0",
      classes: "0,1",
      maxImages: 2,
      out: vectors30,
    });
    await trainHyperplanes({
      vectors: vectors30,
      out: hyper30,
      training: TRAINING,
      solver: "cpu",
      log: () => {},
    });
  })();
  return trained30;
}

Deno.test(
  "1. contrast-vectors refuses to resume a folder made from other data; --fresh starts over",
  ORT_TEST,
  async () => {
    const out = join(work, "vectors-limit");
    // Class 0's first 2 images are the first 2 of the data: with --limit 2 it has 2 images, without it 4.
    await computeContrastVectors({ ...vectorsBase, layer: "layer3", classes: "0", limit: 2, out });
    const run = () => computeContrastVectors({ ...vectorsBase, layer: "layer3", classes: "0", out });
    await refused(run, new RegExp(`data changed \\(2 images then, ${imageCount} now\\)`), /--fresh/);
    const index = JSON.parse(await Deno.readTextFile(join(out, "vectors.json")));
    assert.equal(index.classes[0].images.length, 2, "the refused run changed nothing");
    await computeContrastVectors({ ...vectorsBase, layer: "layer3", classes: "0", out, fresh: true });
    const redone = JSON.parse(await Deno.readTextFile(join(out, "vectors.json")));
    assert.equal(redone.classes[0].images.length, 4, "class 0 computed anew from all its images");
    const { manifest } = (await readManifest(out))!;
    assert.equal(manifest.complete, true);
    assert.equal(manifest.identity?.data.count, imageCount);
    assert.deepEqual(manifest.outputs, ["0.npy", "vectors.json"]);
  },
);

Deno.test("2. a killed contrast-vectors shard is neither merged nor trained on", ORT_TEST, async () => {
  const parts = [join(work, "shard-1"), join(work, "shard-2")];
  const args = (shard: string, out: string) => [
    "run",
    "-A",
    "main.ts",
    "contrast-vectors",
    ...["--model", fixture.modelPath, "--data", fixture.imageFolder, "--layer", "layer3"],
    ...["--predictions", predictions, "--samples", "2", "--max-images", "4", "--ep", "wasm"],
    ...["--classes", "0-7", "--shard", shard, "--out", out],
  ];
  // Shard 2 (classes 4-7) is killed once it has written two classes.
  const child = new Deno.Command(Deno.execPath(), {
    args: args("2/2", parts[1]),
    cwd: ROOT,
    stdout: "null",
    stderr: "null",
  })
    .spawn();
  let exited = false;
  child.status.then(() => exited = true);
  for (;;) {
    const index = await Deno.readTextFile(join(parts[1], "vectors.json")).then(JSON.parse, () => undefined);
    if ((index?.classes.length ?? 0) >= 2) break;
    assert.ok(!exited, "shard 2 finished before it could be killed");
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill("SIGKILL");
  await child.status;
  await computeContrastVectors({
    ...vectorsBase,
    layer: "layer3",
    classes: "0-7",
    shard: { index: 1, count: 2 },
    out: parts[0],
  });
  await refused(
    () => merge(parts, join(work, "merged")),
    new RegExp(`--parts ${parts[1]}: expected a finished contrast-vectors shard`),
    /complete: false/,
  );
  // Trained on while still being written (or after its run died): refused, nothing trained.
  const out = join(work, "hyperplanes-of-killed");
  await refused(
    () => trainHyperplanes({ vectors: parts[1], out, training: TRAINING, solver: "cpu", log: () => {} }),
    new RegExp(`--vectors ${parts[1]}: expected a complete contrast-vectors folder`),
    /has not finished/,
  );
  assert.equal(await Deno.stat(out).then(() => true, () => false), false, "no hyperplanes folder left");
});

Deno.test(
  "3. hyperplanes of another layer or another model are refused before any compute",
  ORT_TEST,
  async () => {
    await layer30();
    // The same model, its bytes changed (another export of the same shape).
    const model = await readModel(fixture.modelPath);
    const other = join(work, "other.onnx");
    await Deno.writeFile(other, encodeModel({ ...model, producerName: "another export" }));
    const set = await readHyperplanes(hyper30, { classes: [] });
    const shifting = (layer: string, modelPath: string) =>
      runContrastTest(shiftingTest([0, -1]), {
        model: modelPath,
        data: fixture.imageFolder,
        layer,
        hyperplanes: { source: hyper30, set },
        predictions,
        pairs: "0:1",
        maxImages: 2,
        ep: "wasm",
        out: join(work, "shifting"),
      });
    await refused(
      () => shifting("layer3", fixture.modelPath),
      /expected hyperplanes at --layer layer3 /,
      /layer3\.0/,
    );
    await refused(
      () => shifting("layer3.0", other),
      /expected hyperplanes of --model .*other\.onnx/,
      /found hyperplanes of/,
    );
    await refused(
      () =>
        whyNot({
          ...vectorsBase,
          layer: "layer3",
          hyperplanes: hyper30,
          classA: 0,
          classB: 1,
          k: 2,
          out: join(work, "contrast-layer3"),
        }),
      /expected hyperplanes at --layer layer3 /,
    );
    // What the checks read: the hyperplanes record the vectors' model and layer, and the vectors folder.
    const { manifest } = (await readManifest(hyper30))!;
    assert.equal(
      manifest.model?.sha256,
      await sha256File(fixture.modelPath),
      "the hyperplanes record the model",
    );
    assert.equal(manifest.layer?.name, "layer3.0");
    assert.equal(manifest.inputs?.vectors.path, vectors30);
    assert.equal(manifest.inputs?.vectors.manifestSha256, (await readManifest(vectors30))!.sha256);
    assert.equal(manifest.complete, true);
    // The right layer and model pass the checks and run.
    const report = await shifting("layer3.0", fixture.modelPath);
    assert.equal(report.runs[0].pairs.length, 1);
  },
);

Deno.test("4. hyperplanes --vectors of a hyperplanes folder is refused by name", async () => {
  await layer30();
  const out = join(work, "hyperplanes-of-hyperplanes");
  await refused(
    () => trainHyperplanes({ vectors: hyper30, out, training: TRAINING, solver: "cpu", log: () => {} }),
    new RegExp(`--vectors ${hyper30}: expected a contrast-vectors folder, found a 'hyperplanes' folder`),
  );
});

Deno.test("4. --predictions and --concepts of another kind are refused by name", ORT_TEST, async () => {
  await layer30();
  await refused(
    () =>
      computeContrastVectors({
        ...vectorsBase,
        predictions: hyper30,
        out: join(work, "vectors-of-hyperplanes"),
      }),
    new RegExp(`--predictions ${hyper30}: expected a predict folder .*found a 'hyperplanes' folder`),
  );
  await refused(
    () =>
      runDecompose({
        model: fixture.modelPath,
        concepts: vectors30,
        cls: 0,
        images: [join(fixture.imageFolder, "c0_red_green", "c0_red_green_000.png")],
        out: join(work, "decompose-of-vectors"),
        ep: "wasm",
      }),
    new RegExp(`--concepts ${vectors30}: expected a concepts folder, found a 'contrast-vectors' folder`),
  );
});

Deno.test(
  "6. a decompose rerun with another class into one --out leaves only its own images",
  ORT_TEST,
  async () => {
    const concepts = await writePlantedConcepts(join(work, "concepts"));
    const image = (c: number, n: number) => {
      const dir = join(
        fixture.imageFolder,
        `c${c}_` + ["red_green", "red_blue", "green_yellow", "blue_cyan"][c],
      );
      return resolve(dir, [...Deno.readDirSync(dir)].map((e) => e.name).sort()[n]);
    };
    const out = join(work, "decompose");
    const base = { model: fixture.modelPath, concepts, out, ep: "wasm" as const };
    await runDecompose({ ...base, cls: 2, images: [image(2, 0), image(2, 1)] });
    const second = await runDecompose({ ...base, cls: 3, images: [image(3, 0)] });
    const files = await listRunFiles(out);
    assert.deepEqual(
      files.filter((f) => f.includes("/")).map((f) => f.split("/")[0]).filter((f, i, a) =>
        a.indexOf(f) === i
      ),
      [
        second.images[0].folder,
      ],
    );
    assert.deepEqual((await readManifest(out))!.manifest.outputs, files);
  },
);

Deno.test(
  "6. a contrast rerun with another pair leaves no reverse/ and no old figure",
  ORT_TEST,
  async () => {
    await layer30();
    const contrast = join(work, "contrast");
    const why = (classA: number, classB: number, both: boolean) =>
      whyNot({
        ...vectorsBase,
        layer: "layer3.0",
        hyperplanes: hyper30,
        classA,
        classB,
        both,
        k: 2,
        maxImages: 2,
        out: contrast,
      });
    const first = await why(0, 1, true);
    assert.ok((await listRunFiles(contrast)).some((f) => f.startsWith("reverse/")));
    const next = await why(1, 0, false);
    const left = await listRunFiles(contrast);
    assert.ok(!left.some((f) => f.startsWith("reverse/")), `reverse/ of the --both run is gone: ${left}`);
    assert.ok(!left.includes(first.figure.slice(contrast.length + 1)), "the first pair's figure is gone");
    assert.ok(left.includes(next.figure.slice(contrast.length + 1)));
    const { manifest } = (await readManifest(contrast))!;
    assert.deepEqual(manifest.outputs, left);
    assert.equal(manifest.inputs?.hyperplanes.path, hyper30);
  },
);

Deno.test("6. the report shows only the files a completed run's manifest lists", async () => {
  const run = join(work, "report-run");
  const out = join(run, "decompose");
  await Deno.mkdir(join(out, "0_new"), { recursive: true });
  await Deno.mkdir(join(out, "1_stale"), { recursive: true });
  for (const f of ["0_new/image.jpg", "1_stale/image.jpg", "stale.json"]) {
    await Deno.writeTextFile(join(out, f), "{}");
  }
  await Deno.writeTextFile(join(out, "decompose.json"), JSON.stringify({ class: 3 }));
  await Deno.writeTextFile(
    join(out, "manifest.json"),
    JSON.stringify({ task: "decompose", complete: true, outputs: ["0_new/image.jpg", "decompose.json"] }),
  );
  const contents = await readRunFolder(run);
  const shown = contents.generic.find((g) => g.folder === "decompose")!;
  assert.deepEqual(shown.images.map((i) => i.title), ["0_new/image.jpg"]);
  assert.deepEqual(shown.summaries.map((s) => s.file), ["decompose.json"]);
});
