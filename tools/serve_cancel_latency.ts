// Cancel latency of the explorer's contrast job, in-process (no HTTP or curl in the way): a "why A, not B"
// job (k = 3, at most 10 images, --both: what POST /api/contrast runs) on the explorer's JobQueue, cancelled
// `delay` ms after it started running, for a list of delays; prints, per delay, the time from the cancel to
// the job's end, and the median over the cancels that took effect. Dev-time measurement for issue 22.
//
//   deno run -A tools/serve_cancel_latency.ts [--run out/demo] [--a 2 --b 4] [--delays 0,50,100,...]
//
// The run needs the demo's outputs (predictions, hyperplanes, the cache as data); the outputs go to a
// temporary folder. Runs on an older checkout with --no-check (the job's signal is then not passed on).
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { JobQueue } from "../src/pipeline/serve/job_queue.ts";
import { whyNot } from "../src/pipeline/contrast/why_not/why_not.ts";
import { readHyperplanes } from "../src/pipeline/contrast/hyperplanes/hyperplanes_io.ts";

const { values } = parseArgs({
  options: {
    run: { type: "string", default: "out/demo" },
    a: { type: "string", default: "2" },
    b: { type: "string", default: "4" },
    delays: { type: "string", default: "0,50,100,150,200,250,300,350,400,450,500,600,700,800" },
  },
});
const run = resolve(values.run!);
const a = Number(values.a), b = Number(values.b);
const index = JSON.parse(await Deno.readTextFile(join(run, "hyperplanes", "hyperplanes.json")));
const predictManifest =
  JSON.parse(await Deno.readTextFile(join(run, "predictions", "predictions.json"))).manifest;
const model: string = predictManifest.model.path;
const data: string = predictManifest.data.path;
const set = await readHyperplanes(join(run, "hyperplanes"), { classes: [a, b] });
const out = await Deno.makeTempDir({ prefix: "cancel_latency_" });
const queue = new JobQueue();

const contrast = (signal?: AbortSignal) =>
  whyNot({
    model,
    data,
    layer: index.layer,
    hyperplanes: { source: join(run, "hyperplanes"), set },
    predictions: join(run, "predictions"),
    classA: a,
    classB: b,
    both: true,
    k: 3,
    maxImages: 10,
    out,
    signal,
  });

// One uncancelled job first: warm caches, and the job's length.
let t = performance.now();
await contrast();
console.log(`contrast ${a},${b} uncancelled: ${(performance.now() - t).toFixed(0)} ms`);
const latencies: number[] = [];
for (const delay of values.delays!.split(",").map(Number)) {
  let cancelledAt = 0;
  const job = queue.submit("contrast", "latency", (job) => {
    setTimeout(() => {
      cancelledAt = performance.now();
      queue.cancel(job.id);
    }, delay);
    return contrast((job as { signal?: AbortSignal }).signal);
  });
  t = performance.now();
  await job.finished;
  const end = performance.now();
  const after = job.status === "cancelled" ? end - cancelledAt : undefined;
  if (after !== undefined) latencies.push(after);
  console.log(
    `cancel at ${delay} ms: ${job.status} ${
      after === undefined ? "" : `${after.toFixed(0)} ms after the cancel`
    }` +
      ` (job ${(end - t).toFixed(0)} ms)`,
  );
}
latencies.sort((x, y) => x - y);
const mid = latencies.length >> 1;
const median = latencies.length % 2 ? latencies[mid] : (latencies[mid - 1] + latencies[mid]) / 2;
console.log(
  `median cancel latency ${median.toFixed(0)} ms, max ${
    latencies.at(-1)?.toFixed(0)
  } ms (n = ${latencies.length})`,
);
await Deno.remove(out, { recursive: true });
