// The reference stack measured beside protoscope in one `deno task bench --compare` run: Python scripts under
// tools/reference/ run with Debian's torch (/usr/bin/python3, or PROTOSCOPE_REFERENCE_PYTHON). Where Python or
// torch is missing, or the script is not there (the single binary), the comparison says so and goes on.
import { fileURLToPath } from "node:url";
import type { Measured } from "./compare.ts";

export const REFERENCE_PYTHON_ENV = "PROTOSCOPE_REFERENCE_PYTHON";
/** Debian's python3 carries python3-torch; a pyenv python3 earlier on PATH usually does not. */
const DEFAULT_PYTHON = "/usr/bin/python3";

export type ReferenceRun<T> = { result: T; skipped?: undefined } | { result?: undefined; skipped: string };

/** Runs tools/reference/`script` with `args` and parses the JSON object it prints last. */
export async function runReferenceScript<T>(script: string, args: string[]): Promise<ReferenceRun<T>> {
  const python = Deno.env.get(REFERENCE_PYTHON_ENV) || DEFAULT_PYTHON;
  const path = fileURLToPath(new URL(`../../tools/reference/${script}`, import.meta.url));
  if (!(await Deno.stat(path).catch(() => undefined))) {
    return { skipped: `reference stack skipped: ${path} is not here (it is in the source tree only)` };
  }
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(python, { args: [path, ...args], stdout: "piped", stderr: "piped" })
      .output();
  } catch (e) {
    return { skipped: `reference stack skipped: cannot run ${python} (${(e as Error).message})` };
  }
  const stderr = new TextDecoder().decode(output.stderr);
  if (!output.success) {
    const missing = stderr.match(/No module named '([^']+)'/);
    const why = missing
      ? `${python} has no ${
        missing[1]
      } (Debian: apt-get install python3-torch python3-torchvision python3-sklearn)`
      : `${script} failed: ${stderr.trim().split("\n").at(-1)}`;
    return { skipped: `reference stack skipped: ${why}` };
  }
  const last = new TextDecoder().decode(output.stdout).trim().split("\n").at(-1) ?? "";
  try {
    return { result: JSON.parse(last) as T };
  } catch {
    return { skipped: `reference stack skipped: ${script} printed no JSON (${last.slice(0, 80)})` };
  }
}

/** The script's JSON object, or `{ skipped }` saying why not (for sections that report it beside their own). */
export async function referenceJson(script: string, args: string[]): Promise<Record<string, unknown>> {
  const run = await runReferenceScript<Record<string, unknown>>(script, args);
  return run.result ?? { skipped: run.skipped };
}

/** What tools/reference/torch_cpu_bench.py prints (each part only when measured). */
export interface TorchCpuBench {
  stack: string;
  threads: number;
  forward?: { imagesPerSecond: number };
  head?: { rowsPerSecond: number };
}

/** The torch side of a comparison: torch_cpu_bench.py with `args` on `threads` threads, one number of it. */
export async function torchReference(
  args: string[],
  threads: number,
  pick: (r: TorchCpuBench) => number | undefined,
): Promise<{ reference?: Measured; skipped?: string }> {
  const run = await runReferenceScript<TorchCpuBench>("torch_cpu_bench.py", [
    ...args,
    "--threads",
    String(threads),
  ]);
  if (!run.result) return { skipped: run.skipped };
  const value = pick(run.result);
  if (value === undefined) {
    return { skipped: `reference stack skipped: torch_cpu_bench.py ${args.join(" ")} measured nothing` };
  }
  return { reference: { what: `${run.result.stack}, ${run.result.threads} threads`, value } };
}
