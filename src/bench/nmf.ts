// Bench hook for `deno task bench`: times batched NMF on synthetic V built on the GPU, for a fixed number of
// iterations (tol = 0, so none stops early), and extrapolates to scikit-learn's max_iter = 200.
// Usage as a script: deno run -A src/bench/nmf.ts --n 2940 --c 2048 --k 6 --batch 1 --iterations 3
import { parseArgs } from "node:util";
import { acquireGpu } from "../runtime/gpu.ts";
import { fillSparseRandom, type RandomFill } from "../../kernels/random/mod.ts";
import { type NmfProblem, type NmfTrace, solveBatched } from "../../kernels/nmf/solver.ts";
import { NMF_DEFAULTS } from "../../kernels/nmf/settings.ts";
import { gaussianBlock } from "../../kernels/nmf/random.ts";
import { weightedRowsOnGpu } from "../../kernels/nmf/weighted_rows.ts";
import { weightedRows } from "../pipeline/concepts/factorize.ts";
import { createStorageBuffer } from "../runtime/gpu.ts";

export interface NmfBenchOptions {
  n: number;
  c: number;
  k?: number;
  /** Factorizations run together. */
  batch: number;
  /** HALS iterations actually run (keep small on software adapters). */
  iterations: number;
  /** Power iterations of the NNDSVDa randomized SVD (default 10, the solver's default). */
  svdIterations?: number;
  seed?: number;
}

export interface NmfBenchResult {
  n: number;
  c: number;
  k: number;
  batch: number;
  iterations: number;
  svdIterations: number;
  dispatchGroups: number;
  /** Measured: upload-free init (moments, randomized SVD, NNDSVDa), in seconds, for the whole batch. */
  initSeconds: number;
  /** Measured: one HALS iteration of the whole batch, including the periodic done-flag readbacks. */
  secondsPerIteration: number;
  /** Measured: final residual and the readback of W and H. */
  finishSeconds: number;
  /** Counted: GPU round trips of the call (done-flag readbacks + the result readback). */
  readbacks: number;
  /** Measured wall time of the whole call (excluding generating V and compiling the kernels). */
  measuredSeconds: number;
  /** Extrapolated: init + 200 iterations + finish, for the whole batch (no early convergence assumed). */
  extrapolatedSeconds200: number;
  /** Extrapolated: batch / extrapolatedSeconds200. */
  problemsPerSecond: number;
  note: string;
}

const EXTRAPOLATE_TO = 200;

export async function benchNmf(device: GPUDevice, opts: NmfBenchOptions): Promise<NmfBenchResult> {
  const { n, c, batch, iterations } = opts;
  const k = opts.k ?? NMF_DEFAULTS.k;
  const svdIterations = opts.svdIterations ?? NMF_DEFAULTS.svdIterations;
  if (![n, c, batch, iterations].every((x) => Number.isInteger(x) && x > 0)) {
    throw new Error(`benchNmf: n, c, batch and iterations must be positive integers`);
  }
  const { problems, buffers } = await syntheticBatch(device, n, c, batch, opts.seed ?? 1);
  try {
    // Compile (and warm) the kernels on one tiny problem first so that the timing excludes compilation.
    await solveBatched(device, [problems[0]], { k, maxIter: 1, svdIterations: 0 });
    const trace = {} as NmfTrace;
    const started = performance.now();
    await solveBatched(device, problems, { k, maxIter: iterations, tol: 0, svdIterations, trace });
    const measuredSeconds = (performance.now() - started) / 1000;
    const secondsPerIteration = trace.iterationSeconds / iterations;
    const extrapolatedSeconds200 = trace.initSeconds + EXTRAPOLATE_TO * secondsPerIteration +
      trace.finishSeconds;
    return {
      n,
      c,
      k,
      batch,
      iterations,
      svdIterations,
      dispatchGroups: trace.dispatchGroups,
      initSeconds: trace.initSeconds,
      secondsPerIteration,
      finishSeconds: trace.finishSeconds,
      readbacks: trace.readbacks,
      measuredSeconds,
      extrapolatedSeconds200,
      problemsPerSecond: batch / extrapolatedSeconds200,
      note: `measured ${iterations} iteration(s) with tol=0; extrapolated to ${EXTRAPOLATE_TO} iterations ` +
        `(scikit-learn's max_iter) as init + ${EXTRAPOLATE_TO} x secondsPerIteration + finish`,
    };
  } finally {
    for (const b of buffers) b.destroy();
  }
}

