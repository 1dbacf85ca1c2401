// Bench hook for `deno task bench`: streams batches of random GPU-resident activations through a prototype
// search and reports its throughput, its GPU memory and the time of its final readback.
import { createStorageBuffer } from "../runtime/gpu.ts";
import { seededRandom } from "../runtime/random.ts";
import { pooledSize, PrototypeSearch } from "../../kernels/search/mod.ts";

export interface SearchBenchOptions {
  P: number;
  C: number;
  h: number;
  w: number;
  batch: number;
  batches: number;
  topK?: number;
}

export interface SearchBenchResult {
  /** Images per second through pooling, scoring and the top-k merge (activations already on the GPU). */
  imagesPerSecond: number;
  /** Similarity throughput of the same run: 2 * P * C * pooled positions per image. */
  gflops: number;
  seconds: number;
  /** GPU memory the search held (independent of `batches`). */
  gpuBytes: number;
  /** Time of the final readback (finish). */
  finishMs: number;
}

/** Streams `batches` batches of random GPU-resident activations through a search of P random prototypes. */
export async function benchSearch(device: GPUDevice, opts: SearchBenchOptions): Promise<SearchBenchResult> {
  const { P, C, h, w, batch, batches } = opts;
  const random = seededRandom(12345);
  const bases = Float32Array.from({ length: P * C }, random);
  const classes = Int32Array.from({ length: P }, (_, p) => Math.floor(p / 6));
  const predicted = Int32Array.from({ length: batch }, (_, i) => i % Math.max(1, Math.ceil(P / 6)));
  const acts = createStorageBuffer(
    device,
    Float32Array.from({ length: batch * C * h * w }, random),
    0,
    "bench.acts",
  );
  const search = await PrototypeSearch.create(device, bases, classes, {
    channels: C,
    height: h,
    width: w,
    topK: opts.topK ?? 8,
    maxBatch: batch,
  });
  try {
    search.addBatch(acts, batch, 0, predicted); // warm-up: pipelines, first-use allocations
    await device.queue.onSubmittedWorkDone();
    const t0 = performance.now();
    for (let i = 1; i <= batches; i++) search.addBatch(acts, batch, i * batch, predicted);
    await device.queue.onSubmittedWorkDone();
    const seconds = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    await search.finish();
    const finishMs = performance.now() - t1;
    const images = batch * batches;
    const { height: ph, width: pw } = pooledSize(h, w);
    return {
      imagesPerSecond: images / seconds,
      gflops: (2 * P * C * ph * pw * images) / seconds / 1e9,
      seconds,
      gpuBytes: search.gpuBytes,
      finishMs,
    };
  } finally {
    search.destroy();
    acts.destroy();
  }
}
