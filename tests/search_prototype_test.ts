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
function assertNoNearTies(full: SearchResult, ds: Dataset, k: number) {
  for (let p = 0; p < full.topK.length; p++) {
    const list = full.topK[p];
    const other = list.filter((hit) => ds.predicted[hit.image] !== ds.classes[p]);
    for (const [name, hits] of [["top", list.slice(0, k + 1)], ["other", other.slice(0, 2)]] as const) {
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

function reference(ds: Dataset, k: number): SearchResult {
  const geometry = { channels: ds.C, height: ds.h, width: ds.w };
  const all = Math.floor(ds.h / 2) * Math.floor(ds.w / 2) * ds.images;
  const full = bruteForceSearch(ds.bank, ds.images, ds.bases, ds.classes, ds.predicted, {
    ...geometry,
    topK: all,
  });
  assertNoNearTies(full, ds, k);
  return { topK: full.topK.map((l) => l.slice(0, k)), bestOther: full.bestOther };
}

/** Feeds the dataset in the given [start, count] batches, as CPU arrays or as GPU buffers. */
async function streamed(
  ds: Dataset,
  batches: [number, number][],
  source: "cpu" | "gpu",
  opts: { topK: number; maxBatch: number; scoresChunkBytes?: number },
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
