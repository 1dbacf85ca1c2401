// Reliability as a new user meets it (issue 10): resume keyed on the inputs' identity, models that are not
// classifiers, validation before compute, checkpoints, locks on --out, skipped inputs, huge images, small
// argument and progress details. Each test uses a few fixture images so the file stays cheap.
import assert from "node:assert/strict";
import { join } from "node:path";
import { encode as encodePng } from "fast-png";
import { ensureFixture } from "../fixtures/ensure.ts";
import { predictDataset, type PredictionsFile } from "../src/pipeline/predict/predict.ts";
import { computeConcepts } from "../src/pipeline/concepts/concepts.ts";
import { attributeDataset } from "../src/pipeline/attribute/attribute_dataset.ts";
import { Classifier } from "../src/model/classifier.ts";
import { GraphBuilder } from "../src/onnx/builder.ts";
import { encodeModel } from "../src/onnx/model.ts";
import { listImages } from "../src/data/layouts.ts";
import { decodeImage } from "../src/data/decode.ts";
import { intArg, parseCli } from "../src/cli/cli.ts";
import { createProgress } from "../src/io/progress.ts";
import { writeFileAtomic } from "../src/io/atomic.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };
const fixture = await ensureFixture();
const work = await Deno.makeTempDir({ prefix: "protoscope-reliability-" });
const [C0, C1] = fixture.classNames;

/** An ImageFolder of `n` images per class: classes c0 and c1 of the fixture (or swapped contents). */
async function smallData(name: string, n: number, swap = false): Promise<string> {
  const root = join(work, name);
  for (const [dst, src] of [[C0, swap ? C1 : C0], [C1, swap ? C0 : C1]]) {
    await Deno.mkdir(join(root, dst), { recursive: true });
    const files = [...Deno.readDirSync(join(fixture.imageFolder, src))].map((e) => e.name).filter((f) =>
      f.endsWith(".png")
    ).sort().slice(0, n);
    for (const [i, file] of files.entries()) {
      await Deno.copyFile(
        join(fixture.imageFolder, src, file),
        join(root, dst, `${String(i).padStart(3, "0")}.png`),
      );
    }
  }
  return root;
}

/** The PID of a process that has exited (for stale locks and temporaries). */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("true").spawn();
  await child.status;
  return child.pid;
}

const predictBase = { model: fixture.modelPath, ep: "wasm" as const, workers: 0, batch: 2 };

Deno.test(
  "1. predict refuses a checkpoint made from other file contents, naming the change",
  ORT_TEST,
  async () => {
    const data = await smallData("identity-predict", 2);
    const out = join(work, "identity-predict-out");
    // Interrupted after its first batch: the time-based checkpoint (every 0 s here) holds 2 images.
    await assert.rejects(
      predictDataset({
        ...predictBase,
        data,
        out,
        checkpointSeconds: 0,
        onBatch: () => {
          throw new Error("interrupted");
        },
      }),
      /interrupted/,
    );
    // The first image's contents change (another class's picture), same name and count.
    await Deno.copyFile(join(fixture.imageFolder, C1, `${C1}_000.png`), join(data, C0, "000.png"));
    await assert.rejects(predictDataset({ ...predictBase, data, out }), /data.*changed[\s\S]*--fresh/);
    const fresh = await predictDataset({ ...predictBase, data, out, fresh: true });
    assert.equal(fresh.images[0].predicted, 1, "the changed image is predicted anew");
  },
);

