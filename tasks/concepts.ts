// deno task concepts --model M --data D --layer L --out O [--classes 0-999|list] [--k 6] [--max-images 60]
// [--attribution-cache A] [--tokens patches|patches+cls|reference] [--signed split|relu|refuse] ...
import { choiceArg, floatArg, intArg, parseCli, runTask } from "../src/cli/cli.ts";
import { computeConcepts } from "../src/pipeline/concepts/concepts.ts";
import { SIGNED_FLAG, signedFromArgs } from "../src/pipeline/concepts/signed_rows.ts";
import { NMF_DEFAULTS } from "../kernels/nmf/settings.ts";
import { skippedLine } from "../src/io/skipped.ts";
import { parseShard, SHARD_FLAG } from "../src/cli/shard.ts";
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

export async function main(argv: string[]): Promise<void> {
  const a = parseCli(
    "concepts",
    "Per-class concept prototypes: attribution-weighted activations factorized by NMF.",
    {
      ...MODEL_DATA_FLAGS,
      layer: {
        type: "string",
        required: true,
        help: "layer, e.g. layer3.5 or layer4.2 (see `deno task layers`)",
      },
      out: { type: "string", required: true, help: "output folder (resumable: finished classes are kept)" },
      classes: { type: "string", default: "all", help: "classes: all, or a list like 0-9,250,malamute" },
      ...ATTRIBUTION_FLAGS,
      ...tokensFlag("patches"),
      ...SIGNED_FLAG,
      k: { type: "string", default: String(NMF_DEFAULTS.k), help: "prototypes per class (NMF components)" },
      ...CLASS_ATTRIBUTION_FLAGS,
      "nmf-batch": { type: "string", default: "16", help: "classes factorized together" },
      "max-iter": { type: "string", default: String(NMF_DEFAULTS.maxIter), help: "NMF iteration cap" },
      tol: { type: "string", default: NMF_DEFAULTS.tol.toExponential(), help: "NMF stopping tolerance" },
      ...RUN_ENV_FLAGS,
      ...FRESH_FLAG,
      ...SHARD_FLAG,
      nmf: {
        type: "string",
        default: "auto",
        help: "where NMF runs: auto (GPU unless software adapter) | gpu | cpu",
      },
    },
    argv,
  );
  const s = await computeConcepts({
    ...attributionFromArgs(a),
    tokens: tokensFromArgs(a),
    ...modelDataFromArgs(a),
    ...runEnvFromArgs(a),
    layer: a.layer as string,
    out: a.out as string,
    classes: a.classes as string,
    k: intArg("k", a.k),
    ...classAttributionFromArgs(a),
    nmfBatch: intArg("nmf-batch", a["nmf-batch"]),
    maxIter: intArg("max-iter", a["max-iter"]),
    tol: floatArg("tol", a.tol),
    nmfDevice: choiceArg("nmf", a.nmf, ["auto", "gpu", "cpu"]),
    fresh: a.fresh as boolean,
    signed: signedFromArgs(a),
    shard: parseShard(a.shard),
  });
  const done = s.classes.filter((c) => c.status === "done");
  const empty = s.classes.filter((c) => c.status === "no-images");
  console.log(
    `${done.length} classes with ${s.k} prototypes of ${s.channels} channels at ${s.layer}: ${a.out}/<class>/basis.npy`,
  );
  if (empty.length) {
    console.log(
      `${empty.length} classes had no predicted images: ${empty.slice(0, 20).map((c) => c.class).join(", ")}${
        empty.length > 20 ? ", ..." : ""
      }`,
    );
  }
  const skipped = skippedLine(s.skipped ?? [], `${a.out}/concepts.json`);
  if (skipped) console.log(skipped);
  if (done.length) {
    const errs = done.map((c) => c.relError!).sort((x, y) => x - y);
    console.log(
      `NMF relative error: median ${errs[Math.floor(errs.length / 2)].toFixed(4)}, worst ${
        errs.at(-1)!.toFixed(4)
      }`,
    );
  }
}

if (import.meta.main) await runTask(() => main(Deno.args));
