// Predictions over a dataset: top-5 per image, accuracy when labels exist, resumable, written atomically.
// The checkpoint is keyed on the inputs' identity (model hash, every image's stamp), saved every
// `checkpointEvery` batches and every `checkpointSeconds`, and a corrupt one is redone.
import { join } from "node:path";
import { openDataset } from "../../data/dataset.ts";
import { Classifier, softmaxRows, topK } from "../../model/classifier.ts";
import type { EpChoice } from "../../runtime/ort.ts";
import { buildManifest, completeManifest, refuseOtherKind, startManifest } from "../../io/manifest.ts";
import { readJsonOrRedo, writeJsonAtomic } from "../../io/atomic.ts";
import { readNpy, writeNpy } from "../../io/npy.ts";
import { createProgress } from "../../io/progress.ts";
import { classCountNote, classNamesFor } from "../../data/class_names.ts";
import { withOutDir } from "../../io/out_dir.ts";
import { assertSameIdentity, dataIdentity, dataStamps, type RunIdentity } from "../../io/run_identity.ts";
import type { SkippedImage } from "../../io/skipped.ts";
import { type Shard, shardRange, shardSetting } from "../../cli/shard.ts";

export interface PredictOptions {
  model: string;
  data: string;
  out: string;
  labels?: string;
  batch?: number;
  limit?: number;
  ep?: EpChoice;
  workers?: number;
  /** Checkpoint every this many batches (default 50)... */
  checkpointEvery?: number;
  /** ...and whenever this many seconds passed since the last one (default 30). */
  checkpointSeconds?: number;
  /** Discard a checkpoint made from other inputs instead of refusing. */
  fresh?: boolean;
  /** Predict only this part of the images (whole batches; `deno task merge` joins the parts). */
  shard?: Shard;
  /** Called after each batch (and its checkpoint) with the images done so far. */
  onBatch?: (done: number) => void;
}

export interface ImagePrediction {
  path: string;
  label: number | null;
  /** Predicted class (top-1), or -1 if the image could not be read. */
  predicted: number;
  top5: { class: number; name?: string; p: number }[];
  error?: string;
  /** A remark on an image that was read (e.g. a 16-bit gray PNG that PIL turns white). */
  warning?: string;
  /** The file's stamp when predicted (io/run_identity.ts), so later stages can check it is still the same. */
  stamp: string;
}

export interface PredictionsFile {
  manifest: Record<string, unknown>;
  summary: {
    images: number;
    predicted: number;
    failures: { path: string; reason: string }[];
    top1Accuracy?: number;
    top5Accuracy?: number;
    imagesPerSecond: number;
    classesPredicted: number;
  };
  classNames?: string[];
  /** Remarks on the data (ignored files, a class count other than the model's). */
  notes: string[];
  /** Unreadable images (the same list as summary.failures, in every task's format). */
  skipped: SkippedImage[];
  images: ImagePrediction[];
}

interface Checkpoint {
  identity: RunIdentity;
  images: ImagePrediction[];
}

export const CHECKPOINT_FILE = ".predict-checkpoint.json";

export function predictDataset(opts: PredictOptions): Promise<PredictionsFile> {
  return withOutDir(opts.out, "predict", () => predictIn(opts));
}

