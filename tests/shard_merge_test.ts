// `--shard k/n` + `deno task merge`: for each sharded task, 3 shards merged equal one run byte for byte, on
// the fixture (wasm EP, a few images and classes); the shard parser and partition; merge's refusals.
// JSON is compared after removing the keys that differ between any two runs of the same work: `created` (the
// manifest's timestamp, and the hash of an input's manifest, which holds one) and timings: `imagesPerSecond` (predict's and the search's throughput) and
// component-test's `searchSeconds`, `compositeSeconds`, `compositesPerSecond`. The one run
// is written to the folder the merge later writes to (it is moved aside first), so paths need no rewriting.
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { ensureFixture } from "../fixtures/ensure.ts";
import { parseShard, partition, shardRange } from "../src/cli/shard.ts";
import { UsageError } from "../src/cli/cli.ts";
import { predictDataset, shardImages } from "../src/pipeline/predict/predict.ts";
import { computeConcepts } from "../src/pipeline/concepts/concepts.ts";
import { computeContrastVectors } from "../src/pipeline/contrast/vectors/contrast_vectors.ts";
import { trainHyperplanes } from "../src/pipeline/contrast/hyperplanes/hyperplanes.ts";
import { REFERENCE_TRAINING } from "../kernels/hyperplane/settings.ts";
import { runComponentTest } from "../src/pipeline/component_test/component_test_run.ts";
import { runContrastTest } from "../src/pipeline/contrast/sanity_checks/contrast_test_run.ts";
import { shiftingTest } from "../src/pipeline/contrast/sanity_checks/shifting.ts";
import { readHyperplanes } from "../src/pipeline/contrast/hyperplanes/hyperplanes_io.ts";
import { merge } from "../tasks/merge.ts";
import { copyPartFile } from "../src/io/shard_parts.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };
const fixture = await ensureFixture();
const work = await Deno.makeTempDir();
const SHARDS = [1, 2, 3].map((index) => ({ index, count: 3 }));
/** Keys whose values differ between two runs of the same work (see the file comment). */
const PER_RUN_KEYS = new Set([
  "created",
  // An input folder's manifest hash: predictions computed into <out>/predictions hold their own `created`.
  "manifestSha256",
  "imagesPerSecond",
  // component-test's timing block.
  "searchSeconds",
  "compositeSeconds",
  "compositesPerSecond",
]);

Deno.test("parseShard: k/n, 1-based, clear errors", () => {
  assert.deepEqual(parseShard("2/8"), { index: 2, count: 8 });
  assert.deepEqual(parseShard(" 1 / 1 "), { index: 1, count: 1 });
  assert.equal(parseShard(undefined), undefined);
  for (
    const [bad, message] of [
      ["0/3", /k must be in 1\.\.3 \(shards are numbered from 1\)/],
      ["4/3", /k must be in 1\.\.3/],
      ["1/0", /n must be at least 1/],
      ["2", /--shard expects k\/n/],
      ["a/b", /--shard expects k\/n/],
      ["-1/3", /--shard expects k\/n/],
    ] as const
  ) {
    assert.throws(() => parseShard(bad), (e) => e instanceof UsageError && message.test(e.message), bad);
  }
});

