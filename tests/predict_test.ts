// Predictions through the whole pipeline (decode in workers, PIL-exact preprocessing, normalization, model) on
// the generated fixture, whose construction fixes every image's class.
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureFixture } from "../fixtures/ensure.ts";
import {
  predictDataset,
  type PredictionsFile,
  readPredictedClasses,
} from "../src/pipeline/predict/predict.ts";
import { prepareCache } from "../src/data/cache.ts";
import { writeJsonAtomic } from "../src/io/atomic.ts";
import { noNative } from "./_helpers/eps.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };
const fixture = await ensureFixture();

Deno.test(
  "fixture predictions (ImageFolder layout) equal the planted classes; outputs are complete",
  ORT_TEST,
  async () => {
    const out = await Deno.makeTempDir();
    const result = await predictDataset({
      model: fixture.modelPath,
      data: fixture.imageFolder,
      out,
      ep: "wasm",
    });
    assert.equal(result.summary.images, 240);
    assert.equal(result.summary.failures.length, 0);
    for (const img of result.images) assert.equal(img.predicted, img.label, img.path);
    assert.equal(result.summary.top1Accuracy, 1);
    assert.deepEqual(result.classNames, fixture.classNames);
    assert.equal(result.images[0].top5.length, 5);
    assert.ok(result.images[0].top5[0].p >= result.images[0].top5[1].p);
    const onDisk = JSON.parse(await Deno.readTextFile(join(out, "predictions.json"))) as PredictionsFile;
    const manifest = onDisk.manifest as {
      model: { sha256: string };
      data: { count: number };
      versions: object;
    };
    assert.match(manifest.model.sha256, /^[0-9a-f]{64}$/);
    assert.equal(manifest.data.count, 240);
    const npy = await readPredictedClasses(out);
    assert.deepEqual([...npy], result.images.map((i) => i.predicted));
  },
);

Deno.test(
  "ImageNet-val layout via a prepared cache, with a corrupt file recorded and skipped",
  ORT_TEST,
  async () => {
    const work = await Deno.makeTempDir();
    const val = join(work, "val");
    await Deno.mkdir(val);
    const names: string[] = [];
    for await (const e of Deno.readDir(fixture.valFolder)) if (e.name.endsWith(".JPEG")) names.push(e.name);
    names.sort();
    const chosen = names.slice(0, 24);
    for (const n of chosen) await Deno.copyFile(join(fixture.valFolder, n), join(val, n));
    await Deno.copyFile(join(fixture.valFolder, "LOC_val_solution.csv"), join(val, "LOC_val_solution.csv"));
    await Deno.copyFile(fixture.classesPath, join(val, "classes.json"));
    // A corrupt file with a valid name: it must be recorded with its reason and skipped.
    const broken = "ILSVRC2012_val_99999999.JPEG";
    await Deno.writeFile(join(val, broken), new Uint8Array([0xff, 0xd8, 0xff, 1, 2, 3]));
    const cache = join(work, "cache");
    await prepareCache({ data: val, out: cache });
    const index = JSON.parse(await Deno.readTextFile(join(cache, "index.json")));
    assert.equal(index.failures.length, 1);
    assert.match(index.failures[0].path, /99999999/);
    const out = join(work, "pred");
    const result = await predictDataset({ model: fixture.modelPath, data: cache, out, ep: "wasm", batch: 5 });
    assert.equal(result.summary.images, 24);
    for (const img of result.images) assert.equal(img.predicted, img.label, img.path);
    // The raw folder gives the same predictions, recording the broken file as a failure.
    const raw = await predictDataset({
      model: fixture.modelPath,
      data: val,
      out: join(work, "raw"),
      ep: "wasm",
    });
    assert.equal(raw.summary.failures.length, 1);
    assert.deepEqual(
      raw.images.filter((i) => i.predicted >= 0).map((i) => i.predicted),
      result.images.map((i) => i.predicted),
    );
  },
);

Deno.test(
  "an interrupted predict resumes from its checkpoint instead of starting over",
  ORT_TEST,
  async () => {
    const out = await Deno.makeTempDir();
    const full = await predictDataset({
      model: fixture.modelPath,
      data: fixture.imageFolder,
      out,
      ep: "wasm",
      limit: 20,
    });
    // Leave a checkpoint as a killed run would, with a marker in the part already done.
    const done = full.images.slice(0, 12).map((i) => ({ ...i, top5: [{ class: i.predicted, p: -1 }] }));
    // The checkpoint records the run's identity (model hash, image stamps), as the manifest does.
    const identity = (full.manifest as { identity: unknown }).identity;
    await writeJsonAtomic(join(out, ".predict-checkpoint.json"), { identity, images: done });
    const resumed = await predictDataset({
      model: fixture.modelPath,
      data: fixture.imageFolder,
      out,
      ep: "wasm",
      limit: 20,
    });
    assert.equal(resumed.images.length, 20);
    assert.ok(
      resumed.images.slice(0, 12).every((i) => i.top5[0].p === -1),
      "the checkpointed part was recomputed",
    );
    assert.ok(resumed.images.slice(12).every((i) => i.top5[0].p > 0));
    assert.deepEqual(resumed.images.map((i) => i.predicted), full.images.map((i) => i.predicted));
    await assert.rejects(Deno.stat(join(out, ".predict-checkpoint.json")));
  },
);

Deno.test({
  name: "predict on the native cpu EP: wasm's top-5 and probabilities; the manifest names the EP",
  ignore: noNative,
  ...ORT_TEST,
  fn: async () => {
    const work = await Deno.makeTempDir();
    try {
      const run = (ep: "wasm" | "cpu") =>
        predictDataset({
          model: fixture.modelPath,
          data: fixture.imageFolder,
          out: join(work, ep),
          ep,
          limit: 24,
        });
      const [wasm, cpu] = [await run("wasm"), await run("cpu")];
      assert.equal(cpu.images.length, 24);
      cpu.images.forEach((img, i) => {
        const want = wasm.images[i];
        assert.deepEqual(img.top5.map((t) => t.class), want.top5.map((t) => t.class), img.path);
        img.top5.forEach((t, j) => assert.ok(Math.abs(t.p - want.top5[j].p) < 1e-5, `${img.path}: p ${t.p}`));
      });
      const manifest = (file: string) =>
        Deno.readTextFile(join(work, file, "predictions.json")).then((t) => JSON.parse(t).manifest.device);
      assert.match(await manifest("cpu"), /^cpu \(onnxruntime-node 1\.30\.0, native\)$/);
      assert.match(await manifest("wasm"), /^wasm /);
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
});
