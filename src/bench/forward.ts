// Forward-pass throughput of a classifier, for `deno task bench`.
import { Classifier } from "../model/classifier.ts";
import { IMAGE_SIZE } from "../data/input_spec.ts";
import type { Ep } from "../runtime/ort.ts";

export interface ForwardBench {
  model: string;
  ep: string;
  batch: number;
  imagesPerSecond: number;
  secondsPerBatch: number;
  batches: number;
}

/** Times `batches` forward passes after one warm-up pass (shader compilation, allocations). */
export async function benchForward(
  modelPath: string,
  ep: Ep,
  opts: { batch: number; batches: number; label: string },
): Promise<ForwardBench> {
  const classifier = await Classifier.open(modelPath, { ep, strict: ep === "webgpu" });
  try {
    const pixels = new Uint8Array(opts.batch * IMAGE_SIZE * IMAGE_SIZE * 3);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) >>> 24;
    await classifier.forward(pixels, opts.batch);
    const t0 = performance.now();
    for (let b = 0; b < opts.batches; b++) await classifier.forward(pixels, opts.batch);
    const seconds = (performance.now() - t0) / 1000;
    return {
      model: opts.label,
      ep: classifier.device,
      batch: opts.batch,
      batches: opts.batches,
      imagesPerSecond: (opts.batch * opts.batches) / seconds,
      secondsPerBatch: seconds / opts.batches,
    };
  } finally {
    await classifier.release();
  }
}
