// Stacked crop composites through the model: assembled and normalized on the GPU with the webgpu EP.
import { type Classifier, softmaxRows } from "../../model/classifier.ts";
import { acquireGpu } from "../../runtime/gpu.ts";
import { compositeRgbCpu, type CropCell, CropCompositor } from "../../../kernels/composite/mod.ts";
import { normalizeOnCpu } from "../../../kernels/normalize/mod.ts";
import { PREPARED_IMAGE_SIZE } from "../../data/input_spec.ts";
import type { ImageLookup } from "../search/crop_images.ts";
import { type CompositeLayout, onCanvas } from "./composite_canvas.ts";

export interface CompositeScores {
  /** composites x numClasses softmax probabilities. */
  probs: Float32Array;
  numClasses: number;
  seconds: number;
}

/**
 * Runs crop composites (composites[i] = k cells, stacked top to bottom; each crop `span` x `span` cells around
 * its cell, crop_cells.ts cropBox) through the classifier in batches:
 * assembled and normalized on the GPU with the webgpu EP, on the CPU otherwise. On a canvas (`layout`, a
 * transformer's fixed input) always on the CPU: one composite a class is little work.
 */
export async function classifyComposites(
  classifier: Classifier,
  images: ImageLookup,
  composites: CropCell[][],
  pooledWidth: number,
  batch = 32,
  layout: CompositeLayout = { kind: "stack" },
  span = 1,
): Promise<CompositeScores> {
  const started = performance.now();
  // The GPU kernel crops single cells; a larger box (a token's --crop-patches) is only ever on a canvas.
  if (span !== 1 && layout.kind === "stack") {
    throw new Error(`classifyComposites: crops of ${span} x ${span} cells go on a canvas, not a stack`);
  }
  const gpu = classifier.ep === "webgpu" && layout.kind === "stack" ? await acquireGpu() : undefined;
  const compositor = gpu ? await CropCompositor.create(gpu.device) : undefined;
  const chunks: Float32Array[] = [];
  for (let at = 0; at < composites.length; at += batch) {
    const part = composites.slice(at, at + batch);
    let logits: Float32Array;
    if (compositor) {
      const t = compositor.normalized(images, part, pooledWidth, PREPARED_IMAGE_SIZE);
      try {
        logits = (await classifier.forwardNormalized({ buffer: t.buffer, dims: t.dims })).logits!;
      } finally {
        t.buffer.destroy();
      }
    } else {
      const stack = compositeRgbCpu(images, part, pooledWidth, PREPARED_IMAGE_SIZE, span);
      const rgb = layout.kind === "canvas" ? onCanvas(stack, layout.side) : stack;
      const [n, h, w] = rgb.dims;
      const data = normalizeOnCpu(rgb.pixels, n, h, w);
      logits = (await classifier.forwardNormalized({ data, dims: [n, 3, h, w] })).logits!;
    }
    chunks.push(softmaxRows(logits, classifier.numClasses));
  }
  const probs = new Float32Array(composites.length * classifier.numClasses);
  let offset = 0;
  for (const c of chunks) {
    probs.set(c, offset);
    offset += c.length;
  }
  return { probs, numClasses: classifier.numClasses, seconds: (performance.now() - started) / 1000 };
}
