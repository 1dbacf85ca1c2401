// `deno task bench --compare`'s plumbing without the measurements: ratios point the right way for rates and
// times, the table names a skipped reference and why, and the reference runner reports a Python without torch
// (or none at all) as a skip instead of failing the bench.
import assert from "node:assert/strict";
import { join } from "node:path";
import { type CompareRow, ratioTable, speedRatio } from "../src/bench/compare.ts";
import { REFERENCE_PYTHON_ENV, runReferenceScript } from "../src/bench/reference_stack.ts";

const rate: CompareRow = {
  stage: "forward",
  unit: "img/s",
  protoscope: { what: "cpu", value: 30 },
  reference: { what: "torch", value: 10 },
};
const time: CompareRow = {
  stage: "nmf wall",
  unit: "s",
  lowerIsBetter: true,
  protoscope: { what: "webgpu", value: 40 },
  reference: { what: "scikit-learn", value: 20 },
};
const skipped: CompareRow = {
  stage: "head",
  unit: "head passes/s",
  protoscope: { what: "wasm", value: 2 },
  skipped: "reference stack skipped: /usr/bin/python3 has no torch",
  note: "paper run 400 h",
};

Deno.test("speed ratios: protoscope's rate over the reference's; for times the reference's over ours", () => {
  assert.equal(speedRatio(rate), 3);
  assert.equal(speedRatio(time), 0.5);
  assert.equal(speedRatio(skipped), undefined);
});

Deno.test("the ratio table: one row per stage, values with units, the skip reason in the reference column", () => {
  const lines = ratioTable([rate, time, skipped]).split("\n");
  assert.equal(lines.length, 5);
  assert.equal(lines[0], "| stage | protoscope | reference stack | ratio |");
  assert.equal(lines[2], "| forward | cpu: 30.0 img/s | torch: 10.0 img/s | 3.00x |");
  assert.equal(lines[3], "| nmf wall | webgpu: 40.0 s | scikit-learn: 20.0 s | 0.50x |");
  assert.equal(
    lines[4],
    "| head (paper run 400 h) | wasm: 2.00 head passes/s | reference stack skipped: /usr/bin/python3 has no torch | - |",
  );
});

/** Runs `fn` with the reference Python replaced by a shell script with `body`. */
async function withPython<T>(body: string | undefined, fn: () => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir();
  const python = join(dir, "python3");
  if (body !== undefined) {
    await Deno.writeTextFile(python, `#!/bin/sh\n${body}\n`);
    await Deno.chmod(python, 0o755);
  }
  const before = Deno.env.get(REFERENCE_PYTHON_ENV);
  Deno.env.set(REFERENCE_PYTHON_ENV, python);
  try {
    return await fn();
  } finally {
    if (before === undefined) Deno.env.delete(REFERENCE_PYTHON_ENV);
    else Deno.env.set(REFERENCE_PYTHON_ENV, before);
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the reference runner: the script's last JSON line, or a skip that says why", async () => {
  const args = ["--only", "head"];
  const ok = await withPython(
    `echo "loading" && echo "{\\"script\\": \\"$(basename "$1")\\", \\"only\\": \\"$3\\"}"`,
    () => runReferenceScript<{ script: string; only: string }>("torch_cpu_bench.py", args),
  );
  assert.deepEqual(ok.result, { script: "torch_cpu_bench.py", only: "head" });
  const noTorch = await withPython(
    `echo "ModuleNotFoundError: No module named 'torch'" >&2; exit 1`,
    () => runReferenceScript("torch_cpu_bench.py", args),
  );
  assert.match(
    noTorch.skipped!,
    /^reference stack skipped: .*python3 has no torch \(Debian: apt-get install/,
  );
  const none = await withPython(undefined, () => runReferenceScript("torch_cpu_bench.py", args));
  assert.match(none.skipped!, /^reference stack skipped: cannot run .*python3/);
  const noScript = await runReferenceScript("no_such_script.py", args);
  assert.match(noScript.skipped!, /no_such_script\.py is not here/);
});
