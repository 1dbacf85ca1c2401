// Worker pool: same bytes as in-process preprocessing, deterministic order, failures as records.
import assert from "node:assert/strict";
import { join } from "node:path";
import { benchPreprocess, preprocessInOrder, PreprocessPool } from "../src/data/pool.ts";
import { preprocessFile } from "../src/data/preprocess.ts";
import { makeTree } from "./testdata/images.ts";

const fixtures = (name: string) => new URL(`./testdata/pil/${name}`, import.meta.url).pathname;

async function tree() {
  return await makeTree({
    "a.jpg": 1,
    "b.png": 2,
    "c_corrupt.jpg": new Uint8Array(3000).map((_, i) => (i * 31 + 7) % 256),
    "d.jpg": 4,
    "e_truncated.jpg": (await Deno.readFile(fixtures("rgb420_500x375.jpg"))).subarray(0, 5000),
    "f.png": 6,
    "g.jpg": 7,
  });
}

const NAMES = ["a.jpg", "b.png", "c_corrupt.jpg", "d.jpg", "e_truncated.jpg", "f.png", "g.jpg"];

Deno.test("pool: 0 (in-process), 1 and 2 workers give identical, ordered results; failures are records", async () => {
  const root = await tree();
  const paths = [
    ...NAMES.map((n) => join(root, n)),
    fixtures("cmyk_60x45.jpg"),
    fixtures("rgb420_333x500.jpg"),
  ];
  try {
    const reference: (Uint8Array | string)[] = [];
    for (const p of paths) {
      try {
        reference.push(await preprocessFile(p));
      } catch (e) {
        reference.push((e as Error).message);
      }
    }
    assert.equal(reference.filter((r) => typeof r === "string").length, 2);
    for (const workers of [0, 1, 2]) {
      const pool = new PreprocessPool({ workers });
      try {
        const outcomes = await Promise.all(paths.map((p) => pool.preprocess(p)));
        outcomes.forEach((o, i) => {
          const want = reference[i];
          if (typeof want === "string") {
            assert.equal(o.ok, false, `${workers} workers, ${paths[i]}`);
            if (!o.ok) assert.ok(want.endsWith(o.reason), `${o.reason} vs ${want}`);
          } else {
            assert.ok(o.ok, `${workers} workers, ${paths[i]}: ${!o.ok && o.reason}`);
            if (o.ok) assert.deepEqual(o.pixels, want);
          }
        });
        // The pool survives failures and keeps working.
        const again = await pool.preprocess(paths[0]);
        assert.ok(again.ok && again.pixels.length === 224 * 224 * 3);
      } finally {
        pool.close();
      }
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("preprocessInOrder yields by index with a bounded window", async () => {
  const root = await tree();
  const paths = NAMES.map((n) => join(root, n));
  const pool = new PreprocessPool({ workers: 2 });
  try {
    const seen: number[] = [];
    const failed: string[] = [];
    for await (const { index, path, outcome } of preprocessInOrder(pool, paths, 3)) {
      seen.push(index);
      assert.equal(path, paths[index]);
      if (!outcome.ok) failed.push(path.slice(root.length + 1));
    }
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6]);
    assert.deepEqual(failed, ["c_corrupt.jpg", "e_truncated.jpg"]);
  } finally {
    pool.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("closed pool answers with failures instead of hanging", async () => {
  const pool = new PreprocessPool({ workers: 1 });
  pool.close();
  const outcome = await pool.preprocess(fixtures("rgb420_60x45.jpg"));
  assert.equal(outcome.ok, false);
  assert.throws(() => new PreprocessPool({ workers: -1 }), /workers must be an integer >= 0/);
});

Deno.test("benchPreprocess reports a positive rate and no failures on good files", async () => {
  const files = ["rgb420_500x375.jpg", "rgb420_333x500.jpg", "rgb420_60x45.jpg"].map(fixtures);
  const result = await benchPreprocess([...files, ...files], 2);
  assert.equal(result.images, 6);
  assert.equal(result.failures, 0);
  assert.ok(result.imagesPerSecond > 0 && Number.isFinite(result.imagesPerSecond));
});
