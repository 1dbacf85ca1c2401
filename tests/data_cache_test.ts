// prepare -> cache folder -> openDataset: same pixels as raw decoding, failures recorded, resumable, atomic.
import assert from "node:assert/strict";
import { join } from "node:path";
import { CACHE_IMAGES, CACHE_INDEX, prepareCache, readCacheIndex } from "../src/data/cache.ts";
import { openDataset } from "../src/data/dataset.ts";
import { parseNpyHeader } from "../src/io/npy.ts";
import { makeTree } from "./testdata/images.ts";

const CSV = "ImageId,PredictionString\n" +
  Array.from(
    { length: 6 },
    (_, i) => `ILSVRC2012_val_0000000${i + 1},${["n01440764", "n02110185"][i % 2]} 1 2 3 4`,
  )
    .join("\n");

async function imagenetTree(): Promise<string> {
  const files: Record<string, Uint8Array | number | string> = { "LOC_val_solution.csv": CSV };
  for (let i = 1; i <= 6; i++) files[`val/ILSVRC2012_val_0000000${i}.JPEG`] = i;
  files["val/ILSVRC2012_val_00000004.JPEG"] = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]); // corrupt
  return await makeTree(files);
}

Deno.test("prepare writes images.npy + index.json; the cache reads back the raw folder's pixels", async () => {
  const root = await imagenetTree();
  const out = join(root, "cache");
  try {
    const summary = await prepareCache({ data: join(root, "val"), out, workers: 2 });
    assert.equal(summary.images, 5);
    assert.equal(summary.failures.length, 1);
    assert.equal(summary.failures[0].path, "ILSVRC2012_val_00000004.JPEG");
    assert.match(summary.failures[0].reason, /JPEG could not be decoded/);

    const index = await readCacheIndex(out);
    assert.equal(index.layout, "imagenet-val");
    assert.deepEqual(index.files.map((f) => f.label), [0, 250, 0, 0, 250]); // file 4 (label 250) failed
    assert.equal(index.classNames?.length, 1000);
    assert.equal(index.manifest.listed, 6);
    assert.equal(index.manifest.settings.crop, 224);
    const head = (await Deno.readFile(join(out, CACHE_IMAGES))).subarray(0, 256);
    const header = parseNpyHeader(head, CACHE_IMAGES);
    assert.deepEqual([header.dtype, header.shape, header.offset % 64], ["|u1", [5, 224, 224, 3], 0]);
    assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name).sort(), [
      CACHE_IMAGES,
      CACHE_INDEX,
      "manifest.json",
    ]);

    const raw = await openDataset(join(root, "val"), { workers: 1 });
    const cached = await openDataset(out);
    try {
      assert.equal(raw.source, "raw");
      assert.equal(cached.source, "cache");
      assert.equal(raw.size, 6);
      assert.equal(cached.size, 5);
      assert.deepEqual(cached.entries, raw.entries.filter((_, i) => i !== 3));
      const rawBatch = await raw.readBatch(0, 6);
      assert.deepEqual(rawBatch.ok, [true, true, true, false, true, true]);
      assert.equal(rawBatch.failures[0].index, 3);
      assert.ok(rawBatch.images.subarray(3 * raw.imageBytes, 4 * raw.imageBytes).every((v) => v === 0));
      const cachedBatch = await cached.readBatch(1, 4); // files 2, 3, 5, 6
      assert.deepEqual(cachedBatch.ok, [true, true, true, true]);
      const b = raw.imageBytes;
      for (const [j, i] of [[0, 1], [1, 2], [2, 4], [3, 5]]) {
        assert.deepEqual(
          cachedBatch.images.subarray(j * b, (j + 1) * b),
          rawBatch.images.subarray(i * b, (i + 1) * b),
        );
      }
      await assert.rejects(() => cached.readBatch(4, 2), /outside the dataset's 5 images/);
      const limited = await openDataset(out, { limit: 2 });
      assert.equal(limited.size, 2);
      limited.close();
      await assert.rejects(
        () => openDataset(out, { labels: "/elsewhere.csv" }),
        /labels are fixed when a cache/,
      );
    } finally {
      raw.close();
      cached.close();
    }

    // A second identical run does nothing.
    const again = await prepareCache({ data: join(root, "val"), out, workers: 1 });
    assert.equal(again.upToDate, true);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("an interrupted prepare leaves no images.npy and resumes to the same bytes", async () => {
  const root = await imagenetTree();
  const full = join(root, "full"), resumed = join(root, "resumed");
  try {
    await prepareCache({ data: join(root, "val"), out: full, workers: 1 });
    await assert.rejects(
      () =>
        prepareCache({
          data: join(root, "val"),
          out: resumed,
          workers: 1,
          journalIntervalMs: 0,
          progressIntervalMs: 0,
          onProgress: (p) => {
            if (p.done === 4) throw new Error("simulated interruption");
          },
        }),
      /simulated interruption/,
    );
    const left = [...Deno.readDirSync(resumed)].map((e) => e.name).sort();
    assert.deepEqual(left, ["images.npy.partial", "manifest.json", "prepare.partial.json"]);
    // The manifest says the cache is not finished; the finished one lists its files.
    assert.equal(JSON.parse(await Deno.readTextFile(join(resumed, "manifest.json"))).complete, false);
    const summary = await prepareCache({ data: join(root, "val"), out: resumed, workers: 2 });
    assert.equal(summary.resumedFrom, 4);
    assert.deepEqual(
      await Deno.readFile(join(resumed, CACHE_IMAGES)),
      await Deno.readFile(join(full, CACHE_IMAGES)),
    );
    const a = await readCacheIndex(full), b = await readCacheIndex(resumed);
    assert.deepEqual([b.files, b.failures], [a.files, a.failures]);
    assert.deepEqual([...Deno.readDirSync(resumed)].map((e) => e.name).sort(), [
      CACHE_IMAGES,
      CACHE_INDEX,
      "manifest.json",
    ]);
    const manifest = JSON.parse(await Deno.readTextFile(join(resumed, "manifest.json")));
    assert.deepEqual([manifest.kind, manifest.complete, manifest.outputs], [
      "prepare",
      true,
      [CACHE_INDEX, CACHE_IMAGES],
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("openDataset on an ImageFolder raw folder and a plain folder", async () => {
  const root = await makeTree({ "cls_b/1.png": 1, "cls_a/2.jpg": 2, "cls_a/3.png": 3 });
  const plain = await makeTree({ "x.png": 5, "y.jpg": 6 });
  try {
    const ds = await openDataset(root, { workers: 0 });
    try {
      assert.equal(ds.layout, "imagefolder");
      assert.deepEqual(ds.classNames, ["cls_a", "cls_b"]);
      assert.deepEqual(ds.entries.map((e) => e.label), [0, 0, 1]);
      const batch = await ds.readBatch(0, 3);
      assert.equal(batch.images.length, 3 * 224 * 224 * 3);
      assert.deepEqual(batch.ok, [true, true, true]);
    } finally {
      ds.close();
    }
    const p = await openDataset(plain, { limit: 1, workers: 0 });
    assert.equal(p.layout, "plain");
    assert.deepEqual(p.entries, [{ path: join(plain, "x.png"), label: null }]);
    p.close();
    await assert.rejects(() => openDataset(join(plain, "x.png")), /expected a folder/);
    await assert.rejects(() => openDataset(join(plain, "nope")), /dataset folder not found/);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(plain, { recursive: true });
  }
});
