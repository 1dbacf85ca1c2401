// Head passes per second of the shifting test, for `deno task bench`: class i's activations (computed once)
// shifted along a few normals at every reference offset and classified by the head after the tap, in full
// batches, exactly as the shifting-test task runs them. Also how much of the time the CPU shift takes.
import { SplitModel } from "../model/split_model.ts";
import { REFERENCE_OFFSETS, shiftingTest } from "../pipeline/contrast/sanity_checks/shifting.ts";
import { hyperplanesInMemory } from "../pipeline/contrast/hyperplanes/hyperplane_set.ts";
import { meanSoftmaxPerStep } from "../pipeline/contrast/sanity_checks/step_runner.ts";
import { IMAGE_SIZE } from "../data/input_spec.ts";
import type { Ep } from "../runtime/ort.ts";
import { seededRandom } from "../runtime/random.ts";
import { loadOrtNode } from "../runtime/ort_node.ts";
import type { CompareContext, CompareRow } from "./compare.ts";
import { torchReference } from "./reference_stack.ts";

export interface ShiftingBench {
  model: string;
  layer: string;
  ep: string;
  images: number;
  pairs: number;
  offsets: number;
  batch: number;
  headRows: number;
  headPassesPerSecond: number;
  /** Share of the wall time spent building shifted rows on the CPU. */
  shiftShare: number;
  /** The reference's 5 runs x ~10,000 pairs x 10 offsets x 60 images at this rate, in hours. */
  projectedPaperHours: number;
}

/** The paper's shifting test (5 runs x ~10,000 pairs x 10 offsets x 60 images) at `perSecond` head passes. */
export function projectedPaperHours(perSecond: number): number {
  return (5 * 10_000 * REFERENCE_OFFSETS.length * 60) / perSecond / 3600;
}

export async function benchShifting(
  modelPath: string,
  layer: string,
  ep: Ep,
  opts: { images: number; pairs: number; batch: number; label: string },
): Promise<ShiftingBench> {
  const model = await SplitModel.open(modelPath, layer, ep);
  try {
    const [C] = model.tapShape;
    const K = model.numClasses;
    const rand = seededRandom(7);
    const pixels = Uint8Array.from({ length: opts.images * IMAGE_SIZE * IMAGE_SIZE * 3 }, () => rand() * 256);
    const acts = await model.activations(pixels, opts.images);
    const normals = Float32Array.from({ length: K * C }, () => (rand() - 0.5) * 0.1);
    const planes = hyperplanesInMemory(K, C, new Map([[0, normals]]));
    const tos = Array.from({ length: opts.pairs }, (_, k) => k + 1);
    const test = shiftingTest([...REFERENCE_OFFSETS]);
    const job = test.job(model, 0, tos, { acts, pixels, n: opts.images }, planes, opts.batch);
    // Warm-up: one batch (session allocations, kernel compilation on the GPU).
    await job.run(new Float32Array(opts.batch * job.rowSize), opts.batch);
    let shiftMs = 0;
    const fill = job.fill;
    const t0 = performance.now();
    await meanSoftmaxPerStep({
      ...job,
      fill: (pair, step, image, out) => {
        const s = performance.now();
        fill(pair, step, image, out);
        shiftMs += performance.now() - s;
      },
    });
    const ms = performance.now() - t0;
    const rows = opts.pairs * REFERENCE_OFFSETS.length * opts.images;
    const perSecond = rows / (ms / 1000);
    return {
      model: opts.label,
      layer,
      ep: model.device,
      images: opts.images,
      pairs: opts.pairs,
      offsets: REFERENCE_OFFSETS.length,
      batch: opts.batch,
      headRows: rows,
      headPassesPerSecond: perSecond,
      shiftShare: shiftMs / ms,
      projectedPaperHours: projectedPaperHours(perSecond),
    };
  } finally {
    await model.release();
  }
}

/**
 * The shifting test's head passes (layer3.5 -> logits, batch 8) against the reference's torch head on the same
 * cores, on the native CPU EP where it loads and on the wasm EP it ran on before; each row projects the
 * paper's run.
 */
export async function compareShifting(ctx: CompareContext): Promise<CompareRow[]> {
  const batch = 8;
  const opts = { images: 2, pairs: ctx.quick ? 1 : 2, batch, label: "resnet50-topology" };
  const wasm = await benchShifting(ctx.resnet50, "layer3.5", "wasm", opts);
  // The native EP is fast enough for more pairs, which steadies its number.
  const native = (await loadOrtNode()).ort
    ? await benchShifting(ctx.resnet50, "layer3.5", "cpu", { ...opts, pairs: ctx.quick ? 2 : 8 })
    : undefined;
  const torch = await torchReference(
    ["--only", "head", "--head-batch", String(batch), "--head-batches", ctx.quick ? "2" : "8"],
    ctx.threads,
    (r) => r.head?.rowsPerSecond,
  );
  const reference = torch.reference;
  const hours = (perSecond: number) =>
    `paper run ${perSecond > 0 ? projectedPaperHours(perSecond).toFixed(0) : "-"} h`;
  const row = (stage: string, b: ShiftingBench): CompareRow => ({
    stage,
    unit: "head passes/s",
    protoscope: { what: b.ep, value: b.headPassesPerSecond },
    ...torch,
    note: `${hours(b.headPassesPerSecond)}${reference ? `; reference ${hours(reference.value)}` : ""}`,
  });
  const stage = `shifting test head, layer3.5, batch ${batch}`;
  return native ? [row(stage, native), row(`${stage}, wasm EP (before)`, wasm)] : [row(stage, wasm)];
}