async function predictIn(opts: PredictOptions): Promise<PredictionsFile> {
  const batch = opts.batch ?? 16;
  const dataset = await openDataset(opts.data, {
    labels: opts.labels,
    workers: opts.workers,
    limit: opts.limit,
  });
  const classifier = await Classifier.open(opts.model, { ep: opts.ep ?? "auto" }).catch((e) => {
    dataset.close();
    throw e;
  });
  try {
    const names = classNamesFor(classifier.numClasses, dataset.classNames);
    const notes = [...dataset.notes];
    const classNote = classCountNote(classifier.numClasses, dataset.classNames);
    if (classNote) notes.push(classNote);
    for (const note of notes) console.error(`note: ${note}`);
    const stamps = await dataStamps(dataset);
    const identity: RunIdentity = {
      model: classifier.sha256,
      settings: shardSetting(opts.shard),
      data: await dataIdentity(dataset, stamps),
    };
    const manifest = await buildManifest({
      task: "predict",
      model: { path: opts.model, sha256: classifier.sha256 },
      data: { path: opts.data, count: dataset.size, files: dataset.entries.map((e) => e.path) },
      device: classifier.device,
      settings: {
        batch,
        limit: opts.limit ?? null,
        labels: opts.labels ?? null,
        ...shardSetting(opts.shard),
      },
      identity,
      ...(opts.shard ? { shard: { ...opts.shard, out: opts.out } } : {}),
    });
    // Resumable through its checkpoint (keyed on the identity), so nothing is removed: the manifest only says
    // from here on that the folder's predictions are not finished.
    await refuseOtherKind(opts.out, "predict");
    await startManifest(opts.out, manifest);
    const { start: first, end } = shardImages(dataset.size, batch, opts.shard);
    const checkpointPath = join(opts.out, CHECKPOINT_FILE);
    const checkpoint = await readJsonOrRedo<Checkpoint>(checkpointPath, "predict checkpoint");
    if (checkpoint && !opts.fresh) assertSameIdentity(checkpoint.identity, identity, checkpointPath);
    const images: ImagePrediction[] = checkpoint && !opts.fresh ? checkpoint.images : [];
    const progress = createProgress("predict", end - first);
    if (images.length) {
      console.error(`resuming after ${images.length} images from ${checkpointPath}`);
      progress.resumeFrom(images.length);
    }
    const started = performance.now();
    const resumedAt = images.length;
    let batches = 0;
    let lastCheckpoint = performance.now();
    for (let start = first + images.length; start < end; start += batch) {
      const count = Math.min(batch, end - start);
      const read = await dataset.readBatch(start, count);
      const { logits } = await classifier.forward(read.images, count);
      const probs = softmaxRows(logits!, classifier.numClasses);
      for (let i = 0; i < count; i++) {
        const entry = dataset.entries[start + i];
        const failure = read.failures.find((f) => f.index === start + i);
        const stamp = stamps[start + i];
        if (!read.ok[i]) {
          images.push({
            path: entry.path,
            label: entry.label,
            predicted: -1,
            top5: [],
            error: failure?.reason ?? "unreadable",
            stamp,
          });
          continue;
        }
        const warning = read.warnings?.find((w) => w.index === start + i)?.warning;
        const row = probs.subarray(i * classifier.numClasses, (i + 1) * classifier.numClasses);
        const top = topK(row, Math.min(5, classifier.numClasses));
        images.push({
          path: entry.path,
          label: entry.label,
          predicted: top[0],
          top5: top.map((c) => ({ class: c, ...(names ? { name: names[c] } : {}), p: row[c] })),
          ...(warning ? { warning } : {}),
          stamp,
        });
      }
      progress.tick(count);
      const due = performance.now() - lastCheckpoint >= (opts.checkpointSeconds ?? 30) * 1000;
      if (++batches % (opts.checkpointEvery ?? 50) === 0 || due) {
        await writeJsonAtomic(checkpointPath, { identity, images } satisfies Checkpoint);
        lastCheckpoint = performance.now();
      }
      opts.onBatch?.(images.length);
    }
    progress.stop();
    const seconds = (performance.now() - started) / 1000;
    const result: PredictionsFile = {
      manifest,
      summary: summarize(images, (images.length - resumedAt) / Math.max(seconds, 1e-9)),
      ...(names ? { classNames: names } : {}),
      notes,
      skipped: skippedImages(images, first),
      images,
    };
    await writePredictions(opts.out, result);
    await Deno.remove(checkpointPath).catch(() => {});
    await completeManifest(opts.out, manifest, PREDICTIONS_OUTPUTS);
    return result;
  } finally {
    await classifier.release();
    dataset.close();
  }
}

/**
 * The images a shard predicts: whole batches of one run, so every image is batched with the same neighbours
 * as in one run and the shards' outputs join into exactly one run's.
 */
export function shardImages(
  size: number,
  batch: number,
  shard: Shard | undefined,
): { start: number; end: number } {
  const r = shardRange(Math.ceil(size / batch), shard);
  return { start: Math.min(size, r.start * batch), end: Math.min(size, r.end * batch) };
}

/** The unreadable images, indexed in the dataset (`first`: the dataset index of images[0]). */
export function skippedImages(images: ImagePrediction[], first = 0): SkippedImage[] {
  return images.flatMap((p, i) =>
    p.predicted < 0 ? [{ index: first + i, path: p.path, reason: p.error ?? "unreadable" }] : []
  );
}

/** The files of a predictions folder (besides its manifest). */
export const PREDICTIONS_OUTPUTS = ["predictions.json", "predictions.npy"];

/** Writes a predictions folder: predictions.json and predictions.npy (the predicted class per image). */
export async function writePredictions(out: string, result: PredictionsFile): Promise<void> {
  await writeJsonAtomic(join(out, "predictions.json"), result);
  const predicted = Int32Array.from(result.images.map((p) => p.predicted));
  await writeNpy(join(out, "predictions.npy"), predicted, [predicted.length]);
}

export function summarize(images: ImagePrediction[], imagesPerSecond: number): PredictionsFile["summary"] {
  const ok = images.filter((p) => p.predicted >= 0);
  const labelled = ok.filter((p) => p.label !== null);
  const classes = new Set(ok.map((p) => p.predicted));
  return {
    images: images.length,
    predicted: ok.length,
    failures: images.filter((p) => p.predicted < 0).map((p) => ({
      path: p.path,
      reason: p.error ?? "unreadable",
    })),
    ...(labelled.length
      ? {
        top1Accuracy: labelled.filter((p) => p.predicted === p.label).length / labelled.length,
        top5Accuracy: labelled.filter((p) => p.top5.some((t) => t.class === p.label)).length /
          labelled.length,
      }
      : {}),
    imagesPerSecond,
    classesPredicted: classes.size,
  };
}

/** The predicted class per image from a predictions folder (predictions.npy), -1 for unreadable images. */
export async function readPredictedClasses(dir: string): Promise<Int32Array> {
  const arr = await readNpy(join(dir, "predictions.npy"));
  if (arr.dtype !== "<i4" || arr.shape.length !== 1) {
    throw new Error(`${dir}/predictions.npy: expected a 1-D int32 array, got ${arr.dtype} [${arr.shape}]`);
  }
  return arr.data as Int32Array;
}
