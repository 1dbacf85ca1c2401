// Bench hook for `deno task bench --only nmf`: NMF on the CPU path, the whole `deno task nmf --cpu` as a user
// runs it (its own process, start to end: start-up, reading V, the factorization, writing W, H and nmf.json),
// against scikit-learn's fit on the same .npy in the same run (tools/reference/sklearn_nmf.py, where Debian's
// python3-sklearn is installed). Both run the same algorithm to the same stopping rule, so the iterations
// should agree.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeNpy } from "../io/npy.ts";
import { runPythonReference } from "./python_reference.ts";

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
    const sklearn = await runPythonReference(
      "sklearn_nmf.py",
      [input, String(k), join(dir, "sklearn_H.npy"), String(threads)],
      ["sklearn", "threadpoolctl"],
    );
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
