// Bench hook for `deno task bench`: class-pair hyperplanes per second at the paper's scale (C = 1024, about
// 2000 rows per class, 100 epochs) on the GPU trainer, on the CPU as batched GEMMs (onnxruntime-node), on the
// CPU twin, and, where Debian's python3-torch is installed, the reference's per-pair torch loop and torch's
// batched GEMMs in the same run (tools/reference/torch_hyperplanes.py), with the ratios; and the time that
// projects to for all 1000 x 999 ImageNet pairs. Runs with fewer epochs are scaled linearly to 100 (every
// epoch does the same work; a tile's fixed cost, packing rows and drawing starts, is scaled with it, which
// understates the native rate); the JSON says when that happened.
import {
  CpuPairSolver,
  GpuPairSolver,
  type PairTrainingInput,
} from "../../kernels/hyperplane/pair_trainer.ts";
import { NativePairSolver } from "../../kernels/hyperplane/native_trainer.ts";
import { type HyperplaneTraining, REFERENCE_TRAINING } from "../../kernels/hyperplane/settings.ts";
import type { GpuContext } from "../runtime/gpu.ts";
import { loadNativeCpu } from "../runtime/native_cpu.ts";
import { seededRandom } from "../runtime/random.ts";
import { referenceJson } from "./reference_stack.ts";
import type { CompareContext, CompareRow } from "./compare.ts";
import { hyperplaneCosts, predict } from "./roofline.ts";

export interface HyperplaneBenchOptions {
  channels: number;
  rowsPerClass: number;
  /** Classes trained together on the GPU (ordered pairs: classes x (classes - 1)). */
  gpuClasses: number;
  gpuEpochs: number;
  /** The CPU twin trains one pair for this many epochs. */
  cpuEpochs: number;
  /** Classes trained as one block by the native CPU path, and its epochs. */
  nativeClasses: number;
  nativeEpochs: number;
  /** The torch references: classes (ordered pairs: classes x (classes - 1)) and epochs of each. */
  torchLoop: { classes: number; epochs: number };
  torchBatched: { classes: number; epochs: number };
  /** CPU threads of the native path and torch. */
  threads: number;
}

const ALL_PAIRS = 1000 * 999;

/**
 * The section's shape, C = 1024 and 2000 rows per class: a hardware GPU trains one 64-class block (4032
 * pairs), llvmpipe a few classes for a few epochs, scaled to 100 (the JSON says so); the CPU sides run
 * `threads` threads each.
 */
export function hyperplaneBenchOptions(
  quick: boolean,
  hardwareGpu: boolean,
  threads: number,
): HyperplaneBenchOptions {
  return {
    channels: 1024,
    rowsPerClass: 2000,
    gpuClasses: hardwareGpu ? (quick ? 16 : 64) : (quick ? 2 : 4),
    gpuEpochs: hardwareGpu ? (quick ? 10 : 100) : (quick ? 1 : 3),
    cpuEpochs: quick ? 1 : 3,
    // 32 classes: the block a full run forms at this shape (256 MiB of rows), for both batched trainers.
    nativeClasses: quick ? 8 : 32,
    nativeEpochs: quick ? 2 : 10,
    torchLoop: { classes: 2, epochs: quick ? 5 : 100 },
    torchBatched: { classes: quick ? 8 : 32, epochs: quick ? 2 : 5 },
    threads,
  };
}

/** `--compare`'s rows: the native CPU path against the reference's per-pair torch loop and torch's batched GEMMs. */
export async function compareHyperplanes(ctx: CompareContext): Promise<CompareRow[]> {
  const r = await benchHyperplanes(undefined, hyperplaneBenchOptions(ctx.quick, false, ctx.threads));
  const ours = r.cpuNative.pairsPerSecond !== undefined
    ? { what: String(r.cpuNative.device), value: r.cpuNative.pairsPerSecond }
    : { what: "CPU twin (the native library did not load)", value: Number(r.cpuTwin.pairsPerSecond) };
  const against = (what: string, ref: Record<string, unknown>): Pick<CompareRow, "reference" | "skipped"> =>
    typeof ref.pairsPerSecond === "number"
      ? { reference: { what, value: ref.pairsPerSecond } }
      : { skipped: String(ref.skipped ?? "reference stack skipped: torch_hyperplanes.py measured nothing") };
  const stage = "hyperplanes, C 1024, 2000 rows a class, 100 epochs";
  return [
    {
      stage,
      unit: "pairs/s",
      protoscope: ours,
      ...against("the reference's per-pair torch loop", r.torchLoop),
    },
    {
      stage: `${stage} (vs torch batched)`,
      unit: "pairs/s",
      protoscope: ours,
      ...against("torch batched GEMMs", r.torchBatched),
    },
  ];
}

function syntheticInput(classes: number, rows: number, channels: number): PairTrainingInput {
  const rnd = seededRandom(7);
  const map = new Map<number, Float32Array>();
  for (let c = 0; c < classes; c++) {
    const x = new Float32Array(rows * channels);
    for (let i = 0; i < x.length; i++) x[i] = rnd() + (i % channels === c ? 1 : 0);
    map.set(c, x);
  }
  return { channels, classes: [...map.keys()], rows: map };
}

