// deno task visualize --model M --data D --concepts O1 --out O [--layer L] [--classes ...] [--columns 8]
import { intArg, parseCli, runTask } from "../src/cli/cli.ts";
import { classesArg, RUN_FLAGS, runOptionsFromArgs } from "../src/pipeline/search/run_flags.ts";
import { runVisualize } from "../src/pipeline/figures/visualize.ts";
import { skippedLine } from "../src/io/skipped.ts";

export async function main(argv: string[]): Promise<void> {
  const a = parseCli(
    "visualize",
    "One JPEG per class: k rows (prototypes) of their best crops over all images, and beside them the best\n" +
      "crops among images not predicted as the class. Writes O/<class>_<name>.jpg and O/visualize.json.\n" +
      "A crop is one cell of the tap's grid; on a transformer's token tap the hit patch, or with --crop-patches P\n" +
      "the P x P patches centred on it (the title says which).",
    {
      ...RUN_FLAGS,
      classes: {
        type: "string",
        help: "classes: indices, ranges, names, e.g. 0,5,10-12 (default: every class with concepts)",
      },
      columns: { type: "string", default: "8", help: "crops per row" },
    },
    argv,
  );
  const opts = runOptionsFromArgs(a);
  const report = await runVisualize({
    ...opts,
    classes: await classesArg(a.classes, opts),
    columns: intArg("columns", a.columns),
  });
  console.log(
    `wrote ${report.classes.length} figures and visualize.json to ${a.out} ` +
      `(one pass, ${report.seconds.toFixed(1)} s)`,
  );
  const skipped = skippedLine(report.skipped, `${a.out}/visualize.json`);
  if (skipped) console.log(skipped);
}

if (import.meta.main) await runTask(() => main(Deno.args));