Deno.test("partition: contiguous blocks covering every item once, in order", () => {
  for (const length of [0, 1, 2, 7, 10, 1000]) {
    for (const count of [1, 3, 8]) {
      const items = Array.from({ length }, (_, i) => i);
      const parts = Array.from({ length: count }, (_, i) => partition(items, { index: i + 1, count }));
      assert.deepEqual(parts.flat(), items);
      const sizes = parts.map((p) => p.length);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${length}/${count}: ${sizes}`);
    }
  }
  assert.deepEqual(partition([1, 2, 3], undefined), [1, 2, 3]);
  assert.deepEqual(shardRange(10, { index: 2, count: 3 }), { start: 3, end: 6 });
  // predict: whole batches of 4 over 10 images (batches 0-3, 4-7, 8-9) -> [0, 4), [4, 8), [8, 10).
  assert.deepEqual(SHARDS.map((s) => shardImages(10, 4, s)), [
    { start: 0, end: 4 },
    { start: 4, end: 8 },
    { start: 8, end: 10 },
  ]);
});

/** Every file under `dir`, relative, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  const visit = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      if (e.isDirectory) await visit(join(d, e.name));
      else found.push(relative(dir, join(d, e.name)));
    }
  };
  await visit(dir);
  return found.sort();
}

function withoutPerRunKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutPerRunKeys);
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.entries(v).filter(([k]) => !PER_RUN_KEYS.has(k)).map(([k, x]) => [k, withoutPerRunKeys(x)]),
    );
  }
  return v;
}

/** The two folders hold the same files; .npy byte for byte, .json after removing PER_RUN_KEYS. */
async function assertSameOutput(one: string, merged: string): Promise<void> {
  const files = await filesUnder(one);
  assert.deepEqual(await filesUnder(merged), files);
  for (const f of files) {
    const [a, b] = [await Deno.readTextFile(join(one, f)), await Deno.readTextFile(join(merged, f))];
    if (!f.endsWith(".json")) {
      assert.ok(a === b, `${f} differs`);
      continue;
    }
    // Compared as text after re-serializing: key order and number formatting count, not only the values.
    const text = (s: string) => JSON.stringify(withoutPerRunKeys(JSON.parse(s)), null, 2);
    assert.equal(text(b), text(a), `${f} differs`);
  }
}

/**
 * Runs `run(out, shard)` once unsharded into `work/<name>` (then moved to `<name>-one`) and as 3 shards into
 * `<name>-s<k>`, merges the shards into `work/<name>` and compares with the one run.
 */
async function shardedEqualsOne(
  name: string,
  run: (out: string, shard?: { index: number; count: number }) => Promise<unknown>,
): Promise<string[]> {
  const out = join(work, name);
  await run(out);
  await Deno.rename(out, `${out}-one`);
  const parts = SHARDS.map((s) => `${out}-s${s.index}`);
  for (const [i, shard] of SHARDS.entries()) await run(parts[i], shard);
  // Given out of order: merge puts them in shard order.
  assert.equal(await merge([parts[2], parts[0], parts[1]], out), name);
  await assertSameOutput(`${out}-one`, out);
  return parts;
}

const LIMIT = 14;
const predictions = join(work, "predictions");
const predict = (out: string, shard?: { index: number; count: number }, batch = 2) =>
  predictDataset({
    model: fixture.modelPath,
    data: fixture.valFolder,
    labels: fixture.labelsCsv,
    out,
    ep: "wasm",
    limit: LIMIT,
    batch,
    shard,
  });

Deno.test("predict: 3 shards merged equal one run", ORT_TEST, async () => {
  const parts = await shardedEqualsOne("predict", predict);
  // 7 batches of 2 -> shards of 2, 2 and 3 batches.
  const sizes = [];
  for (const p of parts) {
    sizes.push(JSON.parse(await Deno.readTextFile(join(p, "predictions.json"))).images.length);
  }
  assert.deepEqual(sizes, [4, 4, 6]);
  // The command line: `--parts a b c` (several values after one flag), then a refusal with exit code 2.
  const merged = join(work, "predict-cli");
  const cli = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "tasks/merge.ts", ...args],
      cwd: new URL("..", import.meta.url).pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
  const ok = await cli(["--parts", ...parts, "--out", merged]);
  assert.equal(ok.code, 0, new TextDecoder().decode(ok.stderr));
  assert.match(new TextDecoder().decode(ok.stdout), /merged 3 predict shards into .*predict-cli/);
  await assertSameOutput(join(work, "predict-one"), merged);
  const refused = await cli(["--parts", parts[0], parts[2], "--out", join(work, "refused-cli")]);
  assert.equal(refused.code, 2);
  assert.match(new TextDecoder().decode(refused.stderr), /--parts: shard 2 of 3 missing/);
  await predict(predictions);
});

const attribution = {
  model: fixture.modelPath,
  data: fixture.valFolder,
  labels: fixture.labelsCsv,
  layer: "layer3",
  method: "deeplift" as const,
  samples: 2,
  sigma: 0.25,
  seed: 0,
  maxImages: 2,
  batch: 2,
  limit: LIMIT,
  classes: "0-3",
  ep: "wasm" as const,
};

Deno.test("concepts: 3 shards merged equal one run", ORT_TEST, async () => {
  await shardedEqualsOne(
    "concepts",
    (out, shard) =>
      computeConcepts({ ...attribution, predictions, k: 2, maxIter: 50, nmfDevice: "cpu", out, shard }),
  );
  // Real work in every shard: the 14 images hold all four classes.
  const index = JSON.parse(await Deno.readTextFile(join(work, "concepts", "concepts.json")));
  assert.deepEqual(index.classes.map((c: { status: string }) => c.status), ["done", "done", "done", "done"]);
});

// The shards compute their own predictions here (no --predictions), so the merge copies them.
Deno.test("contrast-vectors: 3 shards merged equal one run", ORT_TEST, async () => {
  await shardedEqualsOne(
    "contrast-vectors",
    (out, shard) => computeContrastVectors({ ...attribution, out, shard }),
  );
  const index = JSON.parse(await Deno.readTextFile(join(work, "contrast-vectors", "vectors.json")));
  assert.deepEqual(index.classes.map((c: { class: number; status: string }) => [c.class, c.status]), [
    [0, "done"],
    [1, "done"],
    [2, "done"],
    [3, "done"],
  ]);
});

// On the merged concepts (4 classes): one class in shards 1 and 2, two in shard 3; composites copied.
Deno.test("component-test: 3 shards merged equal one run", ORT_TEST, async () => {
  await shardedEqualsOne("component-test", (out, shard) =>
    runComponentTest({
      model: fixture.modelPath,
      data: fixture.valFolder,
      labels: fixture.labelsCsv,
      concepts: join(work, "concepts"),
      predictions,
      limit: LIMIT,
      batch: 2,
      ep: "wasm",
      out,
      shard,
    }));
  const composites = await filesUnder(join(work, "component-test", "composites"));
  assert.equal(composites.length, 8);
});

// On the merged contrast vectors (classes 0-3 with rows; 4 and 5 asked for without vectors get zero rows): one
// block per class, so the shards hold 1, 1 and 2 trained rows and 0, 1 and 1 of the zero rows.
Deno.test("copyPartFile: a hard link where it can, a copy across filesystems, and again without leftovers", async () => {
  const here = await Deno.makeTempDir({ prefix: "part-link-" });
  // /dev/shm is a tmpfs on Linux: another filesystem than the temp folder, where links fail.
  const elsewhere = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "part-link-" }).catch(() => undefined);
  try {
    await Deno.mkdir(join(here, "part"));
    await Deno.writeTextFile(join(here, "part", "3.npy"), "row three");
    assert.equal(await copyPartFile(join(here, "part"), join(here, "merged"), "3.npy"), true);
    const [a, b] = [
      await Deno.stat(join(here, "part", "3.npy")),
      await Deno.stat(join(here, "merged", "3.npy")),
    ];
    assert.equal(b.ino, a.ino);
    // Merging again into the same folder: the same file, and no temporary file left behind.
    assert.equal(await copyPartFile(join(here, "part"), join(here, "merged"), "3.npy"), true);
    assert.deepEqual([...Deno.readDirSync(join(here, "merged"))].map((e) => e.name), ["3.npy"]);
    assert.equal(await copyPartFile(join(here, "part"), join(here, "merged"), "4.npy"), false);
    if (elsewhere) {
      assert.equal(await copyPartFile(join(here, "part"), elsewhere, "3.npy"), true);
      const c = await Deno.stat(join(elsewhere, "3.npy"));
      assert.notEqual(c.dev, a.dev);
      assert.equal(await Deno.readTextFile(join(elsewhere, "3.npy")), "row three");
      assert.deepEqual([...Deno.readDirSync(elsewhere)].map((e) => e.name), ["3.npy"]);
    }
  } finally {
    await Deno.remove(here, { recursive: true });
    if (elsewhere) await Deno.remove(elsewhere, { recursive: true });
  }
});

Deno.test("hyperplanes: 3 shards merged equal one run; --init zeros refuses --shard", async () => {
  const job = {
    vectors: join(work, "contrast-vectors"),
    classes: [0, 1, 2, 3, 4, 5],
    training: { ...REFERENCE_TRAINING, epochs: 20 },
    solver: "cpu" as const,
    limits: { maxClasses: 1 },
    log: () => {},
  };
  await shardedEqualsOne("hyperplanes", (out, shard) => trainHyperplanes({ ...job, out, shard }));
  const rows = [];
  for (const k of [1, 2, 3]) {
    rows.push((await filesUnder(join(work, `hyperplanes-s${k}`))).filter((f) => /^\d+\.npy$/.test(f)).length);
  }
  assert.deepEqual(rows, [1, 2, 3]);
  // The merged rows are the parts' files, hard-linked: no second copy on disk.
  for (const k of [1, 2, 3]) {
    const part = join(work, `hyperplanes-s${k}`);
    for (const f of (await filesUnder(part)).filter((f) => f.endsWith(".npy"))) {
      const [a, b] = [await Deno.stat(join(part, f)), await Deno.stat(join(work, "hyperplanes", f))];
      assert.ok(a.ino !== null && a.ino === b.ino, `${f}: merged as a copy, not a link`);
    }
  }
  await assert.rejects(
    () =>
      trainHyperplanes({
        ...job,
        out: join(work, "zeros"),
        training: { ...job.training, init: "zeros" },
        shard: SHARDS[0],
      }),
    /--shard needs --init torch/,
  );
});

// On the merged hyperplanes: 2 runs of sampled pairs over the 8 classes (those towards classes without
// vectors are left out: noHyperplane); each run's pairs split in 3, figures redrawn by the merge.
Deno.test("shifting-test: 3 shards merged equal one run", ORT_TEST, async () => {
  const dir = join(work, "hyperplanes");
  const parts = await shardedEqualsOne(
    "shifting-test",
    async (out, shard) =>
      runContrastTest(shiftingTest([0, -1, -10]), {
        model: fixture.modelPath,
        data: fixture.valFolder,
        labels: fixture.labelsCsv,
        layer: "layer3",
        hyperplanes: { source: dir, set: await readHyperplanes(dir, { classes: [] }) },
        predictions,
        limit: LIMIT,
        runs: 2,
        draws: 16,
        others: 3,
        maxImages: 2,
        batch: 8,
        ep: "wasm",
        out,
        shard,
      }),
  );
  const report = JSON.parse(await Deno.readTextFile(join(work, "shifting-test", "shifting_test.json")));
  for (const run of report.runs) {
    assert.ok(run.pairs.length >= 3, `run ${run.run}: ${run.pairs.length} pairs`);
    assert.ok(run.noHyperplane.length >= 1, `run ${run.run}: no pair without a hyperplane`);
  }
  const sizes = [];
  for (const p of parts) {
    const r = JSON.parse(await Deno.readTextFile(join(p, "shifting_test.json")));
    sizes.push(r.runs[0].pairs.length + r.runs[0].noHyperplane.length);
  }
  const all = report.runs[0].pairs.length + report.runs[0].noHyperplane.length;
  assert.deepEqual(sizes, SHARDS.map((s) => shardRange(all, s)).map((r) => r.end - r.start));
});

Deno.test(
  "merge refuses a missing shard, a shard given twice, other settings and mixed tasks",
  ORT_TEST,
  async () => {
    const p = (name: string, k: number) => join(work, `${name}-s${k}`);
    const refuses = async (parts: string[], message: RegExp) =>
      await assert.rejects(() => merge(parts, join(work, "refused")), (e: Error) => {
        assert.ok(e instanceof UsageError, e.message);
        assert.match(e.message, message);
        return true;
      });
    await refuses([p("predict", 1), p("predict", 3)], /shard 2 of 3 missing/);
    await refuses(
      [p("predict", 1), p("predict", 2), p("predict", 2)],
      /predict-s2: shard 2\/3 is given twice/,
    );
    await refuses([p("predict", 1), p("concepts", 2)], /concepts-s2: written by 'concepts', but .*'predict'/);
    await refuses([join(work, "predict-one")], /predict-one: not a shard's output/);
    await refuses([join(work, "nowhere")], /--parts .*nowhere: no such folder/);
    // A shard of another run: other batch size.
    const other = join(work, "predict-other-s2");
    await predict(other, { index: 2, count: 3 }, 7);
    await refuses(
      [p("predict", 1), other, p("predict", 3)],
      /predict-other-s2: not the same run as .*setting batch \(2 vs 7\)/,
    );
    // A shard of another split.
    const four = join(work, "predict-four-s1");
    await predict(four, { index: 1, count: 4 });
    await refuses([p("predict", 1), four], /predict-four-s1: shard 1\/4, but .* is one of 3 shards/);
    // The shard is part of the run identity: another split's folder is not resumed.
    await assert.rejects(
      () =>
        computeConcepts({
          ...attribution,
          predictions,
          k: 2,
          maxIter: 50,
          nmfDevice: "cpu",
          out: p("concepts", 1),
          shard: SHARDS[1],
        }),
      /setting shard changed \(1\/3 then, 2\/3 now\)/,
    );
  },
);
