// The hyperplane reader's bounded row cache (issue 17): reading every row of K = 200 holds at most the budget
// (counted by the cache and seen in the process's RSS), every value read equals the value written, and a row
// pushed out of the cache is read again on demand, never served stale or silently.
import assert from "node:assert/strict";
import {
  HYPERPLANE_CACHE_ENV,
  hyperplaneCacheBytes,
  readHyperplanes,
  writeHyperplaneRow,
} from "../src/pipeline/contrast/hyperplanes/hyperplanes_io.ts";
import { UsageError } from "../src/cli/cli.ts";

/** The value written at (i, j, channel c): distinct per pair, so a wrong row or offset shows. */
const valueAt = (i: number, j: number, c: number) => Math.fround(i * 1000 + j + c / 1024);

async function writeRows(dir: string, k: number, channels: number): Promise<void> {
  // One buffer for every row, so that writing leaves no garbage for the reading's RSS to be measured against.
  const normals = new Float32Array(k * channels);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      for (let c = 0; c < channels; c += 97) normals[j * channels + c] = valueAt(i, j, c);
    }
    const bias = Float32Array.from({ length: k }, (_, j) => i - j);
    const accuracy = Float32Array.from({ length: k }, (_, j) => (i + j) / (2 * k));
    await writeHyperplaneRow(dir, i, normals, bias, accuracy);
  }
}

Deno.test("reading all rows of K = 200 holds at most the cache's budget, values unchanged", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hyper_cache_" });
  try {
    // 200 rows of 200 x 1024 floats: 164 MB on disk, 40 times the budget.
    const K = 200, C = 1024, budget = 4 * 2 ** 20, row = K * C * 4 + 2 * K * 4;
    await writeRows(dir, K, C);
    const rssBefore = Deno.memoryUsage().rss;
    const h = await readHyperplanes(dir, { classes: [], cacheBytes: budget });
    let peakHeld = 0, peakRss = 0;
    for (const i of h.rowClasses) {
      await h.loadRow(i);
      for (const j of [0, (i * 7) % K, K - 1]) {
        assert.equal(h.normal(i, j)[97], valueAt(i, j, 97), `normal (${i}, ${j})`);
        assert.equal(h.bias(i, j), i - j);
        assert.equal(h.accuracy(i, j), Math.fround((i + j) / (2 * K)));
      }
      peakHeld = Math.max(peakHeld, h.cacheStats().heldBytes);
      peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
    }
    const stats = h.cacheStats();
    assert.ok(peakHeld <= budget, `the cache held ${peakHeld} bytes, over its budget of ${budget}`);
    assert.equal(stats.heldRows, Math.floor(budget / row), "the cache fills its budget");
    // In row order every row is read once (the first row is read by the opening check, then kept).
    assert.equal(stats.rowsRead, K);
    // All rows would be 164 MB; what the process grew by stays near the budget (slack: V8's lazy freeing).
    const grown = (peakRss - rssBefore) / 2 ** 20;
    assert.ok(
      grown < 4 + 60,
      `RSS grew by ${grown.toFixed(1)} MiB reading 164 MB of rows through a 4 MiB cache`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a row pushed out of the cache is refused until loaded again, then read anew", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hyper_cache_" });
  try {
    const K = 6, C = 8;
    await writeRows(dir, K, C);
    // A budget of no bytes still keeps the two most recent rows (a pair's both directions).
    const h = await readHyperplanes(dir, { classes: [0, 1, 2], cacheBytes: 0 });
    assert.equal(h.cacheStats().heldRows, 2);
    assert.equal(h.normal(2, 5)[0], valueAt(2, 5, 0));
    assert.throws(() => h.normal(0, 1), /row 0 is not in the cache \(load it with loadRow\(0\)/);
    // Loading 1 again makes it the most recent: 3 then pushes out 2, not 1.
    await h.loadRow(1);
    await h.loadRow(3);
    assert.equal(h.normal(1, 4)[0], valueAt(1, 4, 0));
    assert.throws(() => h.normal(2, 1), /row 2 is not in the cache/);
    await h.loadRow(0);
    assert.equal(h.normal(0, 3)[0], valueAt(0, 3, 0));
    assert.equal(h.cacheStats().rowsRead, 5);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the cache's budget comes from PROTOSCOPE_HYPERPLANE_CACHE_MIB, and a bad value is a usage error", () => {
  const before = Deno.env.get(HYPERPLANE_CACHE_ENV);
  try {
    Deno.env.delete(HYPERPLANE_CACHE_ENV);
    assert.equal(hyperplaneCacheBytes(), 256 * 2 ** 20);
    Deno.env.set(HYPERPLANE_CACHE_ENV, "64");
    assert.equal(hyperplaneCacheBytes(), 64 * 2 ** 20);
    Deno.env.set(HYPERPLANE_CACHE_ENV, "lots");
    assert.throws(
      () => hyperplaneCacheBytes(),
      (e) => e instanceof UsageError && /expected a number of MiB/.test(e.message),
    );
  } finally {
    if (before === undefined) Deno.env.delete(HYPERPLANE_CACHE_ENV);
    else Deno.env.set(HYPERPLANE_CACHE_ENV, before);
  }
});
