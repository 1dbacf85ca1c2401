// deno task prepare --data D [--labels CSV] --out C [--workers N] [--limit N]
// Decodes and crops every image of D once into the cache C (images.npy + index.json), so later tasks read
// pixels instead of decoding JPEGs. Interrupted runs resume.
import { type Flags, intArg, parseCli, runTask } from "../src/cli/cli.ts";
import { prepareCache, type PrepareProgress } from "../src/data/cache.ts";
import { defaultWorkerCount } from "../src/data/pool.ts";
import { createProgress, type Progress } from "../src/io/progress.ts";
import { MODEL_DATA_FLAGS } from "../src/cli/task_flags.ts";

const PREPARE_FLAGS = {
  data: {
    type: "string",
    required: true,
    help: "image folder (ImageNet-val, ImageFolder, plain)",
  },
  labels: MODEL_DATA_FLAGS.labels,
  out: { type: "string", required: true, help: "cache folder (images.npy + index.json)" },
  workers: { type: "string", help: "decode workers (default: CPU cores)" },
  limit: { type: "string", help: "prepare only the first N images" },
} satisfies Flags;

function duration(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, "0")}m` : m ? `${m}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

export async function main(argv: string[]): Promise<void> {
  const values = parseCli(
    "prepare",
    "Decodes and crops every image once into a cache that later tasks read instead of JPEGs.",
    PREPARE_FLAGS,
    argv,
  );
  const workers = intArg("workers", values.workers, 0) ?? defaultWorkerCount();
  const limit = intArg("limit", values.limit, 1);

  let progress: Progress | undefined;
  let reported = 0;
  const report = (p: PrepareProgress) => {
    if (!progress) {
      progress = createProgress("prepare", p.total);
      progress.resumeFrom(p.resumedFrom);
      reported = p.resumedFrom;
    }
    progress.tick(p.done - reported);
    reported = p.done;
  };

  const summary = await prepareCache({
    data: values.data as string,
    labels: values.labels as string | undefined,
    out: values.out as string,
    workers,
    limit,
    onProgress: report,
    progressIntervalMs: 200,
    onListing: (listing) => {
      const labelled = listing.classNames ? `, ${listing.classNames.length} classes` : ", no labels";
      console.error(
        `prepare: ${listing.entries.length} images in ${listing.root} (${listing.layout}${labelled}), ` +
          `${workers} workers`,
      );
      for (const note of listing.notes) console.error(`prepare: note: ${note}`);
    },
  });
  progress?.stop();
  if (summary.upToDate) {
    console.error(`prepare: ${summary.out} is already up to date (${summary.images} images)`);
  } else {
    const resumed = summary.resumedFrom ? `, resumed after ${summary.resumedFrom}` : "";
    console.error(
      `prepare: wrote ${summary.images} images to ${summary.out} in ${duration(summary.seconds)}${resumed}`,
    );
  }
  if (summary.failures.length) {
    console.error(`prepare: ${summary.failures.length} files could not be used (listed in index.json):`);
    for (const f of summary.failures.slice(0, 20)) console.error(`  ${f.path}: ${f.reason}`);
    if (summary.failures.length > 20) console.error(`  ... and ${summary.failures.length - 20} more`);
  }
}

if (import.meta.main) await runTask(() => main(Deno.args), "prepare");
