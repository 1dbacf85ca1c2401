// The streaming GPU prototype search must give the same answer as an exhaustive CPU search over the
// materialized activation bank, however the data is batched and wherever the activations live.
import assert from "node:assert/strict";
import { createStorageBuffer } from "../src/runtime/gpu.ts";
import { seededRandom } from "../src/runtime/random.ts";
import { gpu, noGpu } from "./_helpers/gpu.ts";
import { bruteForceSearch, poolImage } from "../kernels/search/reference.ts";
import type { SearchHit, SearchResult } from "../kernels/search/hits.ts";
import { PrototypeSearch } from "../kernels/search/prototype_search.ts";
import { benchSearch } from "../src/bench/search.ts";
import { CpuPrototypeSearch } from "../src/pipeline/search/streaming_search.ts";
import { benchVisualizeSearch } from "../src/bench/visualize.ts";

const device = gpu?.device;

interface Dataset {
  images: number;
  C: number;
  h: number;
  w: number;
  bank: Float32Array;
  bases: Float32Array;
  classes: Int32Array;
  predicted: Int32Array;
}

/**
 * ReLU-like activations (a third exact zeros, one fully zero image so the zero-vector guard is exercised),
 * signed prototypes with one all-zero prototype (every score exactly 0: a pure tie-break test), and two
 * duplicated images (exact ties between images).
 */
function makeDataset(seed: number, images: number, C: number, h: number, w: number, P: number): Dataset {
  const random = seededRandom(seed);
  const bank = Float32Array.from({ length: images * C * h * w }, () => {
    const v = random();
    return v < 0.33 ? 0 : v;
  });
  const imageFloats = C * h * w;
  bank.fill(0, 3 * imageFloats, 4 * imageFloats);
  bank.copyWithin(17 * imageFloats, 9 * imageFloats, 10 * imageFloats);
  const bases = Float32Array.from({ length: P * C }, () => random() * 1.5 - 0.5);
  bases.fill(0, 5 * C, 6 * C);
  const classCount = Math.ceil(P / 6);
  const classes = Int32Array.from({ length: P }, (_, p) => Math.floor(p / 6));
  const predicted = Int32Array.from({ length: images }, () => Math.floor(random() * classCount));
  return { images, C, h, w, bank, bases, classes, predicted };
}

/**
 * The comparison is only meaningful if float32 rounding cannot reorder the reference's ranking: refuse data
 * whose top-(k+1) or best-other candidates are separated by less than 1e-5 without being exact ties.
 */
function assertNoNearTies(full: SearchResult, ds: Dataset, k: number, excludedK = 1) {
  for (let p = 0; p < full.topK.length; p++) {
    const list = full.topK[p];
    const other = list.filter((hit) => ds.predicted[hit.image] !== ds.classes[p]);
    for (
      const [name, hits] of [["top", list.slice(0, k + 1)], ["other", other.slice(0, excludedK + 1)]] as const
    ) {
      for (let r = 1; r < hits.length; r++) {
        const gap = hits[r - 1].score - hits[r].score;
        assert.ok(
          gap === 0 || gap > 1e-5,
          `seeded data has a near tie (${name}, prototype ${p}, rank ${r}): reseed`,
        );
      }
    }
  }
}

const position = (hit: SearchHit | null) => hit && `${hit.image}:${hit.y}:${hit.x}`;

function assertSameResult(gpuResult: SearchResult, cpu: SearchResult) {
  assert.equal(gpuResult.topK.length, cpu.topK.length);
  for (let p = 0; p < cpu.topK.length; p++) {
    assert.deepEqual(
      gpuResult.topK[p].map(position),
      cpu.topK[p].map(position),
      `top-k positions, prototype ${p}`,
    );
    gpuResult.topK[p].forEach((hit, r) => {
      assert.ok(
        Math.abs(hit.score - cpu.topK[p][r].score) < 1e-4,
        `score p${p} r${r}: ${hit.score} vs ${cpu.topK[p][r].score}`,
      );
    });
    assert.equal(position(gpuResult.bestOther[p]), position(cpu.bestOther[p]), `best other, prototype ${p}`);
    if (cpu.bestOther[p]) assert.ok(Math.abs(gpuResult.bestOther[p]!.score - cpu.bestOther[p]!.score) < 1e-4);
  }
}

