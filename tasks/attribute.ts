// deno task attribute --model M --data D --layer L --class C --out O [--method deeplift|gradxact] ...
import { intArg, parseCli, runTask } from "../src/cli/cli.ts";
import { attributeDataset } from "../src/pipeline/attribute/attribute_dataset.ts";
import {
  MODEL_DATA_FLAGS,
  modelDataFromArgs,
  RUN_ENV_FLAGS,
  runEnvFromArgs,
  tokensFlag,
  tokensFromArgs,
} from "../src/cli/task_flags.ts";
import { ATTRIBUTION_FLAGS, attributionFromArgs } from "../src/pipeline/attribute/attribute_flags.ts";
import { skippedLine } from "../src/io/skipped.ts";

export async function main(argv: string[]): Promise<void> {
  const a = parseCli("attribute", "Layer attribution maps of every image towards one class, with overlays.", {
    ...MODEL_DATA_FLAGS,
    layer: {
      type: "string",
      required: true,
      help: "layer to attribute at, e.g. layer3.5 (see `deno task layers`)",
    },
    class: { type: "string", required: true, help: "target class: index, name or ImageNet wnid" },
    out: { type: "string", required: true, help: "output folder" },
    ...ATTRIBUTION_FLAGS,
    ...tokensFlag("patches"),
    batch: { type: "string", default: "4", help: "images per pass (each is `samples` rows)" },
    overlays: { type: "string", default: "16", help: "overlay JPEGs for the first N images" },
    "save-raw": { type: "boolean", default: false, help: "also write attributions.npy (N x C x h x w)" },
    ...RUN_ENV_FLAGS,
  }, argv);
  const r = await attributeDataset({
    ...attributionFromArgs(a),
    tokens: tokensFromArgs(a),
    ...modelDataFromArgs(a),
    ...runEnvFromArgs(a),
    layer: a.layer as string,
    target: a.class as string,
    out: a.out as string,
    batch: intArg("batch", a.batch),
    overlays: intArg("overlays", a.overlays, 0),
    saveRaw: a["save-raw"] as boolean,
  });
  console.log(
    `${r.images} maps of class ${r.target}${r.targetName ? ` (${r.targetName})` : ""} at ${
      r.tapShape.join("x")
    } ` +
      `on ${r.device}: ${a.out}/maps.npy, attribution.json, overlays/`,
  );
  const skipped = skippedLine(r.skipped, `${a.out}/attribution.json`);
  if (skipped) console.log(skipped);
}

if (import.meta.main) await runTask(() => main(Deno.args));
