// deno task merge --parts DIR... --out DIR: joins the outputs of one run's shards (`--shard k/n` on predict,
// concepts, contrast-vectors, hyperplanes, component-test, shifting-test) into exactly what one run would have
// written. Each stage's merge lives with the stage; the checks they share are in src/io/shard_parts.ts.
import { parseCli, runTask, UsageError } from "../src/cli/cli.ts";
import { withOutDir } from "../src/io/out_dir.ts";
import { readJsonIfExists } from "../src/io/atomic.ts";
import { join, resolve } from "node:path";
import { mergePredictions, readPredictPart } from "../src/pipeline/predict/merge_predictions.ts";
import { mergeConcepts } from "../src/pipeline/concepts/merge_concepts.ts";
import { mergeContrastVectors } from "../src/pipeline/contrast/vectors/merge_vectors.ts";
import { mergeHyperplanes } from "../src/pipeline/contrast/hyperplanes/merge_hyperplanes.ts";
import { mergeComponentTest } from "../src/pipeline/component_test/merge_components.ts";
import { mergeContrastTest } from "../src/pipeline/contrast/sanity_checks/merge_contrast_run.ts";

/** The merge of each sharded task, by the task name its manifests carry. */
const MERGES: Record<string, (parts: string[], out: string) => Promise<unknown>> = {
  predict: mergePredictions,
  concepts: mergeConcepts,
  "contrast-vectors": mergeContrastVectors,
  hyperplanes: mergeHyperplanes,
  "component-test": mergeComponentTest,
  "shifting-test": (parts, out) => mergeContrastTest(parts, out, "shifting-test"),
};

/** The task that wrote a part: its manifest.json's, or predict's (whose manifest is in predictions.json). */
async function partTask(dir: string): Promise<string> {
  try {
    if (!(await Deno.stat(dir)).isDirectory) throw new UsageError(`--parts ${dir} is a file, not a folder`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new UsageError(`--parts ${dir}: no such folder`);
    throw e;
  }
  // predict and component-test also keep their manifest inside their one JSON output (older folders: only there).
  const manifest = await readJsonIfExists<{ task?: string }>(join(dir, "manifest.json")) ??
    (await readPredictPart(dir))?.manifest ??
    (await readJsonIfExists<{ manifest?: { task?: string } }>(join(dir, "component_test.json")))?.manifest;
  const task = manifest?.task as string | undefined;
  if (!task) {
    throw new UsageError(`--parts ${dir}: no manifest.json or predictions.json (not a shard's output)`);
  }
  return task;
}

export async function merge(parts: string[], out: string): Promise<string> {
  if (parts.some((p) => resolve(p) === resolve(out))) {
    throw new UsageError(`--out ${out} is one of the --parts: write the merge to a new folder`);
  }
  const tasks = await Promise.all(parts.map(partTask));
  const task = tasks[0];
  const merger = MERGES[task];
  if (!merger) {
    throw new UsageError(
      `--parts ${parts[0]}: '${task}' output cannot be merged (sharded tasks: ${
        Object.keys(MERGES).join(", ")
      })`,
    );
  }
  const other = tasks.findIndex((t) => t !== task);
  if (other >= 0) {
    throw new UsageError(
      `--parts ${parts[other]}: written by '${tasks[other]}', but ${parts[0]} by '${task}'`,
    );
  }
  await withOutDir(out, "merge", () => merger(parts, out));
  return task;
}

export async function main(argv: string[]): Promise<void> {
  const a = parseCli(
    "merge",
    "Joins shard outputs (`--shard k/n` runs of " + Object.keys(MERGES).join(", ") + ") into what one run " +
      "writes.\nChecks that every shard 1..n is there once, all from the same model, layer, settings and data.",
    {
      parts: { type: "string", required: true, multiple: true, help: "the shards' output folders" },
      out: { type: "string", required: true, help: "output folder (as one run's --out)" },
    },
    argv,
  );
  const parts = a.parts as unknown as string[];
  const task = await merge(parts, a.out as string);
  console.log(`merged ${parts.length} ${task} shards into ${a.out}`);
}

if (import.meta.main) await runTask(() => main(Deno.args));
