// `deno task merge` for shifting-test: each run's pair records (and pairs left out) joined in shard order, which
// is the order they were drawn in (every shard drew the same pairs and kept one contiguous block of each run);
// per-run and over-run summaries, the table and the figures recomputed; the manifest unsharded.
import { join } from "node:path";
import { writeJsonAtomic } from "../../../io/atomic.ts";
import { readPartOutputs, readParts } from "../../../io/shard_parts.ts";
import { completeManifest } from "../../../io/manifest.ts";
import { mergeSharedPredictions } from "../../concepts/merge_concepts.ts";
import { summarizeRun, summarizeRuns } from "./contrast_summary.ts";
import { type ContrastReport, contrastTable, type RunRecord, writeRunFigure } from "./contrast_test_run.ts";
import { SHIFTING_STEP_LABEL } from "./shifting.ts";

/** What merging needs of a contrast test beyond its report: its name, and its steps' key and figure label. */
const TESTS: Record<string, { name: string; stepKey: string; stepLabel: string }> = {
  "shifting-test": { name: "shifting", stepKey: "offsets", stepLabel: SHIFTING_STEP_LABEL },
};

export async function mergeContrastTest(
  dirs: string[],
  out: string,
  task = "shifting-test",
): Promise<ContrastReport> {
  const test = TESTS[task];
  const parts = await readParts(dirs, task);
  const file = `${test.name}_test.json`;
  const reports = await readPartOutputs<ContrastReport>(parts, file, out);
  await mergeSharedPredictions(parts.map((p) => p.dir), out);
  const first = reports[0];
  const steps = first.settings[test.stepKey] as number[];
  const runs: RunRecord[] = [];
  for (const [r, run] of first.runs.entries()) {
    const pairs = reports.flatMap((rep) => rep.runs[r].pairs);
    runs.push({
      ...run,
      pairs,
      noHyperplane: reports.flatMap((rep) => rep.runs[r].noHyperplane),
      summary: summarizeRun(pairs),
      figure: await writeRunFigure(out, { ...test, steps }, r, pairs),
    });
  }
  const perRun = runs.map((r) => r.summary);
  const overRuns = summarizeRuns(perRun);
  const layer = (first.manifest as { layer?: { name?: string } }).layer?.name ?? "";
  const merged: ContrastReport = {
    ...first,
    runs,
    summary: { perRun, overRuns },
    table: contrastTable(test.name, layer, perRun, overRuns),
  };
  await writeJsonAtomic(join(out, file), merged);
  await completeManifest(out, first.manifest);
  return merged;
}
