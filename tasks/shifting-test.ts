// deno task shifting-test --model M --data D --layer L --hyperplanes H --out S [--offsets 0,-0.5,..] ...:
// the paper's shifting test (Table 3, Figure 3).
import { choiceArg, floatArg, intArg, parseCli, runTask } from "../src/cli/cli.ts";
import { PAPER_ATTRIBUTION } from "../src/pipeline/attribute/attributor.ts";
import { parseOffsets, shiftingTest } from "../src/pipeline/contrast/sanity_checks/shifting.ts";
import { runContrastTest } from "../src/pipeline/contrast/sanity_checks/contrast_test_run.ts";
import {
  CONTRAST_TEST_FLAGS,
  contrastOptionsFromArgs,
} from "../src/pipeline/contrast/sanity_checks/contrast_flags.ts";
import { parseShard, SHARD_FLAG } from "../src/cli/shard.ts";

export async function main(argv: string[]): Promise<void> {
  const a = parseCli(
    "shifting-test",
    "Shifts class i's activations along the (i, j) hyperplane normal, ReLU(a - n_ij * offset) (on a " +
      "transformer block, every token by a - n_ij * offset, unclipped unless --tokens reference), finishes the " +
      "forward pass from the layer and reports the mean softmax per offset: does p(j) rise? Pairs are sampled " +
      "as the reference does (per run: i drawn --draws times, j --others times each, in 1..K-1).",
    {
      ...CONTRAST_TEST_FLAGS,
      offsets: {
        type: "string",
        default: "0,-0.5,-1,-2,-10,-15,-20,-35,-50,-200",
        help: "offsets along the normal, starting with 0 (the reference's list)",
      },
      region: {
        type: "string",
        default: "all",
        help: "where to shift: all (every position, Table 3) | attribution (where class i's attribution " +
          "mean, without ReLU as the reference, exceeds --cutoff x the image max)",
      },
      cutoff: { type: "string", default: "0.25", help: "--region attribution: fraction of the image max" },
      samples: {
        type: "string",
        default: String(PAPER_ATTRIBUTION.samples),
        help: "--region attribution: DeepLift noise-tunnel samples per image",
      },
      sigma: {
        type: "string",
        default: String(PAPER_ATTRIBUTION.sigma),
        help: "--region attribution: noise std (normalized units)",
      },
      "attribution-cache": {
        type: "string",
        help: "--region attribution: the attribution cache shared with concepts and contrast-vectors",
      },
      ...SHARD_FLAG,
    },
    argv,
  );
  const test = shiftingTest(
    parseOffsets(a.offsets as string),
    choiceArg("region", a.region, ["all", "attribution"]),
    floatArg("cutoff", a.cutoff)!,
  );
  const attribution = {
    settings: {
      ...PAPER_ATTRIBUTION,
      samples: intArg("samples", a.samples)!,
      sigma: floatArg("sigma", a.sigma)!,
    },
    cache: a["attribution-cache"] as string | undefined,
  };
  const report = await runContrastTest(test, {
    ...(await contrastOptionsFromArgs(a)),
    attribution,
    shard: parseShard(a.shard),
  });
  console.log(report.table);
  console.log(`records, summary and figures: ${a.out}/shifting_test.json, shifting_run<r>.jpg`);
}

if (import.meta.main) await runTask(() => main(Deno.args));