Deno.test(
  "1+5+6. concepts: identity-keyed reuse, merged index, skipped images reported",
  ORT_TEST,
  async (t) => {
    const dataA = await smallData("concepts-a", 3);
    await Deno.writeFile(join(dataA, C0, "999_broken.png"), new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2]));
    const dataB = await smallData("concepts-b", 3, true);
    await Deno.writeFile(join(dataB, C0, "999_broken.png"), new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2]));
    const out = join(work, "concepts-out");
    const base = {
      model: fixture.modelPath,
      layer: "layer3",
      method: "deeplift" as const,
      samples: 1,
      sigma: 0,
      seed: 0,
      k: 2,
      maxImages: 2,
      nmfDevice: "cpu" as const,
      ep: "wasm" as const,
      out,
    };
    await t.step("sequential runs with disjoint --classes: the index lists both", async () => {
      await computeConcepts({ ...base, data: dataA, classes: "0" });
      const summary = await computeConcepts({ ...base, data: dataA, classes: "1" });
      assert.deepEqual(summary.classes.map((c) => c.class), [1]);
      const index = JSON.parse(await Deno.readTextFile(join(out, "concepts.json")));
      assert.deepEqual(index.classes.map((c: { class: number }) => c.class), [0, 1]);
      assert.equal(index.skipped.length, 1);
      assert.match(index.skipped[0].path, /999_broken/);
    });
    await t.step("other data of the same size and names is refused, --fresh starts over", async () => {
      await assert.rejects(computeConcepts({ ...base, data: dataB, classes: "0" }), /data[\s\S]*--fresh/);
      const fresh = await computeConcepts({ ...base, data: dataB, classes: "0", fresh: true });
      assert.equal(fresh.classes[0].status, "done");
      const entry = JSON.parse(await Deno.readTextFile(join(out, "0", "concepts.json")));
      assert.deepEqual(entry.imageIndices, [4, 5], "class 0 is now the swapped folder's second class");
    });
    await t.step("--limit on a fresh folder predicts only the images it uses", async () => {
      const limited = join(work, "concepts-limit-out");
      const summary = await computeConcepts({ ...base, out: limited, data: dataA, classes: "0", limit: 2 });
      assert.equal(summary.classes[0].images, 2);
      const predictions = JSON.parse(
        await Deno.readTextFile(join(limited, "predictions", "predictions.json")),
      );
      assert.equal(predictions.images.length, 2);
    });
  },
);

Deno.test(
  "2. a model whose output is not [N, K] class scores is refused with its shape",
  ORT_TEST,
  async () => {
    const b = new GraphBuilder("nchw_identity");
    const x = b.input("input", ["N", 3, 224, 224]);
    b.node("Relu", [x], {}, { outputs: ["y"] });
    b.output("y", ["N", 3, 224, 224]);
    const path = join(work, "nchw.onnx");
    await Deno.writeFile(path, encodeModel(b.model()));
    await assert.rejects(Classifier.open(path, { ep: "wasm" }), /\[N,3,224,224\][\s\S]*2-D/);
  },
);

Deno.test("3. bad --out, --classes and --k are refused before any image is computed", ORT_TEST, async () => {
  const data = await smallData("validate", 1);
  const file = join(work, "a-file");
  await Deno.writeTextFile(file, "x");
  let batches = 0;
  await assert.rejects(
    predictDataset({ ...predictBase, data, out: file, onBatch: () => void batches++ }),
    /--out .*a-file.* is a file/,
  );
  assert.equal(batches, 0);
  const conceptsBase = {
    model: fixture.modelPath,
    data,
    layer: "layer3",
    method: "deeplift" as const,
    samples: 1,
    sigma: 0,
    seed: 0,
    ep: "wasm" as const,
  };
  for (
    const [bad, message] of [[{ classes: "99" }, /--classes/], [{ classes: "" }, /--classes/], [
      { k: 99 },
      /--k/,
    ]]
  ) {
    const out = join(work, `validate-${JSON.stringify(bad).replace(/\W/g, "")}`);
    await assert.rejects(computeConcepts({ ...conceptsBase, ...bad, out }), message as RegExp);
    await assert.rejects(
      Deno.stat(join(out, "predictions")),
      Deno.errors.NotFound,
      "no predictions computed",
    );
  }
});