function reference(ds: Dataset, k: number, excludedK = 1): Required<SearchResult> {
  const geometry = { channels: ds.C, height: ds.h, width: ds.w };
  const all = Math.floor(ds.h / 2) * Math.floor(ds.w / 2) * ds.images;
  const full = bruteForceSearch(ds.bank, ds.images, ds.bases, ds.classes, ds.predicted, {
    ...geometry,
    topK: all,
    excludedTopK: excludedK,
  });
  assertNoNearTies(full, ds, k, excludedK);
  return { ...full, topK: full.topK.map((l) => l.slice(0, k)) } as Required<SearchResult>;
}

/** Feeds the dataset in the given [start, count] batches, as CPU arrays or as GPU buffers. */
async function streamed(
  ds: Dataset,
  batches: [number, number][],
  source: "cpu" | "gpu",
  opts: { topK: number; excludedTopK?: number; maxBatch: number; scoresChunkBytes?: number },
): Promise<{ result: SearchResult; bytesBefore: number; bytesAfter: number }> {
  const search = await PrototypeSearch.create(device!, ds.bases, ds.classes, {
    channels: ds.C,
    height: ds.h,
    width: ds.w,
    ...opts,
  });
  const imageFloats = ds.C * ds.h * ds.w;
  const bytesBefore = search.gpuBytes;
  const temporaries: GPUBuffer[] = [];
  for (const [start, count] of batches) {
    const acts = ds.bank.subarray(start * imageFloats, (start + count) * imageFloats);
    const predicted = ds.predicted.subarray(start, start + count);
    if (source === "cpu") {
      search.addBatch(acts, count, start, predicted);
    } else {
      // ORT hands out buffers larger than the tensor: pad like it does.
      const padded = new Float32Array(acts.length + 1000);
      padded.set(acts);
      const buffer = createStorageBuffer(device!, padded);
      temporaries.push(buffer);
      search.addBatch(buffer, count, start, predicted);
    }
  }
  const result = await search.finish();
  const bytesAfter = search.gpuBytes;
  search.destroy();
  for (const b of temporaries) b.destroy();
  return { result, bytesBefore, bytesAfter };
}

Deno.test({
  name: "streaming search 14x14->7x7 from CPU arrays equals brute force",
  ignore: noGpu,
  fn: async () => {
    const ds = makeDataset(2, 40, 64, 14, 14, 24);
    const cpu = reference(ds, 8);
    const { result, bytesBefore, bytesAfter } = await streamed(ds, [[0, 16], [16, 16], [32, 8]], "cpu", {
      topK: 8,
      maxBatch: 16,
    });
    assertSameResult(result, cpu);
    assert.equal(bytesAfter, bytesBefore + 16 * 64 * 14 * 14 * 4, "only the CPU staging buffer is added");
    // The all-zero prototype scores 0 everywhere: ties resolved by image, then y, then x.
    assert.deepEqual(result.topK[5].map(position), [
      "0:0:0",
      "0:0:1",
      "0:0:2",
      "0:0:3",
      "0:0:4",
      "0:0:5",
      "0:0:6",
      "0:1:0",
    ]);
  },
});

Deno.test({
  name: "streaming search from GPU buffers (out of order, split above maxBatch) equals brute force",
  ignore: noGpu,
  fn: async () => {
    const ds = makeDataset(2, 40, 64, 14, 14, 24);
    const cpu = reference(ds, 8);
    // The batch of 20 is split into 12 + 8 at an aligned offset; later images arrive first.
    const { result, bytesBefore, bytesAfter } = await streamed(ds, [[20, 20], [0, 7], [7, 13]], "gpu", {
      topK: 8,
      maxBatch: 12,
    });
    assertSameResult(result, cpu);
    assert.equal(bytesAfter, bytesBefore, "GPU input adds no buffers");
  },
});

Deno.test({
  name: "streaming search 7x7->3x3 (odd size, floor pooling), k=5, chunked prototypes",
  ignore: noGpu,
  fn: async () => {
    const ds = makeDataset(4, 24, 48, 7, 7, 150);
    const cpu = reference(ds, 5);
    // 64 prototypes per scores chunk: 150 prototypes take 3 chunks.
    const { result } = await streamed(ds, [[0, 10], [10, 10], [20, 4]], "cpu", {
      topK: 5,
      maxBatch: 10,
      scoresChunkBytes: 64 * 10 * 9 * 4,
    });
    assertSameResult(result, cpu);
    assert.ok(result.topK.every((hits) => hits.every((h) => h.y < 3 && h.x < 3)));
  },
});

