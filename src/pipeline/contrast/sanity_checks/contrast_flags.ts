// The command line shared by shifting-test and masking-test: model, data, layer, hyperplanes, pair sampling.
import {
  MODEL_DATA_FLAGS,
  modelDataFromArgs,
  RUN_ENV_FLAGS,
  runEnvFromArgs,
  tokensFlag,
  tokensFromArgs,
} from "../../../cli/task_flags.ts";
import { type Flags, intArg } from "../../../cli/cli.ts";
import { openHyperplanes } from "../hyperplanes/hyperplanes_io.ts";
import type { ContrastRunOptions } from "./contrast_test_run.ts";
import { DEFAULT_RUNS } from "./pair_sampling.ts";

export const CONTRAST_TEST_FLAGS = {
  ...MODEL_DATA_FLAGS,
  layer: { type: "string", required: true, help: "tap layer the hyperplanes were trained at, e.g. layer3.5" },
  hyperplanes: {
    type: "string",
    required: true,
    help: "hyperplane folder (deno task hyperplanes, or the reference's <i>.pt, bias_<i>.pt files)",
  },
  out: { type: "string", required: true, help: "output folder" },
  runs: { type: "string", default: String(DEFAULT_RUNS), help: "runs of the reference's pair sampling" },
  draws: { type: "string", default: "1000", help: "draws of the source class i per run" },
  others: { type: "string", default: "10", help: "draws of the target class j per i (j in 1..K-1)" },
  pairs: {
    type: "string",
    help: "instead of sampling: all (every ordered pair), or a list like 3:7,0:1 (from:to); one run",
  },
  seed: { type: "string", default: "0", help: "pair sampling seed" },
  "max-images": { type: "string", default: "60", help: "images of class i (predicted as i, as concepts)" },
  batch: { type: "string", default: "32", help: "model input rows per batch" },
  predictions: {
    type: "string",
    help: "existing predictions folder (default: <out>/predictions, computed if missing)",
  },
  ...tokensFlag("patches+cls"),
  ...RUN_ENV_FLAGS,
} satisfies Flags;

type Args = Record<string, string | boolean | undefined>;

/** The driver's options; reads the hyperplane folder's first row (its width) but nothing else yet. */
export async function contrastOptionsFromArgs(a: Args): Promise<ContrastRunOptions> {
  const runs = intArg("runs", a.runs), draws = intArg("draws", a.draws), others = intArg("others", a.others);
  const seed = intArg("seed", a.seed, 0), maxImages = intArg("max-images", a["max-images"]);
  const batch = intArg("batch", a.batch), tokens = tokensFromArgs(a);
  const dir = a.hyperplanes as string;
  const set = await openHyperplanes(dir);
  return {
    ...modelDataFromArgs(a),
    ...runEnvFromArgs(a),
    layer: a.layer as string,
    hyperplanes: { source: dir, set },
    out: a.out as string,
    runs,
    draws,
    others,
    pairs: a.pairs as string | undefined,
    seed,
    maxImages,
    batch,
    predictions: a.predictions as string | undefined,
    tokens,
  };
}
