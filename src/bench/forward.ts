// Forward-pass throughput of a classifier, for `deno task bench`.
import { Classifier } from "../model/classifier.ts";
import { IMAGE_SIZE } from "../data/input_spec.ts";
import type { Ep } from "../runtime/ort.ts";
import { loadOrtNode } from "../runtime/ort_node.ts";
import type { CompareContext, CompareRow } from "./compare.ts";
import { torchReference } from "./reference_stack.ts";

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

/**
 * ResNet-50 forward at batch 8 against torch eager on the same cores: protoscope on its native CPU EP where it
 * loads (else wasm), and the wasm EP it ran on before, each beside torch.
 */
export async function compareForward(ctx: CompareContext): Promise<CompareRow[]> {
  const opts = { batch: 8, batches: ctx.quick ? 1 : 4, label: "resnet50-topology" };
  const wasm = await benchForward(ctx.resnet50, "wasm", opts);
  const native = (await loadOrtNode()).ort ? await benchForward(ctx.resnet50, "cpu", opts) : undefined;
  const torch = await torchReference(
    ["--only", "forward", "--batch", String(opts.batch), "--batches", String(opts.batches)],
    ctx.threads,
    (r) => r.forward?.imagesPerSecond,
  );
  const row = (stage: string, b: ForwardBench): CompareRow => ({
    stage,
    unit: "img/s",
    protoscope: { what: b.ep, value: b.imagesPerSecond },
    ...torch,
  });
  const stage = `ResNet-50 forward, batch ${opts.batch}`;
  return native ? [row(stage, native), row(`${stage}, wasm EP (before)`, wasm)] : [row(stage, wasm)];
}
