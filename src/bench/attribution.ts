// Attribution throughput (noise tunnel included) for `deno task bench`.
import { readModel, sha256File } from "../onnx/model.ts";
import { type AttributionSettings, Attributor } from "../pipeline/attribute/attributor.ts";
import type { Ep } from "../runtime/ort.ts";
import { IMAGE_SIZE } from "../data/input_spec.ts";

export interface AttributionBench {
  model: string;
  layer: string;
  ep: string;
  method: string;
  samples: number;
  imagesPerSecond: number;
  rowsPerSecond: number;
  images: number;
}

/** Times `batches` batches of `batch` images after one warm-up batch (graph build, shader compilation). */
export async function benchAttribution(
  modelPath: string,
  layer: string,
  ep: Ep,
  opts: { batch: number; batches: number; label: string; settings: AttributionSettings },
): Promise<AttributionBench> {
  const model = await readModel(modelPath);
  const att = await Attributor.open(
    model,
    { path: modelPath, sha256: await sha256File(modelPath) },
    layer,
    opts.settings,
    {
      ep,
    },
  );
  try {
    const pixels = new Uint8Array(opts.batch * IMAGE_SIZE * IMAGE_SIZE * 3);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) >>> 24;
    const targets = Array.from({ length: opts.batch }, (_, i) => i);
    await att.attribute(pixels, opts.batch, targets, 0);
    const t0 = performance.now();
    for (let b = 0; b < opts.batches; b++) {
      await att.attribute(pixels, opts.batch, targets, (b + 1) * opts.batch);
    }
    const seconds = (performance.now() - t0) / 1000;
    const images = opts.batch * opts.batches;
    return {
      model: opts.label,
      layer,
      ep: att.trunk.device,
      method: opts.settings.method,
      samples: opts.settings.samples,
      images,
      imagesPerSecond: images / seconds,
      rowsPerSecond: (images * opts.settings.samples) / seconds,
    };
  } finally {
    await att.release();
  }
}
