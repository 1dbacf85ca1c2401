// deno task component-test --model M --data D --concepts O1 --out O [--layer L] [--classes 0,5,10-12]
import { parseCli, runTask } from "../src/cli/cli.ts";
import { formatComponentTable, runComponentTest } from "../src/pipeline/component_test/component_test_run.ts";
import { classesArg, RUN_FLAGS, runOptionsFromArgs } from "../src/pipeline/search/run_flags.ts";
import { skippedLine } from "../src/io/skipped.ts";
import { parseShard, SHARD_FLAG } from "../src/cli/shard.ts";

export async function main(argv: string[]): Promise<void> {
  const a = parseCli(
    "component-test",
    "Component prediction test: each class's prototype crops stacked into one image and classified, with crops\n" +
      "from all images and from images not predicted as the class. Writes O/component_test.json and\n" +
      "O/composites/<class>_all.jpg, _excluded.jpg. On a transformer's token tap the crops lie on a 224 px canvas,\n" +
      "patch-aligned; with --crop-patches P each is P x P patches and takes a P x P-patch cell of the canvas\n" +
      "(refused when the k crops do not fit, e.g. k > 4 at P = 3 on B/32).",
    {
      ...RUN_FLAGS,
      classes: {
        type: "string",
        help: "classes: indices, ranges, names, e.g. 0,5,10-12 (default: every class with concepts)",
      },
      composites: {
        type: "boolean",
        default: true,
        help: "save the composites as JPEGs (--no-composites: off)",
      },
      "no-composites": { type: "boolean", help: "do not save the composites" },
      ...SHARD_FLAG,
    },
    argv,
  );
  const opts = runOptionsFromArgs(a);
  const report = await runComponentTest({
    ...opts,
    classes: await classesArg(a.classes, opts),
    saveComposites: !a["no-composites"],
    shard: parseShard(a.shard),
  });
  console.log(formatComponentTable(report));
  const t = report.timing;
  console.log(
    `\nsearch ${t.imagesPerSecond.toFixed(1)} img/s (${t.searchDevice}); ` +
      `composites ${t.compositesPerSecond.toFixed(1)}/s (${t.modelDevice})`,
  );
  const skipped = skippedLine(report.skipped, `${a.out}/component_test.json`);
  if (skipped) console.log(skipped);
  console.log(`wrote ${a.out}/component_test.json`);
}

if (import.meta.main) await runTask(() => main(Deno.args));
