// Bench hook for `deno task bench`: NNLS decompositions (positions solved) per second at the paper's scale
// (k = 6 prototypes, C = 1024 channels, 14 x 14 positions of layer3.5), one image and a batch, on the GPU
// (kernels/nnls, with compilation excluded) and on the CPU twin. Inputs are synthetic NMF-like activations:
// the solve's cost depends on k and the support sizes, not on where the numbers came from.
import { nnlsCpu, nnlsGpu, type NnlsProblem, prepareNnls } from "../../kernels/nnls/mod.ts";
import type { GpuContext } from "../runtime/gpu.ts";
import { seededRandom } from "../runtime/random.ts";

export interface DecomposeBenchOptions {
  k: number;
  channels: number;
  height: number;
  width: number;
  /** Image counts to time, e.g. [1, 16]. */
  batches: number[];
  /** Repetitions per timing (the best is reported). */
  repeats: number;
}

function syntheticProblem(n: number, o: DecomposeBenchOptions): NnlsProblem & { activations: Float32Array } {
  const rand = seededRandom(5);
  const hw = o.height * o.width;
  const basis = Float32Array.from({ length: o.k * o.channels }, () => rand() ** 3);
  // ReLU'd activations: a sparse non-negative mixture of the prototypes plus noise.
  const activations = Float32Array.from({ length: n * o.channels * hw }, () => Math.max(0, rand() - 0.6));
  return { activations, basis, n, channels: o.channels, hw, k: o.k };
}

async function best(repeats: number, run: () => Promise<unknown> | unknown): Promise<number> {
  let seconds = Infinity;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    await run();
    seconds = Math.min(seconds, (performance.now() - t0) / 1000);
  }
  return seconds;
}

export async function benchDecompose(gpu: GpuContext | undefined, o: DecomposeBenchOptions) {
  if (gpu) await prepareNnls(gpu.device, o.k);
  const out = [];
  for (const n of o.batches) {
    const problem = syntheticProblem(n, o);
    const positions = n * problem.hw;
    const cpuSeconds = await best(o.repeats, () => nnlsCpu(problem));
    const row: Record<string, unknown> = {
      shape: `k=${o.k} C=${o.channels} ${o.height}x${o.width}`,
      images: n,
      positions,
      cpu: { seconds: cpuSeconds, positionsPerSecond: positions / cpuSeconds },
    };
    if (gpu) {
      // Includes the upload of the activations and one read-back, as a task pays them.
      const gpuSeconds = await best(o.repeats, () => nnlsGpu(gpu.device, problem));
      row.gpu = { device: gpu.description, seconds: gpuSeconds, positionsPerSecond: positions / gpuSeconds };
      row.gpuOverCpu = cpuSeconds / gpuSeconds;
    } else {
      row.gpu = { skipped: "no WebGPU adapter" };
    }
    out.push(row);
  }
  return out;
}
