// deno task nmf --input V.npy --k 6 --out DIR [--max-iter 200] [--tol 1e-4] [--seed 0] [--cpu]
// Factorizes a non-negative 2-D float32/float64 matrix V (n x c) as W (n x k) H (k x c) with scikit-learn's
// NMF defaults (NNDSVDa, coordinate descent), on WebGPU when an adapter exists, else on the CPU reference.
// Writes DIR/W.npy, DIR/H.npy and DIR/nmf.json.
import { join } from "node:path";
import { parseArgs } from "node:util";
import { writeJsonAtomic } from "../src/io/atomic.ts";
import { readNpy, writeNpy } from "../src/io/npy.ts";
import { nmf } from "../kernels/nmf/nmf.ts";
import { nmfReference } from "../kernels/nmf/reference.ts";
import { checkShape, firstInvalid, type NmfResult, resolveSettings } from "../kernels/nmf/settings.ts";
import { acquireGpu } from "../src/runtime/gpu.ts";

const USAGE =
  "usage: deno task nmf --input V.npy --k 6 --out DIR [--max-iter 200] [--tol 1e-4] [--seed 0] [--cpu]";

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
  outputs: { w: string; h: string };
}

function number(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const x = Number(value);
  if (value.trim() === "" || !Number.isFinite(x)) {
    throw new Error(`--${name}: expected a number, got '${value}'`);
  }
  return x;
}

/** Runs the task; throws Error with a message for the user on bad arguments or input. */
export async function nmfTask(
  argv: string[],
  log: (line: string) => void = console.log,
): Promise<NmfTaskSummary> {
  const { values } = parseArgs({
    args: argv,
    options: {
      input: { type: "string" },
      k: { type: "string" },
      out: { type: "string" },
      "max-iter": { type: "string" },
      tol: { type: "string" },
      seed: { type: "string" },
      "svd-iterations": { type: "string" },
      cpu: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (!values.input || !values.out) throw new Error(`--input and --out are required\n${USAGE}`);
  const input = values.input;
  const settings = resolveSettings({
    k: number(values.k, "k", 6),
    maxIter: number(values["max-iter"], "max-iter", 200),
    tol: number(values.tol, "tol", 1e-4),
    seed: number(values.seed, "seed", 0),
    svdIterations: number(values["svd-iterations"], "svd-iterations", 10),
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

  const gpu = values.cpu ? undefined : await acquireGpu();
  if (!gpu && !values.cpu) {
    log("No WebGPU adapter found: using the CPU reference implementation (slow for large V).");
  }
  const started = performance.now();
  const result: NmfResult = gpu
    ? await nmf(gpu.device, { v, n, c }, settings)
    : nmfReference(v, n, c, settings);
  const seconds = (performance.now() - started) / 1000;

  const outputs = { w: join(values.out, "W.npy"), h: join(values.out, "H.npy") };
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
    outputs,
  };
  await writeJsonAtomic(join(values.out, "nmf.json"), summary);
  log(
    `NMF of ${input} (${n} x ${c}, k=${settings.k}) on ${
      gpu ? gpu.description : "CPU"
    }: ${result.iterations} ` +
      `iterations, relative error ${result.relError.toPrecision(4)}, ${
        seconds.toFixed(2)
      } s -> ${values.out}`,
  );
  return summary;
}

if (import.meta.main) {
  try {
    await nmfTask(Deno.args);
  } catch (e) {
    console.error(`nmf: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
