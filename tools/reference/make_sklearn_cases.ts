// Dev-only: writes tests/testdata/sklearn/ by running scikit-learn's NMF (sklearn_nmf.py) on
// fixtures/sklearn_cases.ts. Needs python3 with scikit-learn (Debian: apt-get install python3-sklearn):
//   deno run -A tools/reference/make_sklearn_cases.ts
import { join } from "node:path";
import { writeNpy } from "../../src/io/npy.ts";
import { writeJsonAtomic } from "../../src/io/atomic.ts";
import { SKLEARN_NMF_CASES, sklearnCaseMatrix } from "../../fixtures/sklearn_cases.ts";

const python = Deno.env.get("PYTHON") ?? "/usr/bin/python3";
const work = join(Deno.cwd(), ".cache/sklearn-cases");
const out = join(Deno.cwd(), "tests/testdata/sklearn");
await Deno.mkdir(work, { recursive: true });
await Deno.mkdir(out, { recursive: true });
const results: Record<string, unknown> = {};
for (const c of SKLEARN_NMF_CASES) {
  const vPath = join(work, `${c.name}.v.npy`);
  await writeNpy(vPath, sklearnCaseMatrix(c), [c.n, c.c]);
  const r = await new Deno.Command(python, {
    args: ["tools/reference/sklearn_nmf.py", vPath, String(c.k), join(out, `${c.name}.npy`)],
    stderr: "inherit",
  }).output();
  if (!r.success) throw new Error(`sklearn_nmf.py failed for ${c.name}`);
  results[c.name] = { ...c, ...JSON.parse(new TextDecoder().decode(r.stdout)) };
  console.log(c.name, results[c.name]);
}
await writeJsonAtomic(join(out, "cases.json"), results);
