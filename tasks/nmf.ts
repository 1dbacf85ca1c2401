// deno task nmf --input V.npy --out DIR [--k 6] [--max-iter 200] [--tol 1e-4] [--seed 0] [--cpu]
// Factorizes a non-negative 2-D float32/float64 matrix V (n x c) as W (n x k) H (k x c) with scikit-learn's
// NMF defaults (NNDSVDa, coordinate descent), on WebGPU when an adapter exists, else on the CPU
// (onnxruntime-node's GEMMs for the products with V; the float64 reference where the native library cannot load).
// Writes DIR/W.npy, DIR/H.npy, DIR/nmf.json and DIR/manifest.json (complete: true once they are written).
import { join } from "node:path";
import { type Flags, parseCli, runTask, UsageError } from "../src/cli/cli.ts";
import { writeJsonAtomic } from "../src/io/atomic.ts";
import { buildManifest, completeManifest, takeOverOutDir } from "../src/io/manifest.ts";
import { readNpy, writeNpy } from "../src/io/npy.ts";
import { nmf } from "../kernels/nmf/nmf.ts";
import { cpuNmf } from "../kernels/nmf/native.ts";
import {
  checkShape,
  firstInvalid,
  NMF_DEFAULTS,
  type NmfResult,
  resolveSettings,
} from "../kernels/nmf/settings.ts";
import { acquireGpu } from "../src/runtime/gpu.ts";

const SUMMARY =
  "Non-negative matrix factorization V = W H of a .npy matrix: DIR/W.npy, DIR/H.npy, DIR/nmf.json.";

const NMF_FLAGS = {
  input: { type: "string", help: "V: a 2-D float32/float64 .npy of non-negative values", required: true },
  out: { type: "string", help: "output folder", required: true },
  k: { type: "string", default: String(NMF_DEFAULTS.k), help: "components (rows of H)" },
  "max-iter": { type: "string", default: String(NMF_DEFAULTS.maxIter), help: "iteration cap" },
  tol: { type: "string", default: NMF_DEFAULTS.tol.toExponential(), help: "stopping tolerance" },
  seed: { type: "string", default: String(NMF_DEFAULTS.seed), help: "seed of the randomized SVD start" },
  "svd-iterations": {
    type: "string",
    default: String(NMF_DEFAULTS.svdIterations),
    help: "power iterations of the randomized SVD behind NNDSVDa",
  },
  cpu: {
    type: "boolean",
    default: false,
    help:
      "run on the CPU even when WebGPU is available (onnxruntime-node's GEMMs; else the float64 reference)",
  },
} satisfies Flags;

export interface NmfTaskSummary {
  input: string;
  shape: [number, number];
  k: number;
  maxIter: number;
  tol: number;
  seed: number;
  svdIterations: number;
  iterations: number;
  converged: boolean;
  relError: number;
  seconds: number;
  backend: "webgpu" | "cpu";
  adapter: string | null;
  /** What ran on the CPU: onnxruntime-node's GEMMs, or the float64 reference and why. */
  cpu: string | null;
  outputs: { w: string; h: string };
}

/** Any finite number: range checks are resolveSettings', so the library and the task refuse alike. */
function number(values: Record<string, string | boolean | undefined>, name: keyof typeof NMF_FLAGS): number {
  const value = String(values[name]);
  const x = Number(value);
  if (value.trim() === "" || !Number.isFinite(x)) {
    throw new UsageError(`--${name}: expected a number, got '${value}'`);
  }
  return x;
}

/** Runs the task; throws Error with a message for the user on bad arguments or input. */
export async function nmfTask(
  argv: string[],
  log: (line: string) => void = console.log,
): Promise<NmfTaskSummary> {
  const values = parseCli("nmf", SUMMARY, NMF_FLAGS, argv);
  const input = values.input as string;
  const out = values.out as string;
  const settings = resolveSettings({
    k: number(values, "k"),
    maxIter: number(values, "max-iter"),
    tol: number(values, "tol"),
    seed: number(values, "seed"),
    svdIterations: number(values, "svd-iterations"),
  });

  const array = await readNpy(input);
  if (array.dtype !== "<f4" && array.dtype !== "<f8") {
    throw new Error(`${input}: expected float32 or float64 values, got dtype ${array.dtype}`);
  }
  if (array.shape.length !== 2) {
    throw new Error(`${input}: expected a 2-D matrix (n x c), got shape [${array.shape.join(", ")}]`);
  }
  const [n, c] = array.shape;
  checkShape(n, c, settings.k, input);
  // float64 values beyond float32's range would become Infinity, so check after the conversion too.
  const data = array.data as Float32Array | Float64Array;
  const v = data instanceof Float32Array ? data : Float32Array.from(data);
  for (const values of [data, v]) {
    const bad = firstInvalid(values);
    if (bad >= 0) {
      const at = `V[${Math.floor(bad / c)}, ${bad % c}]`;
      const what = Number.isNaN(data[bad])
        ? `${at} is NaN`
        : data[bad] < 0
        ? `${at} = ${data[bad]} is negative`
        : `${at} = ${data[bad]} is not finite in float32`;
      throw new Error(`${input}: NMF needs finite, non-negative values; ${what}`);
    }
  }

  // A rerun removes what the earlier nmf run in --out wrote; manifest.json says complete: false until the end.
  await takeOverOutDir(out, "nmf");
  const gpu = values.cpu ? undefined : await acquireGpu();
  const cpu = gpu ? undefined : await cpuNmf();
  if (cpu && !values.cpu) log(`No WebGPU adapter found: NMF on the CPU (${cpu.description}).`);
  const started = performance.now();
  const result: NmfResult = gpu
    ? await nmf(gpu.device, { v, n, c }, settings)
    : await cpu!.run(v, n, c, settings);
  const seconds = (performance.now() - started) / 1000;

  const outputs = { w: join(out, "W.npy"), h: join(out, "H.npy") };
  await writeNpy(outputs.w, result.w, [n, settings.k]);
  await writeNpy(outputs.h, result.h, [settings.k, c]);
  const summary: NmfTaskSummary = {
    input,
    shape: [n, c],
    ...settings,
    iterations: result.iterations,
    converged: result.iterations < settings.maxIter,
    relError: result.relError,
    seconds,
    backend: gpu ? "webgpu" : "cpu",
    adapter: gpu?.description ?? null,
    cpu: cpu?.description ?? null,
    outputs,
  };
  await writeJsonAtomic(join(out, "nmf.json"), summary);
  await completeManifest(
    out,
    await buildManifest({
      task: "nmf",
      device: gpu?.description ?? `cpu: ${cpu!.description}`,
      settings: { input, ...settings },
      inputs: { input: { path: input, kind: "npy", manifestSha256: null } },
    }),
    ["W.npy", "H.npy", "nmf.json"],
  );
  log(
    `NMF of ${input} (${n} x ${c}, k=${settings.k}) on ${
      gpu ? gpu.description : `CPU (${cpu!.description})`
    }: ${result.iterations} ` +
      `iterations, relative error ${result.relError.toPrecision(4)}, ${seconds.toFixed(2)} s -> ${out}`,
  );
  return summary;
}

export async function main(argv: string[]): Promise<void> {
  await nmfTask(argv);
}

if (import.meta.main) await runTask(() => main(Deno.args), "nmf");
