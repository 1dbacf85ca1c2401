// deno task explain --class C --model M --data D --concepts O1 --out O [--layer L]
import { parseCli, runTask, UsageError } from "../src/cli/cli.ts";
import { openDataset } from "../src/data/dataset.ts";
import { resolveClassArg } from "../src/data/class_names.ts";
import { modelClasses } from "../src/model/model_classes.ts";
import { RUN_FLAGS, runOptionsFromArgs } from "../src/pipeline/search/run_flags.ts";
import { runExplain } from "../src/pipeline/figures/explain.ts";
import { skippedLine } from "../src/io/skipped.ts";

export async function main(argv: string[]): Promise<void> {
  const a = parseCli(
    "explain",
    "The explanation figure of one class: (1) its prototypes' best crops over all images, (2) the best crops\n" +
      "from images not predicted as the class, (3) their source images with predicted classes, and what the\n" +
      "model predicts for the stacked crops. Writes O/explain_<class>.jpg and .json. On a transformer's token\n" +
      "tap --crop-patches P makes each crop the P x P patches centred on the hit token (the title says the size).",
    {
      class: { type: "string", required: true, help: "class index, name or ImageNet wnid" },
      ...RUN_FLAGS,
    },
    argv,
  );
  const opts = runOptionsFromArgs(a);
  const listing = await openDataset(opts.data, { labels: opts.labels, limit: opts.limit });
  listing.close();
  const { numClasses, names } = await modelClasses(opts.model, listing);
  let cls: number;
  try {
    cls = resolveClassArg(a.class as string, numClasses ?? Number.MAX_SAFE_INTEGER, names);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const report = await runExplain({ ...opts, cls });
  const v = report.record.targetExcluded;
  const excluded = v.noCrops
    ? "no image of another class to crop from"
    : `crops from other classes' images are predicted as ${v.argmaxName ?? v.argmax} (p(class) ${
      v.pClass.toFixed(3)
    })`;
  console.log(
    `class ${cls}${report.name ? ` (${report.name})` : ""}: ${excluded}; all images: ` +
      `${report.record.allImages.argmaxName ?? report.record.allImages.argmax}`,
  );
  const skipped = skippedLine(report.skipped, `${a.out}/explain_${cls}.json`);
  if (skipped) console.log(skipped);
  console.log(`wrote ${a.out}/${report.jpeg} and explain_${cls}.json`);
}

if (import.meta.main) await runTask(() => main(Deno.args));
