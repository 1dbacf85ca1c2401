// deno task masking-test --model M --data D --layer L --hyperplanes H --out S [--replacement 0] ...: the
// reference's masking test: keep only the most j-like positions of class i's images, level by level.
import { floatArg, parseCli, runTask } from "../src/cli/cli.ts";
import { maskingTest } from "../src/pipeline/contrast/sanity_checks/masking.ts";
import { runContrastTest } from "../src/pipeline/contrast/sanity_checks/contrast_test_run.ts";
import {
  CONTRAST_TEST_FLAGS,
  contrastOptionsFromArgs,
} from "../src/pipeline/contrast/sanity_checks/contrast_flags.ts";

export async function main(argv: string[]): Promise<void> {
  const a = parseCli(
    "masking-test",
    "Per pair (i, j): the distance a . n + b of every position of class i's images to the hyperplane, 10 " +
      "global quantile thresholds, 11 masks (level 0 = whole image, level k keeps positions at or above " +
      "threshold k), upsampled (nearest) to the input; masked pixels take --replacement (normalized space). " +
      "Reports the mean softmax per level. The reference's masking driver passes an argument its function " +
      "does not take; this runs what it evidently meant: those quantile masks, replacement 0.",
    {
      ...CONTRAST_TEST_FLAGS,
      replacement: { type: "string", default: "0", help: "value of masked pixels in normalized space" },
    },
    argv,
  );
  // Any value in normalized space, negative ones included; a blank one is refused, not read as 0.
  const replacement = floatArg("replacement", a.replacement, -Infinity)!;
  const report = await runContrastTest(maskingTest(replacement), await contrastOptionsFromArgs(a));
  console.log(report.table);
  console.log(`records, summary and figures: ${a.out}/masking_test.json, masking_run<r>.jpg`);
}

if (import.meta.main) await runTask(() => main(Deno.args));
