// Bench hook for `deno task bench --only nmf`: NMF on the CPU path, the whole `deno task nmf --cpu` as a user
// runs it (its own process, start to end: start-up, reading V, the factorization, writing W, H and nmf.json),
// against scikit-learn's fit on the same .npy in the same run (tools/reference/sklearn_nmf.py, where Debian's
// python3-sklearn is installed). Both run the same algorithm to the same stopping rule, so the iterations
// should agree.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeNpy } from "../io/npy.ts";
import { referenceJson } from "./reference_stack.ts";
import type { CompareContext, CompareRow } from "./compare.ts";

/** `nmfTask`: the file URL of tasks/nmf.ts (src/ never names the entry points itself). */
export async function benchNmfCpu(
  nmfTask: URL,
  v: Float32Array,
  n: number,
  c: number,
  k: number,
  threads: number,
) {
  const dir = await Deno.makeTempDir();
  try {
    const input = join(dir, "V.npy");
    await writeNpy(input, v, [n, c]);
    const task = fileURLToPath(nmfTask);
    const args = ["run", "-A", task, "--input", input, "--k", String(k), "--cpu", "--out", join(dir, "ours")];
    const t0 = performance.now();
    const run = await new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped" }).output();
    const wallSeconds = (performance.now() - t0) / 1000;
    if (!run.success) throw new Error(`deno task nmf failed:\n${new TextDecoder().decode(run.stderr)}`);
    const ours = JSON.parse(await Deno.readTextFile(join(dir, "ours", "nmf.json")));
    const sklearn = await referenceJson("sklearn_nmf.py", [
      input,
      String(k),
      join(dir, "sklearn_H.npy"),
      String(threads),
    ]);
    const fit = "fitSeconds" in sklearn ? Number(sklearn.fitSeconds) : null;
    return {
      shape: `${n} x ${c}, k ${k}`,
      protoscope: {
        cpu: ours.cpu,
        wallSeconds,
        factorizeSeconds: ours.seconds,
        iterations: ours.iterations,
        relError: ours.relError,
      },
      sklearn,
      wallOverSklearnFit: fit ? wallSeconds / fit : null,
      target: "wallOverSklearnFit <= 2",
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** `--compare`'s row: `deno task nmf --cpu` start to end against scikit-learn's fit, at layer3.5's shape. */
export async function compareNmf(ctx: CompareContext): Promise<CompareRow[]> {
  const n = ctx.quick ? 2940 : 11760, c = 1024, k = 6;
  const r = await benchNmfCpu(ctx.nmfTask, ctx.plantedNmf(n, c, k), n, c, k, ctx.threads);
  const fit = (r.sklearn as { fitSeconds?: number }).fitSeconds;
  return [{
    stage: `NMF ${r.shape}, planted rank 6 + noise, wall`,
    unit: "s",
    lowerIsBetter: true,
    protoscope: { what: `deno task nmf --cpu (${r.protoscope.cpu})`, value: r.protoscope.wallSeconds },
    ...(typeof fit === "number" ? { reference: { what: "scikit-learn fit", value: fit } } : {
      skipped: String(
        (r.sklearn as { skipped?: string }).skipped ?? "sklearn_nmf.py printed no fitSeconds",
      ),
    }),
    note: `${r.protoscope.iterations} iterations`,
  }];
}
