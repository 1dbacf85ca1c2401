// Bench hook for `deno task bench`: times batched NMF on synthetic V built on the GPU, for a fixed number of
// iterations (tol = 0, so none stops early), and extrapolates to scikit-learn's max_iter = 200.
// Usage as a script: deno run -A src/bench/nmf.ts --n 2940 --c 2048 --k 6 --batch 1 --iterations 3
import { parseArgs } from "node:util";
import { acquireGpu } from "../runtime/gpu.ts";
import { fillSparseRandom, type RandomFill } from "../../kernels/random/mod.ts";
import { type NmfProblem, type NmfTrace, solveBatched } from "../../kernels/nmf/solver.ts";
import { NMF_DEFAULTS } from "../../kernels/nmf/settings.ts";

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