function rate(pairs: number, seconds: number, epochs: number) {
  const scale = REFERENCE_TRAINING.epochs / epochs;
  const pairsPerSecond = pairs / (seconds * scale);
  return {
    pairs,
    epochs,
    measuredSeconds: seconds,
    pairsPerSecond,
    projectedSecondsAllPairs: ALL_PAIRS / pairsPerSecond,
    ...(scale !== 1 ? { extrapolated: `measured ${epochs} epochs, scaled linearly to 100` } : {}),
  };
}

export async function benchHyperplanes(gpu: GpuContext | undefined, opts: HyperplaneBenchOptions) {
  const training: HyperplaneTraining = REFERENCE_TRAINING;
  const shape = { channels: opts.channels, rowsPerClass: opts.rowsPerClass };
  let gpuResult: unknown = { skipped: "no WebGPU adapter" };
  if (gpu) {
    // Compile and warm the kernels on a tiny problem so the timing excludes compilation.
    const warm = GpuPairSolver.create(gpu, syntheticInput(2, 16, 8), {
      ...training,
      epochs: 1,
    });
    await warm.trainTiles(0, [0]);
    warm.destroy();
    const input = syntheticInput(opts.gpuClasses, opts.rowsPerClass, opts.channels);
    const solver = GpuPairSolver.create(gpu, input, {
      ...training,
      epochs: opts.gpuEpochs,
    });
    const started = performance.now();
    for (let a = 0; a < solver.blocks.length; a++) {
      await solver.trainTiles(a, solver.blocks.map((_, b) => b));
    }
    const seconds = (performance.now() - started) / 1000;
    solver.destroy();
    const n = opts.gpuClasses;
    gpuResult = {
      device: solver.description,
      classes: n,
      blocks: solver.blocks.length,
      ...rate(n * (n - 1), seconds, opts.gpuEpochs),
      note:
        "a tile also trains its diagonal (i, i) pairs: with few classes that is waste the full run does not " +
        "have in the same proportion (1 in 64 per block there)",
      // What the roofline (src/bench/roofline.ts) predicts for this very run on an H200: per epoch, the logits
      // and the gradient of each side (both sides have the same shape here: one block against itself).
      predictedH200: hyperplaneCosts(
        { channels: opts.channels, rowsPerClass: opts.rowsPerClass, classesA: n, classesB: n },
        2 * opts.gpuEpochs,
      ).map((c) => predict(c)),
    };
  }
  const input = syntheticInput(2, opts.rowsPerClass, opts.channels);
  const cpu = new CpuPairSolver(input, { ...training, epochs: opts.cpuEpochs });
  const started = performance.now();
  // Block [0, 1] against itself: pairs (0, 1) and (1, 0); the diagonal is skipped on the CPU.
  await cpu.trainTiles(0, [0]);
  const cpuSeconds = (performance.now() - started) / 1000;
  const cpuTwin = { classes: 2, ...rate(2, cpuSeconds, opts.cpuEpochs) };

  let cpuNative: Record<string, unknown> & { pairsPerSecond?: number } = {};
  const native = await loadNativeCpu();
  if (native.ort) {
    const nativeTraining = { ...training, epochs: opts.nativeEpochs };
    const options = { threads: opts.threads, maxClasses: opts.nativeClasses, maxBytes: Infinity };
    // Build the session (the unrolled graph) on a tiny problem first: a run pays it once, not per tile.
    await new NativePairSolver(native.ort, "", syntheticInput(2, 4, 8), nativeTraining, options)
      .trainTiles(0, [0]);
    const n = opts.nativeClasses;
    const solver = new NativePairSolver(
      native.ort,
      native.description,
      syntheticInput(n, opts.rowsPerClass, opts.channels),
      nativeTraining,
      options,
    );
    const t0 = performance.now();
    for (let a = 0; a < solver.blocks.length; a++) await solver.trainTiles(a, solver.blocks.map((_, b) => b));
    const seconds = (performance.now() - t0) / 1000;
    cpuNative = { device: solver.description, classes: n, ...rate(n * (n - 1), seconds, opts.nativeEpochs) };
  } else {
    cpuNative = { skipped: native.reason };
  }

  const torch = async (mode: "loop" | "batched", o: { classes: number; epochs: number }) => {
    const args = [mode, "--channels", String(opts.channels), "--rows", String(opts.rowsPerClass)];
    args.push(
      "--classes",
      String(o.classes),
      "--epochs",
      String(o.epochs),
      "--threads",
      String(opts.threads),
    );
    return await referenceJson("torch_hyperplanes.py", args);
  };
  const torchLoop = await torch("loop", opts.torchLoop);
  const torchBatched = "skipped" in torchLoop ? torchLoop : await torch("batched", opts.torchBatched);
  const ratio = (other: Record<string, unknown>) =>
    typeof other.pairsPerSecond === "number" && cpuNative.pairsPerSecond
      ? cpuNative.pairsPerSecond / other.pairsPerSecond
      : null;
  return {
    ...shape,
    threads: opts.threads,
    gpu: gpuResult,
    cpuNative,
    cpuTwin,
    torchLoop,
    torchBatched,
    nativeOver: {
      cpuTwin: ratio(cpuTwin),
      torchLoop: ratio(torchLoop),
      torchBatched: ratio(torchBatched),
      target: "cpuNative >= 2x torchLoop",
    },
    allPairs: ALL_PAIRS,
  };
}
