// deno task predict --model M --data D --out O [--batch N] [--limit N] [--ep auto|webgpu|cpu|wasm]
import { intArg, parseCli, runTask } from "../src/cli/cli.ts";
import { predictDataset } from "../src/pipeline/predict/predict.ts";
import {
  FRESH_FLAG,
  MODEL_DATA_FLAGS,
  modelDataFromArgs,
  RUN_ENV_FLAGS,
  runEnvFromArgs,
} from "../src/cli/task_flags.ts";
import { skippedLine } from "../src/io/skipped.ts";
import { parseShard, SHARD_FLAG } from "../src/cli/shard.ts";

export async function main(argv: string[]): Promise<void> {
  const a = parseCli(
    "predict",
    "Predicts every image of a dataset: O/predictions.json and O/predictions.npy.",
    {
      ...MODEL_DATA_FLAGS,
      out: { type: "string", required: true, help: "output folder" },
      batch: { type: "string", default: "16", help: "images per forward pass" },
      workers: { type: "string", help: "decode workers (default: CPU cores)" },
      ...RUN_ENV_FLAGS,
      ...FRESH_FLAG,
      ...SHARD_FLAG,
    },
    argv,
  );
  const result = await predictDataset({
    ...modelDataFromArgs(a),
    ...runEnvFromArgs(a),
    out: a.out as string,
    batch: intArg("batch", a.batch),
    workers: intArg("workers", a.workers),
    fresh: a.fresh as boolean,
    shard: parseShard(a.shard),
  });
  const s = result.summary;
  console.log(
    `${s.predicted}/${s.images} images predicted, ${s.failures.length} unreadable, ${
      s.imagesPerSecond.toFixed(1)
    } img/s` +
      (s.top1Accuracy !== undefined
        ? `, top-1 ${(100 * s.top1Accuracy).toFixed(2)}%, top-5 ${(100 * s.top5Accuracy!).toFixed(2)}%`
        : ""),
  );
  const skipped = skippedLine(result.skipped, `${a.out}/predictions.json`);
  if (skipped) console.log(skipped);
  const warned = result.images.filter((i) => i.warning).length;
  if (warned) console.log(`${warned} images with a warning (see "warning" in predictions.json)`);
  console.log(`wrote ${a.out}/predictions.json and ${a.out}/predictions.npy`);
}

if (import.meta.main) await runTask(() => main(Deno.args));
