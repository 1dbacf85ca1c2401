// The data identity is the images' content (issue 18): a copied data folder is the same data (a killed predict
// resumes from it, its predictions are used for the copy), and a file whose bytes changed is other data even
// when its size and modification time are restored. The content hashes are cached by size and times.
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { ensureFixture } from "../fixtures/ensure.ts";
import { UsageError } from "../src/cli/cli.ts";
import { predictDataset } from "../src/pipeline/predict/predict.ts";
import { findOrComputePredictions } from "../src/pipeline/predict/find_predictions.ts";
import { openDataset } from "../src/data/dataset.ts";
import { sha256File } from "../src/onnx/model.ts";
import { contentHashes, hashCachePath } from "../src/io/content_hashes.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };
const fixture = await ensureFixture();
const work = await Deno.makeTempDir({ prefix: "data_identity_test_" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));
Deno.env.set("PROTOSCOPE_HASH_CACHE", join(work, "hash-cache"));

/** A copy of the fixture's first two classes, 4 images each (copied bytes, new paths and times). */
async function copyData(to: string): Promise<string> {
  const classes = [...Deno.readDirSync(fixture.imageFolder)].filter((e) => e.isDirectory).map((e) => e.name)
    .sort().slice(0, 2);
  for (const c of classes) {
    await Deno.mkdir(join(to, c), { recursive: true });
    const files = [...Deno.readDirSync(join(fixture.imageFolder, c))].map((e) => e.name).sort().slice(0, 4);
    for (const f of files) await Deno.copyFile(join(fixture.imageFolder, c, f), join(to, c, f));
  }
  return to;
}

const killAfterFirstBatch = () => {
  throw new Error("killed");
};

Deno.test(
  "a copied data folder is the same data: predict resumes, its predictions serve the copy",
  ORT_TEST,
  async () => {
    const a = await copyData(join(work, "a"));
    const b = await copyData(join(work, "b"));
    const out = join(work, "pred");
    const base = { model: fixture.modelPath, out, ep: "wasm" as const, batch: 4, checkpointEvery: 1 };
    await assert.rejects(predictDataset({ ...base, data: a, onBatch: killAfterFirstBatch }), /killed/);
    let resumedAt = -1;
    const done = await predictDataset({
      ...base,
      data: b,
      onBatch: (n) => resumedAt < 0 && (resumedAt = n),
    });
    // The first batch came from the checkpoint of a's run: the second batch is the first one computed.
    assert.equal(resumedAt, 8);
    assert.equal(done.images.length, 8);
    // Predictions of a's images are used for b's (--predictions), content for content.
    const dataset = await openDataset(b);
    try {
      const found = await findOrComputePredictions({
        model: fixture.modelPath,
        modelSha256: await sha256File(fixture.modelPath),
        data: b,
        dataset,
        given: out,
        computeInto: join(work, "unused"),
      });
      assert.deepEqual([...found.predicted], done.images.map((p) => p.predicted));
    } finally {
      dataset.close();
    }
  },
);

Deno.test("an edited file is other data, even with its size and time restored", ORT_TEST, async () => {
  const data = await copyData(join(work, "edited"));
  const out = join(work, "pred-edited");
  const base = { model: fixture.modelPath, data, out, ep: "wasm" as const, batch: 4, checkpointEvery: 1 };
  await assert.rejects(predictDataset({ ...base, onBatch: killAfterFirstBatch }), /killed/);
  // One byte of the first image changes; its size stays, its modification time is put back.
  const cls = [...Deno.readDirSync(data)].map((e) => e.name).sort()[0];
  const file = join(data, cls, [...Deno.readDirSync(join(data, cls))].map((e) => e.name).sort()[0]);
  const info = await Deno.stat(file);
  const bytes = await Deno.readFile(file);
  bytes[bytes.length - 1] ^= 0xff;
  await Deno.writeFile(file, bytes);
  await Deno.utime(file, info.atime!, info.mtime!);
  assert.equal((await Deno.stat(file)).mtime?.getTime(), info.mtime?.getTime());
  await assert.rejects(predictDataset(base), (e) => {
    assert.ok(e instanceof UsageError, String(e));
    assert.match((e as Error).message, /data changed \(same number of images, but other file contents/);
    return true;
  });
});

Deno.test("content hashes: computed once, then read from the cache until a file changes", async () => {
  const data = await copyData(join(work, "hashed"));
  // A hash taken in the second of the file's last change is not trusted (change times are whole seconds).
  await new Promise((r) => setTimeout(r, 1100));
  const paths = [...Deno.readDirSync(join(data, [...Deno.readDirSync(data)][0].name))].map((e) =>
    join(data, [...Deno.readDirSync(data)][0].name, e.name)
  ).sort();
  const first = await contentHashes(data, paths);
  for (const [i, p] of paths.entries()) {
    assert.equal(first[i], `sha256:${await sha256File(p)}`);
  }
  const cache = (await hashCachePath(data))!;
  const cached = JSON.parse(await Deno.readTextFile(cache));
  assert.equal(Object.keys(cached.files).length, paths.length);
  // A cached entry is trusted while the file's size and times are unchanged: a planted wrong hash shows it.
  const key = relative(data, paths[0]);
  cached.files[key][3] = "0".repeat(64);
  await Deno.writeTextFile(cache, JSON.stringify(cached));
  assert.equal((await contentHashes(data, paths))[0], `sha256:${"0".repeat(64)}`);
  // An edit in the second the hash was taken is not hidden: such a hash is taken again.
  const racy = join(data, "racy.png");
  await Deno.copyFile(paths[0], racy);
  const before = await contentHashes(data, [racy]);
  const edited = await Deno.readFile(racy);
  edited[edited.length - 1] ^= 0xff;
  const info = await Deno.stat(racy);
  await Deno.writeFile(racy, edited);
  await Deno.utime(racy, info.atime!, info.mtime!);
  assert.notDeepEqual(await contentHashes(data, [racy]), before);
  // Rewriting the file (same bytes) changes its change time: hashed again.
  await Deno.writeFile(paths[0], await Deno.readFile(paths[0]));
  assert.deepEqual(await contentHashes(data, paths), first);
});
