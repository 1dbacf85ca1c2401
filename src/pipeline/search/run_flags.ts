// The command line shared by component-test, visualize and explain.
import {
  FRESH_FLAG,
  MODEL_DATA_FLAGS,
  modelDataFromArgs,
  RUN_ENV_FLAGS,
  runEnvFromArgs,
} from "../../cli/task_flags.ts";
import { openDataset } from "../../data/dataset.ts";
import { parseClassList } from "../../data/class_names.ts";
import { type Flags, intArg, UsageError } from "../../cli/cli.ts";
import type { RunOptions } from "./run.ts";
import { modelClasses } from "../../model/model_classes.ts";
import { CROP_PATCHES_FLAG, cropPatchesArg } from "./crop_patches.ts";

/** Flags shared by component-test, visualize and explain. */
export const RUN_FLAGS = {
  ...MODEL_DATA_FLAGS,
  layer: { type: "string", help: "tap layer, e.g. layer3.5 (default: the concepts' layer)" },
  concepts: {
    type: "string",
    required: true,
    help: "concepts folder: protoscope's (deno task concepts) or the reference's <class>/nmf/nmf_basis.pt",
  },
  out: { type: "string", required: true, help: "output folder" },
  predictions: {
    type: "string",
    help: "predictions folder (default: <concepts>/predictions, else computed)",
  },
  batch: { type: "string", default: "16", help: "images per forward pass" },
  workers: { type: "string", help: "decode workers (default: CPU cores)" },
  ...CROP_PATCHES_FLAG,
  ...RUN_ENV_FLAGS,
  ...FRESH_FLAG,
} satisfies Flags;

/**
 * A `--classes` argument (indices, ranges, names; data/class_names.ts parseClassList) as class indices, or
 * undefined for "all" / absent: every class that has concepts.
 */
export async function classesArg(
  value: string | boolean | undefined,
  opts: RunOptions,
): Promise<number[] | undefined> {
  if (typeof value !== "string" || value.trim() === "all") return undefined;
  if (value.trim() === "") throw new UsageError("--classes is empty: omit it or pass 'all' for every class");
  const listing = await openDataset(opts.data, { labels: opts.labels, limit: opts.limit });
  listing.close();
  const { numClasses, names } = await modelClasses(opts.model, listing);
  try {
    return parseClassList(value, numClasses ?? Number.MAX_SAFE_INTEGER, names);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** RunOptions from the parsed RUN_FLAGS. */
export function runOptionsFromArgs(a: Record<string, string | boolean | undefined>): RunOptions {
  return {
    ...modelDataFromArgs(a),
    ...runEnvFromArgs(a),
    layer: a.layer as string | undefined,
    concepts: a.concepts as string,
    out: a.out as string,
    predictions: a.predictions as string | undefined,
    batch: intArg("batch", a.batch),
    workers: intArg("workers", a.workers, 0),
    fresh: a.fresh as boolean,
    cropPatches: cropPatchesArg(a["crop-patches"]),
  };
}