Deno.test({
  name: "exact ties between a duplicated image go to the lower index even when it arrives later",
  ignore: noGpu,
  fn: async () => {
    const ds = makeDataset(2, 40, 64, 14, 14, 24);
    // Prototype 0 := the pooled vector of image 9 at cell (2, 3); image 17 is an exact copy of image 9.
    const pooled = poolImage(ds.bank, 9, { channels: 64, height: 14, width: 14 });
    const cell = 2 * 7 + 3;
    for (let c = 0; c < 64; c++) ds.bases[c] = pooled[cell * 64 + c];
    // Image 17 arrives in the first batch, image 9 in the second.
    const { result } = await streamed(ds, [[10, 30], [0, 10]], "cpu", { topK: 8, maxBatch: 16 });
    assert.deepEqual(result.topK[0].slice(0, 2).map(position), ["9:2:3", "17:2:3"]);
    assert.equal(result.topK[0][0].score, result.topK[0][1].score);
    assert.ok(Math.abs(result.topK[0][0].score - 1) < 1e-5);
    assertSameResult(result, reference(ds, 8));
  },
});

/**
 * The way visualize kept "best E among other classes' images" before one pass did it: per class, a search of
 * that class's prototypes fed only the images not predicted as it, numbered in arrival order, mapped back.
 */
async function perClassSearches(ds: Dataset, batches: [number, number][], topK: number) {
  const imageFloats = ds.C * ds.h * ds.w;
  const excluded: SearchHit[][] = Array.from({ length: ds.classes.length }, () => []);
  for (const cls of new Set(ds.classes)) {
    const rows = [...ds.classes.keys()].filter((p) => ds.classes[p] === cls);
    const bases = new Float32Array(rows.length * ds.C);
    rows.forEach((p, i) => bases.set(ds.bases.subarray(p * ds.C, (p + 1) * ds.C), i * ds.C));
    const search = await PrototypeSearch.create(device!, bases, new Int32Array(rows.length).fill(cls), {
      channels: ds.C,
      height: ds.h,
      width: ds.w,
      topK,
      maxBatch: 16,
    });
    const realIndex: number[] = [];
    for (const [start, count] of batches) {
      const images = Array.from({ length: count }, (_, i) => start + i).filter((i) =>
        ds.predicted[i] !== cls
      );
      if (!images.length) continue;
      const acts = new Float32Array(images.length * imageFloats);
      images.forEach((image, at) =>
        acts.set(ds.bank.subarray(image * imageFloats, (image + 1) * imageFloats), at * imageFloats)
      );
      search.addBatch(acts, images.length, realIndex.length, Int32Array.from(images, (i) => ds.predicted[i]));
      realIndex.push(...images);
    }
    const r = await search.finish();
    search.destroy();
    rows.forEach((p, i) => excluded[p] = r.topK[i].map((hit) => ({ ...hit, image: realIndex[hit.image] })));
  }
  return excluded;
}

Deno.test({
  name:
    "one pass keeps the top-E among other classes: equal to the per-class searches (ties), CPU twins agree",
  ignore: noGpu,
  fn: async () => {
    const ds = makeDataset(2, 40, 64, 14, 14, 24);
    const batches: [number, number][] = [[0, 16], [16, 16], [32, 8]];
    const { result } = await streamed(ds, batches, "gpu", { topK: 8, excludedTopK: 8, maxBatch: 16 });
    const old = await perClassSearches(ds, batches, 8);
    for (let p = 0; p < ds.classes.length; p++) {
      // Same float32 cosines from the same kernels: equal bit for bit, ranks and ties included.
      assert.deepEqual(result.excludedTopK![p], old[p], `prototype ${p}`);
      assert.equal(result.excludedTopK![p].length, 8);
      assert.deepEqual(result.bestOther[p], result.excludedTopK![p][0]);
      for (const hit of result.excludedTopK![p]) assert.notEqual(ds.predicted[hit.image], ds.classes[p]);
    }
    // The all-zero prototype (class 0) scores 0 everywhere: ties go to the first images of other classes.
    const firstOther = [...ds.predicted.keys()].find((i) => ds.predicted[i] !== 0)!;
    assert.deepEqual(result.excludedTopK![5].slice(0, 2).map(position), [
      `${firstOther}:0:0`,
      `${firstOther}:0:1`,
    ]);
    // The CPU twins: the brute-force reference (float64) and the streaming CPU search.
    const cpu = reference(ds, 8, 8);
    const cpuSearch = new CpuPrototypeSearch(
      ds.bases,
      ds.classes,
      { channels: 64, height: 14, width: 14 },
      8,
      8,
    );
    const imageFloats = ds.C * ds.h * ds.w;
    for (const [start, count] of batches) {
      const acts = ds.bank.subarray(start * imageFloats, (start + count) * imageFloats);
      cpuSearch.addBatch(acts, count, start, ds.predicted.subarray(start, start + count));
    }
    const streamedCpu = await cpuSearch.finish();
    for (const twin of [cpu, streamedCpu]) {
      assertSameResult(result, twin);
      for (let p = 0; p < ds.classes.length; p++) {
        assert.deepEqual(result.excludedTopK![p].map(position), twin.excludedTopK![p].map(position));
        result.excludedTopK![p].forEach((hit, r) =>
          assert.ok(Math.abs(hit.score - twin.excludedTopK![p][r].score) < 1e-4, `p${p} r${r}`)
        );
      }
    }
  },
});

