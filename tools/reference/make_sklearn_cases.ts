// Dev-only: writes tests/testdata/sklearn/ by running scikit-learn's NMF (sklearn_nmf.py) on
// fixtures/sklearn_cases.ts: cases.json + one .npy of H per planted case, and sweep.json (every k in
// 1..MAX_K on each sweep matrix). Needs python3 with scikit-learn (Debian: apt-get install python3-sklearn):
//   deno run -A tools/reference/make_sklearn_cases.ts [--sweep]   (--sweep: only sweep.json)
import { join } from "node:path";
import { writeNpy } from "../../src/io/npy.ts";
import { writeJsonAtomic } from "../../src/io/atomic.ts";
import {
  SKLEARN_NMF_CASES,
  sklearnCaseMatrix,
  SWEEP_KINDS,
  SWEEP_SHAPE,
  sweepMatrix,
} from "../../fixtures/sklearn_cases.ts";
import { MAX_K } from "../../kernels/nmf/settings.ts";

const python = Deno.env.get("PYTHON") ?? "/usr/bin/python3";
const work = join(Deno.cwd(), ".cache/sklearn-cases");
const out = join(Deno.cwd(), "tests/testdata/sklearn");
await Deno.mkdir(work, { recursive: true });
await Deno.mkdir(out, { recursive: true });

async function sklearn(vPath: string, ks: number[], hPath?: string): Promise<unknown> {
  const r = await new Deno.Command(python, {
    args: ["tools/reference/sklearn_nmf.py", vPath, ks.join(","), ...(hPath ? [hPath] : [])],
    stderr: "inherit",
  }).output();
  if (!r.success) throw new Error(`sklearn_nmf.py failed for ${vPath}`);
  return JSON.parse(new TextDecoder().decode(r.stdout));
}

if (!Deno.args.includes("--sweep")) {
  const results: Record<string, unknown> = {};
  for (const c of SKLEARN_NMF_CASES) {
    const vPath = join(work, `${c.name}.v.npy`);
    await writeNpy(vPath, sklearnCaseMatrix(c), [c.n, c.c]);
    results[c.name] = { ...c, ...(await sklearn(vPath, [c.k], join(out, `${c.name}.npy`)) as object) };
    console.log(c.name, results[c.name]);
  }
  await writeJsonAtomic(join(out, "cases.json"), results);
}

const sweep: Record<string, unknown> = {};
const ks = Array.from({ length: MAX_K }, (_, i) => i + 1);
for (const kind of SWEEP_KINDS) {
  const vPath = join(work, `sweep-${kind}.v.npy`);
  await writeNpy(vPath, sweepMatrix(kind), [SWEEP_SHAPE.n, SWEEP_SHAPE.c]);
  sweep[kind] = await sklearn(vPath, ks);
  console.log(kind, sweep[kind]);
}
await writeJsonAtomic(join(out, "sweep.json"), { shape: SWEEP_SHAPE, ...sweep });
