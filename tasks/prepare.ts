// deno task prepare --data D [--labels CSV] --out C [--workers N] [--limit N]
// Decodes and crops every image of D once into the cache C (images.npy + index.json), so later tasks read
// pixels instead of decoding JPEGs. Interrupted runs resume.
import { parseArgs } from "node:util";
import { prepareCache, type PrepareProgress } from "../src/data/cache.ts";
import { defaultWorkerCount } from "../src/data/pool.ts";
import { createProgress, type Progress } from "../src/io/progress.ts";

const USAGE = "usage: deno task prepare --data DIR [--labels LOC_val_solution.csv] --out CACHE_DIR " +
  "[--workers N] [--limit N]";

function positiveInt(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    throw new Error(`--${name} must be an integer >= ${min}, got '${text}'`);
  }
  return n;
}

function duration(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, "0")}m` : m ? `${m}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        data: { type: "string" },
        labels: { type: "string" },
        out: { type: "string" },
        workers: { type: "string" },
        limit: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.data || !values.out) {
    console.error(`--data and --out are required\n${USAGE}`);
    return 2;
  }
  const workers = positiveInt("workers", values.workers, 0) ?? defaultWorkerCount();
  const limit = positiveInt("limit", values.limit, 1);

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
    data: values.data,
    labels: values.labels,
    out: values.out,
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
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error(`prepare: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
