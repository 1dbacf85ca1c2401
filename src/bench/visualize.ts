// Bench hook for `deno task bench`: the visualize stage's search pass (top-K over all images and top-K among
// other classes' images, per prototype) at ImageNet's class count, with the model replaced by fixed tap
// activations already on the GPU, so that only the search is measured. It counts, per batch, the queue
// submits and how many searches pool the batch (each pool dispatch is one pass over the batch's activations),
// and the matmul and merge workgroups relative to scoring every prototype once.
import type { Classifier } from "../model/classifier.ts";
import type { Dataset } from "../data/dataset.ts";
import { searchPrototypes } from "../pipeline/search/streaming_search.ts";
import { createStorageBuffer, type GpuContext } from "../runtime/gpu.ts";
import { seededRandom } from "../runtime/random.ts";
import { countGpuWork } from "./gpu_work_counter.ts";
import { predict, searchCosts } from "./roofline.ts";

export interface VisualizeBenchOptions {
  classes: number;
  /** Prototypes per class. */
  k: number;
  channels: number;
  height: number;
  width: number;
  batch: number;
  batches: number;
  /** Crops per row (top-K and excluded top-K). */
  columns: number;
}

/** A dataset of `size` blank images: the stub model ignores the pixels. */
function blankDataset(size: number): Dataset {
  const entries = Array.from({ length: size }, (_, i) => ({ path: `bench_${i}.jpg`, label: null }));
  return {
    source: "raw",
    layout: "flat",
    root: "(bench)",
    size,
    entries,
    settings: { crop: 1 },
    imageBytes: 3,
    notes: [],
    readBatch: (_start: number, count: number) =>
      Promise.resolve({ images: new Uint8Array(count * 3), ok: new Array(count).fill(true), failures: [] }),
    close() {},
  } as unknown as Dataset;
}

/** A one-tap "classifier" whose tap is the same GPU-resident activations for every batch. */
function fixedTapClassifier(activations: GPUBuffer, dims: number[]): Classifier {
  const layer = "bench.tap";
  return {
    taps: [{ layer, tensor: layer }],
    path: "(bench)",
    sha256: "",
    device: "bench",
    forward: (_images: Uint8Array, count: number) =>
      Promise.resolve({
        taps: new Map([[layer, { dims: [count, ...dims], buffer: activations, dispose() {} }]]),
      }),
  } as unknown as Classifier;
}

export async function benchVisualizeSearch(gpu: GpuContext, opts: VisualizeBenchOptions) {
  const { classes, k, channels: C, height: h, width: w, batch, batches, columns } = opts;
  const random = seededRandom(11);
  const P = classes * k;
  const bases = Float32Array.from({ length: P * C }, random);
  const prototypeClass = Int32Array.from({ length: P }, (_, p) => Math.floor(p / k));
  const images = batch * batches;
  const predicted = Int32Array.from({ length: images }, () => Math.floor(random() * classes));
  const activations = createStorageBuffer(
    gpu.device,
    Float32Array.from({ length: batch * C * h * w }, random),
    0,
    "bench.taps",
  );
  const pass = (n: number, set: typeof prototypes) =>
    searchPrototypes(
      blankDataset(n),
      fixedTapClassifier(activations, [C, h, w]),
      set,
      predicted,
      { topK: columns, excludedTopK: columns, batch, label: "bench visualize" },
    );
  const prototypes = { bases, prototypeClass, channels: C };
  try {
    // Warm-up on two classes: compiles the pipelines, which the timed pass then finds cached.
    await pass(batch, {
      bases: bases.subarray(0, 2 * k * C),
      prototypeClass: prototypeClass.subarray(0, 2 * k),
      channels: C,
    });
    const { result, work } = await countGpuWork(() => pass(images, prototypes));
    const workgroups = (label: string) =>
      Object.entries(work.pipelines).filter(([l]) => l.startsWith(label))
        .reduce((sum, [, v]) => sum + v.workgroups, 0);
    const dispatches = (label: string) =>
      Object.entries(work.pipelines).filter(([l]) => l.startsWith(label))
        .reduce((sum, [, v]) => sum + v.dispatches, 0);
    const cells = Math.floor(h / 2) * Math.floor(w / 2);
    // One search of every prototype against the batch: 64 x 64 matmul tiles, one merge workgroup per prototype.
    const oneMatmul = Math.ceil(batch * cells / 64) * Math.ceil(P / 64);
    return {
      classes,
      prototypes: P,
      tap: `${C} x ${h} x ${w}`,
      batch,
      batches,
      columns,
      seconds: result.seconds,
      imagesPerSecond: result.imagesPerSecond,
      submits: work.submits,
      // Queue submits per batch, the final readback included.
      perBatch: {
        submits: work.submits / batches,
        searchPasses: dispatches("search pool pool") / batches,
        matmulWorkgroupsOverOnePass: workgroups("search matmul") / batches / oneMatmul,
        mergeWorkgroupsOverOnePass: workgroups("search merge") / batches / P,
      },
      // The roofline's H200 prediction for the search kernels of this run (src/bench/roofline.ts).
      predictedH200: searchCosts({
        prototypes: P,
        channels: C,
        batch,
        positions: h * w,
        cells,
        topK: columns,
        excludedTopK: columns,
      }, batches).map((c) => predict(c)),
    };
  } finally {
    activations.destroy();
  }
}