Deno.test(
  "4. corrupt checkpoint restarts; stray temporaries of dead runs are removed",
  ORT_TEST,
  async () => {
    const data = await smallData("checkpoint", 1);
    const out = join(work, "checkpoint-out");
    await Deno.mkdir(out, { recursive: true });
    await Deno.writeTextFile(join(out, ".predict-checkpoint.json"), '{"key": [1, 2');
    const dead = await deadPid();
    const strayOld = join(out, `predictions.json.tmp-${dead}-abcd1234`);
    const strayNew = join(out, `.predictions.json.protoscope-tmp-${dead}-abcd1234`);
    await Deno.writeTextFile(strayOld, "half");
    await Deno.writeTextFile(strayNew, "half");
    const result = await predictDataset({ ...predictBase, data, out });
    assert.equal(result.summary.predicted, 2);
    await assert.rejects(Deno.stat(strayOld), Deno.errors.NotFound);
    await assert.rejects(Deno.stat(strayNew), Deno.errors.NotFound);
    // Temporaries are named so that they can be recognised.
    const tmp = join(out, "x", "y.json");
    await writeFileAtomic(tmp, "{}");
    const names = [...Deno.readDirSync(join(out, "x"))].map((e) => e.name);
    assert.deepEqual(names, ["y.json"]);
  },
);

Deno.test("5. a live lock on --out refuses with its PID; a dead one is taken over", ORT_TEST, async () => {
  const data = await smallData("lock", 1);
  const out = join(work, "lock-out");
  await Deno.mkdir(out, { recursive: true });
  const sleeper = new Deno.Command("sleep", { args: ["60"] }).spawn();
  try {
    await Deno.writeTextFile(
      join(out, ".protoscope.lock"),
      JSON.stringify({ pid: sleeper.pid, task: "concepts", host: Deno.hostname() }),
    );
    await assert.rejects(predictDataset({ ...predictBase, data, out }), new RegExp(`PID ${sleeper.pid}`));
  } finally {
    sleeper.kill();
    await sleeper.status;
  }
  await Deno.writeTextFile(
    join(out, ".protoscope.lock"),
    JSON.stringify({ pid: await deadPid(), task: "predict", host: Deno.hostname() }),
  );
  const result = await predictDataset({ ...predictBase, data, out });
  assert.equal(result.summary.predicted, 2);
  await assert.rejects(Deno.stat(join(out, ".protoscope.lock")), Deno.errors.NotFound, "lock released");
});

Deno.test("6. attribute marks failed images and does not count placeholders as maps", ORT_TEST, async () => {
  const data = await smallData("attribute", 1);
  await Deno.writeFile(join(data, C0, "001_broken.png"), new Uint8Array([1, 2, 3]));
  const out = join(work, "attribute-out");
  const r = await attributeDataset({
    model: fixture.modelPath,
    data,
    layer: "layer3",
    target: "0",
    out,
    method: "deeplift",
    samples: 1,
    sigma: 0,
    seed: 0,
    ep: "wasm",
    overlays: 0,
  });
  assert.equal(r.images, 2, "3 listed, 1 unreadable");
  const json = JSON.parse(await Deno.readTextFile(join(out, "attribution.json")));
  assert.match(json.images[1].error, /PNG|not a JPEG/);
  assert.equal(json.images[1].mapMax, null);
  assert.equal(json.skipped.length, 1);
});

Deno.test(
  "6. dot class folders are kept (as ImageFolder does); a class-count mismatch is noted",
  ORT_TEST,
  async () => {
    const root = join(work, "dot-classes");
    for (const dir of [".hidden", "visible"]) {
      await Deno.mkdir(join(root, dir), { recursive: true });
      await Deno.copyFile(join(fixture.imageFolder, C0, `${C0}_000.png`), join(root, dir, "a.png"));
    }
    const listing = await listImages(root);
    assert.deepEqual(listing.classNames, [".hidden", "visible"]);
    const result = await predictDataset({ ...predictBase, data: root, out: join(work, "dot-out") });
    const notes = (result as PredictionsFile & { notes?: string[] }).notes ?? [];
    assert.ok(notes.some((n) => /2 classes.*8/.test(n)), JSON.stringify(notes));
  },
);

