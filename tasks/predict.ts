// deno task predict --model M --data D --out O [--batch N] [--limit N] [--ep webgpu|wasm]
import { choiceArg, intArg, parseCli, runTask } from "../src/cli.ts";
import { predictDataset } from "../src/predict.ts";
import { EP_CHOICES } from "../src/runtime/ort.ts";
import { MODEL_DATA_FLAGS, RUN_ENV_FLAGS } from "../src/task_flags.ts";

await runTask(async () => {
  const a = parseCli(
    "predict",
    "Predicts every image of a dataset: O/predictions.json and O/predictions.npy.",
    {
      ...MODEL_DATA_FLAGS,
      out: { type: "string", required: true, help: "output folder" },
      batch: { type: "string", default: "16", help: "images per forward pass" },
      workers: { type: "string", help: "decode workers (default: CPU cores)" },
      ...RUN_ENV_FLAGS,
    },
  );
  const result = await predictDataset({
    model: a.model as string,
    data: a.data as string,
    labels: a.labels as string | undefined,
    out: a.out as string,
    batch: intArg("batch", a.batch),
    limit: intArg("limit", a.limit),
    workers: intArg("workers", a.workers),
    ep: choiceArg("ep", a.ep, EP_CHOICES),
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
  console.log(`wrote ${a.out}/predictions.json and ${a.out}/predictions.npy`);
});
