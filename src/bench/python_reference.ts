// Runs a reference script of tools/reference/ (PyTorch, scikit-learn) from a bench, so that the Python stack
// protoscope replaces is measured on the same machine in the same run. Only where Debian's /usr/bin/python3
// has the modules the script needs; otherwise the bench reports why it was skipped.
import { fileURLToPath } from "node:url";

/** Debian's interpreter: the one with python3-torch and python3-sklearn (a pyenv python first on PATH lacks them). */
export const REFERENCE_PYTHON = "/usr/bin/python3";

export type PythonResult = Record<string, unknown> | { skipped: string };

/**
 * Runs tools/reference/<script> with `args` if `modules` import; returns the JSON object the script prints
 * last on stdout.
 */
export async function runPythonReference(
  script: string,
  args: string[],
  modules: string[],
): Promise<PythonResult> {
  const path = fileURLToPath(new URL(`../../tools/reference/${script}`, import.meta.url));
  const probe = await run(["-c", modules.map((m) => `import ${m}`).join("; ")]);
  if (!probe.ok) return { skipped: `${REFERENCE_PYTHON} with ${modules.join(", ")} is not available here` };
  const r = await run([path, ...args]);
  if (!r.ok) throw new Error(`${script} ${args.join(" ")} failed:\n${r.stderr}`);
  const last = r.stdout.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(last);
  } catch {
    throw new Error(`${script}: expected a JSON line on stdout, got '${last.slice(0, 200)}'`);
  }
}

async function run(args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  try {
    const out = await new Deno.Command(REFERENCE_PYTHON, { args, stdout: "piped", stderr: "piped" }).output();
    const text = new TextDecoder();
    return { ok: out.success, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  } catch (e) {
    return { ok: false, stdout: "", stderr: (e as Error).message };
  }
}