export interface NmfRowsBenchResult {
  images: number;
  c: number;
  hw: number;
  /** Measured: weightedRows (transpose in JavaScript) + upload of V, per class, in seconds (median of 3). */
  hostSeconds: number;
  /** Measured: upload of the activations + weighted_rows.wgsl, per class, in seconds (median of 3). */
  gpuSeconds: number;
  /** hostSeconds / gpuSeconds. */
  speedup: number;
}

/**
 * The concepts stage's path from a class's activations (images x c x hw, as the network gives them) and
 * attribution maps to V on the GPU: before, transposed and weighted in JavaScript, then uploaded; now
 * uploaded as they are and built by weighted_rows.wgsl. NMF itself is the same either way.
 */
export async function benchWeightedRows(
  device: GPUDevice,
  opts: { images: number; c: number; hw: number },
): Promise<NmfRowsBenchResult> {
  const { images, c, hw } = opts;
  const source = {
    activations: gaussianBlock(1, images, c * hw).map(Math.abs),
    maps: gaussianBlock(2, images, hw).map(Math.abs),
    keep: Array.from({ length: images }, (_, i) => i),
    hw,
  };
  const host = async () => {
    const v = weightedRows(source.activations, source.maps, images, c, hw);
    const b = createStorageBuffer(device, v, 0, "nmf bench V (host rows)");
    await device.queue.onSubmittedWorkDone();
    b.destroy();
  };
  const onGpu = async () => (await weightedRowsOnGpu(device, [source], c)).buffer.destroy();
  await onGpu(); // compile
  const median = async (f: () => Promise<void>) => {
    const t: number[] = [];
    for (let r = 0; r < 3; r++) {
      const started = performance.now();
      await f();
      t.push((performance.now() - started) / 1000);
    }
    return t.sort((a, b) => a - b)[1];
  };
  const hostSeconds = await median(host);
  const gpuSeconds = await median(onGpu);
  return { images, c, hw, hostSeconds, gpuSeconds, speedup: hostSeconds / gpuSeconds };
}

/** batch random V (n x c) on the GPU, packed into as few buffers as the binding size allows. */
async function syntheticBatch(device: GPUDevice, n: number, c: number, batch: number, seed: number) {
  const bytes = n * c * 4;
  const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const perBuffer = Math.max(1, Math.floor(limit / bytes));
  const problems: NmfProblem[] = [];
  const fills: RandomFill[] = [];
  for (let first = 0; first < batch; first += perBuffer) {
    const count = Math.min(perBuffer, batch - first);
    const buffer = device.createBuffer({
      size: count * bytes,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
      label: "nmf bench V",
    });
    fills.push({ buffer, count: count * n * c, seed: seed + first });
    for (let m = 0; m < count; m++) problems.push({ v: buffer, n, c, offset: m * bytes });
  }
  await fillSparseRandom(device, fills);
  return { problems, buffers: fills.map((f) => f.buffer) };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      n: { type: "string", default: "2940" },
      c: { type: "string", default: "2048" },
      k: { type: "string", default: String(NMF_DEFAULTS.k) },
      batch: { type: "string", default: "1" },
      iterations: { type: "string", default: "3" },
      "svd-iterations": { type: "string", default: String(NMF_DEFAULTS.svdIterations) },
    },
  });
  const gpu = await acquireGpu();
  if (!gpu) {
    console.error("nmf bench: no WebGPU adapter");
    Deno.exit(1);
  }
  const result = await benchNmf(gpu.device, {
    n: Number(values.n),
    c: Number(values.c),
    k: Number(values.k),
    batch: Number(values.batch),
    iterations: Number(values.iterations),
    svdIterations: Number(values["svd-iterations"]),
  });
  console.log(JSON.stringify({ adapter: gpu.description, ...result }, null, 2));
}