Deno.test({
  name: "benchSearch reports throughput and memory independent of the number of batches",
  ignore: noGpu,
  fn: async () => {
    const small = await benchSearch(device!, { P: 48, C: 64, h: 14, w: 14, batch: 8, batches: 2 });
    const more = await benchSearch(device!, { P: 48, C: 64, h: 14, w: 14, batch: 8, batches: 4 });
    assert.ok(small.imagesPerSecond > 0 && Number.isFinite(small.imagesPerSecond));
    assert.equal(small.gpuBytes, more.gpuBytes);
  },
});

Deno.test({
  name: "the visualize search pools each batch once and submits once per batch, whatever the class count",
  ignore: noGpu,
  fn: async () => {
    const r = await benchVisualizeSearch(gpu!, {
      classes: 40,
      k: 2,
      channels: 8,
      height: 4,
      width: 4,
      batch: 4,
      batches: 3,
      columns: 3,
    });
    // Before one pass kept the excluded top-K, each of the 40 classes had its own search: 41 passes.
    assert.equal(r.perBatch.searchPasses, 1);
    assert.equal(r.submits, 3 + 1, "one per batch, one for the final readback");
    assert.equal(r.perBatch.matmulWorkgroupsOverOnePass, 1);
    assert.equal(r.perBatch.mergeWorkgroupsOverOnePass, 1);
  },
});

Deno.test({
  name: "pool 1 (a transformer's patch tokens): every position alone, GPU and CPU twin equal brute force",
  ignore: noGpu,
  fn: async () => {
    const ds = makeDataset(6, 20, 24, 7, 7, 12);
    const geometry = { channels: ds.C, height: ds.h, width: ds.w, pool: 1 as const };
    const full = bruteForceSearch(ds.bank, ds.images, ds.bases, ds.classes, ds.predicted, {
      ...geometry,
      topK: 49 * ds.images,
    });
    assertNoNearTies(full, ds, 6);
    const cpu = { ...full, topK: full.topK.map((l) => l.slice(0, 6)) };
    // Unpooled: the best position of a prototype is where its cosine with the raw activation vector peaks.
    const p = 0, hit = cpu.topK[p][0];
    const unit = (v: ArrayLike<number>) => {
      const n = Math.hypot(...Array.from(v));
      return Array.from(v, (x) => x / n);
    };
    const at = Array.from(
      { length: ds.C },
      (_, c) => ds.bank[((hit.image * ds.C + c) * 7 + hit.y) * 7 + hit.x],
    );
    const cos = unit(at).reduce((s, v, c) => s + v * unit(ds.bases.subarray(0, ds.C))[c], 0);
    assert.ok(Math.abs(cos - hit.score) < 1e-6, `${cos} vs ${hit.score}`);
    assert.ok(
      cpu.topK.flat().some((h) => h.y === 6 || h.x === 6),
      "the odd last row and column are searched",
    );
    const search = await PrototypeSearch.create(device!, ds.bases, ds.classes, { ...geometry, topK: 6 });
    search.addBatch(ds.bank, ds.images, 0, ds.predicted);
    assertSameResult(await search.finish(), cpu);
    search.destroy();
    const twin = new CpuPrototypeSearch(ds.bases, ds.classes, geometry, 6);
    twin.addBatch(ds.bank, ds.images, 0, ds.predicted);
    assertSameResult(await twin.finish(), cpu);
  },
});