/** A PNG whose header claims width x height, followed by a tiny (broken) IDAT. */
function hugePngHeader(width: number, height: number): Uint8Array {
  const small = encodePng({ width: 1, height: 1, data: new Uint8Array([0]), channels: 1, depth: 8 });
  const view = new DataView(small.buffer, small.byteOffset, small.byteLength);
  view.setUint32(16, width);
  view.setUint32(20, height);
  return small;
}

Deno.test("7. images above the pixel limit are refused from the header, with a clear error", async () => {
  await assert.rejects(decodeImage(hugePngHeader(10000, 10000), "huge.png"), /huge\.png.*10000x10000.*pixel/);
  // A JPEG whose SOF0 says 12000 x 9000.
  const jpeg = new Uint8Array([
    0xff,
    0xd8,
    0xff,
    0xc0,
    0x00,
    0x0b,
    0x08,
    0x23,
    0x28,
    0x2e,
    0xe0,
    0x01,
    0x01,
    0x11,
    0x00,
    0xff,
    0xd9,
  ]);
  await assert.rejects(decodeImage(jpeg, "huge.jpg"), /huge\.jpg.*12000x9000.*pixel/);
});

Deno.test("8. --k -1 is a value error, not an ambiguous option", () => {
  const a = parseCli("t", "", { k: { type: "string", help: "k" } }, ["--k", "-1"]);
  assert.throws(() => intArg("k", a.k), /--k expects an integer >= 1, got '-1'/);
});

Deno.test("8. a 16-bit gray PNG decodes as PIL does, with a warning recorded", ORT_TEST, async () => {
  const data = new Uint16Array(16 * 16).fill(40000);
  const png = encodePng({ width: 16, height: 16, data, channels: 1, depth: 16 });
  const image = await decodeImage(png, "gray16.png");
  assert.equal(image.pixels[0], 255, "PIL clips 16-bit values to 255");
  assert.match(image.warning ?? "", /16-bit/);
  const root = join(work, "gray16");
  await Deno.mkdir(root, { recursive: true });
  await Deno.writeFile(join(root, "a.png"), png);
  const result = await predictDataset({ ...predictBase, data: root, out: join(work, "gray16-out") });
  assert.match(result.images[0].warning ?? "", /16-bit/);
});

Deno.test("8. progress off a terminal: a few plain lines, no NaN/NF ETA", () => {
  const lines: string[] = [];
  const progress = createProgress("p", 1000, "img", {
    write: (s: string) => lines.push(s),
    isTerminal: false,
  });
  for (let i = 0; i < 1000; i++) progress.tick();
  progress.stop();
  assert.ok(lines.length >= 1 && lines.length <= 3, `${lines.length} lines`);
  assert.match(lines.at(-1)!, /1000\/1000/);
  for (const line of lines) assert.doesNotMatch(line, /NF|NaN|LL|Infinity/);
});

Deno.test("8. progress with no rate yet shows no ETA", () => {
  const lines: string[] = [];
  const progress = createProgress("p", 10, "img", { write: (s: string) => lines.push(s), isTerminal: false });
  progress.resumeFrom(5);
  progress.stop();
  assert.ok(lines.length >= 1);
  for (const line of lines) assert.doesNotMatch(line, /NF|NaN|LL|Infinity/);
});

Deno.test("1. prepare rebuilds a cache whose image files changed (same names and count)", async () => {
  const { prepareCache } = await import("../src/data/cache.ts");
  const data = await smallData("prepare", 1);
  const out = join(work, "prepare-out");
  const first = await prepareCache({ data, out, workers: 0 });
  assert.equal(first.images, 2);
  await Deno.copyFile(join(data, C1, "000.png"), join(data, C0, "000.png"));
  const second = await prepareCache({ data, out, workers: 0 });
  assert.ok(!second.upToDate, "a changed file makes the cache stale");
  const rows = await Deno.readFile(join(out, "images.npy"));
  const row = 224 * 224 * 3;
  const body = rows.subarray(rows.length - 2 * row);
  assert.deepEqual(body.subarray(0, row), body.subarray(row), "image 0 now holds image 1's pixels");
});
