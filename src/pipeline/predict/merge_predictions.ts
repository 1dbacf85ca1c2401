// `deno task merge` for predict: the shards' images joined in shard order (each shard holds whole batches of
// one run, in order), the summary and the skipped list recomputed over all of them, predictions.npy rewritten.
import { join } from "node:path";
import { readJsonIfExists } from "../../io/atomic.ts";
import {
  checkParts,
  type PartManifest,
  refuseUnfinishedPart,
  unshard,
  writeMergedManifest,
} from "../../io/shard_parts.ts";
import { type PredictionsFile, skippedImages, summarize, writePredictions } from "./predict.ts";

/** Reads a predict shard's predictions.json (its manifest is inside); undefined when the folder has none. */
export function readPredictPart(dir: string): Promise<PredictionsFile | undefined> {
  return readJsonIfExists<PredictionsFile>(join(dir, "predictions.json"));
}

export async function mergePredictions(dirs: string[], out: string): Promise<PredictionsFile> {
  const files = new Map<string, PredictionsFile>();
  for (const dir of dirs) {
    const file = await readPredictPart(dir);
    if (!file) throw new Error(`--parts ${dir}: no predictions.json`);
    await refuseUnfinishedPart(dir, "predict");
    files.set(dir, file);
  }
  const parts = checkParts(
    dirs.map((dir) => ({ dir, manifest: files.get(dir)!.manifest as PartManifest })),
    "predict",
  );
  const first = files.get(parts[0].dir)!;
  const images = parts.flatMap((p) => files.get(p.dir)!.images);
  const count = (first.manifest as { data?: { count?: number } }).data?.count;
  if (count !== undefined && images.length !== count) {
    throw new Error(`--parts: the shards hold ${images.length} images, the data has ${count}`);
  }
  // Throughput of the parts together as if run one after another: total images over total time.
  const seconds = parts.reduce((t, p) => {
    const s = files.get(p.dir)!.summary;
    return t + s.images / Math.max(s.imagesPerSecond, 1e-9);
  }, 0);
  const merged: PredictionsFile = {
    manifest: unshard(first.manifest, parts[0].shard.out, out),
    summary: summarize(images, images.length / Math.max(seconds, 1e-9)),
    ...(first.classNames ? { classNames: first.classNames } : {}),
    notes: first.notes,
    skipped: skippedImages(images),
    images,
  };
  await writePredictions(out, merged);
  await writeMergedManifest(parts, out);
  return merged;
}
