// deno task contrast-vectors --model M --data D --layer L --out V [--classes ..] [--predictions P]
// [--cutoff 0.25] [--samples 20] [--sigma 0.25] [--map mean|relu-mean] [--attribution-cache A] ...
import { choiceArg, floatArg, parseCli, runTask } from "../src/cli/cli.ts";
import { computeContrastVectors, CONTRAST_MAPS } from "../src/pipeline/contrast/vectors/contrast_vectors.ts";
import {
  FRESH_FLAG,
  MODEL_DATA_FLAGS,
  modelDataFromArgs,
  RUN_ENV_FLAGS,
  runEnvFromArgs,
  tokensFlag,
  tokensFromArgs,
} from "../src/cli/task_flags.ts";
import {
  ATTRIBUTION_FLAGS,
  attributionFromArgs,
  CLASS_ATTRIBUTION_FLAGS,
  classAttributionFromArgs,
} from "../src/pipeline/attribute/attribute_flags.ts";
import { parseShard, SHARD_FLAG } from "../src/cli/shard.ts";

export async function main(argv: string[]): Promise<void> {
  const a = parseCli(
    "contrast-vectors",
    "Per class: the activation vectors at the positions its attribution marks (the input of `hyperplanes`).\n" +
      "The mask is the channel mean of the attribution WITHOUT ReLU above cutoff x the image's maximum, as the\n" +
      "reference computes it (it takes ReLU, then overwrites it with the plain mean); --map relu-mean uses the\n" +
      "mean of ReLU (the concepts' map) instead and is recorded as such. Writes V/<class>.npy (rows x C\n" +
      "float32), V/vectors.json (images used, rows per image, skipped images) and V/manifest.json.",
    {
      ...MODEL_DATA_FLAGS,
      layer: { type: "string", required: true, help: "layer, e.g. layer3.5 (see `deno task layers`)" },
      out: { type: "string", required: true, help: "output folder V (resumable: finished classes are kept)" },
      classes: { type: "string", default: "all", help: "classes: all, or a list like 0-9,250,malamute" },
      cutoff: {
        type: "string",
        default: "0.25",
        help: "keep positions whose map exceeds cutoff x the image max",
      },
      map: {
        type: "string",
        default: "mean",
        help: "mask map: mean (channel mean without ReLU, the reference) | relu-mean (mean of ReLU)",
      },
      ...ATTRIBUTION_FLAGS,
      ...tokensFlag("patches"),
      ...CLASS_ATTRIBUTION_FLAGS,
      ...RUN_ENV_FLAGS,
      ...SHARD_FLAG,
      ...FRESH_FLAG,
    },
    argv,
  );
  const s = await computeContrastVectors({
    ...attributionFromArgs(a),
    tokens: tokensFromArgs(a),
    ...modelDataFromArgs(a),
    ...runEnvFromArgs(a),
    ...classAttributionFromArgs(a),
    layer: a.layer as string,
    out: a.out as string,
    classes: a.classes as string,
    cutoff: floatArg("cutoff", a.cutoff),
    map: choiceArg("map", a.map, CONTRAST_MAPS),
    shard: parseShard(a.shard),
    fresh: a.fresh as boolean,
  });
  const done = s.classes.filter((c) => c.status === "done");
  const rows = done.reduce((t, c) => t + c.rows, 0);
  const skipped = s.classes.reduce((t, c) => t + c.skipped.length, 0);
  const cached = s.classes.filter((c) => c.cached).length;
  console.log(
    `${done.length} classes, ${rows} vectors of ${s.channels} channels at ${s.layer} (map: ${s.map}): ` +
      `${a.out}/<class>.npy`,
  );
  for (const status of ["no-images", "no-rows"] as const) {
    const list = s.classes.filter((c) => c.status === status).map((c) => c.class);
    if (list.length) {
      console.log(
        `${list.length} classes ${status}: ${list.slice(0, 20).join(", ")}${list.length > 20 ? ", ..." : ""}`,
      );
    }
  }
  if (skipped) console.log(`${skipped} unreadable images skipped (listed in vectors.json)`);
  if (cached) console.log(`${cached} classes took their attribution maps from the cache`);
}

if (import.meta.main) await runTask(() => main(Deno.args));
