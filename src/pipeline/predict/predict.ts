// Predictions over a dataset: top-5 per image, accuracy when labels exist, resumable, written atomically.
import { join } from "node:path";
import { openDataset } from "../../data/dataset.ts";
import { Classifier, softmaxRows, topK } from "../../model/classifier.ts";
import type { EpChoice } from "../../runtime/ort.ts";
import { buildManifest } from "../../io/manifest.ts";
import { readJsonIfExists, writeJsonAtomic } from "../../io/atomic.ts";
import { readNpy, writeNpy } from "../../io/npy.ts";
import { createProgress } from "../../io/progress.ts";
import { classNamesFor } from "../../data/class_names.ts";

export interface PredictOptions {
  model: string;
  data: string;
  out: string;
  labels?: string;
  batch?: number;
  limit?: number;
  ep?: EpChoice;
  workers?: number;
  /** Checkpoint every this many batches. */
  checkpointEvery?: number;
}

export interface ImagePrediction {
  path: string;
  label: number | null;
  /** Predicted class (top-1), or -1 if the image could not be read. */
  predicted: number;
  top5: { class: number; name?: string; p: number }[];
  error?: string;
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
  images: ImagePrediction[];
}

interface Checkpoint {
  key: string;
  images: ImagePrediction[];
}

export async function predictDataset(opts: PredictOptions): Promise<PredictionsFile> {
  const batch = opts.batch ?? 16;
  const dataset = await openDataset(opts.data, {
    labels: opts.labels,
    workers: opts.workers,
    limit: opts.limit,
  });
  const classifier = await Classifier.open(opts.model, { ep: opts.ep ?? "auto" });
  try {
    const names = classNamesFor(classifier.numClasses, dataset.classNames);
    const manifest = await buildManifest({
      task: "predict",
      model: { path: opts.model, sha256: classifier.sha256 },
      data: { path: opts.data, count: dataset.size, files: dataset.entries.map((e) => e.path) },
      device: classifier.device,
      settings: { batch, limit: opts.limit ?? null, labels: opts.labels ?? null },
    });
    const key = JSON.stringify([classifier.sha256, (manifest.data as { listSha256: string }).listSha256]);
    const checkpointPath = join(opts.out, ".predict-checkpoint.json");
    const checkpoint = await readJsonIfExists<Checkpoint>(checkpointPath);
    const images: ImagePrediction[] = checkpoint?.key === key ? checkpoint.images : [];
    const progress = createProgress("predict", dataset.size);
    if (images.length) {
      console.error(`resuming after ${images.length} images from ${checkpointPath}`);
      progress.resumeFrom(images.length);
    }
    const started = performance.now();
    const resumedAt = images.length;
    let batches = 0;
    for (let start = images.length; start < dataset.size; start += batch) {
      const count = Math.min(batch, dataset.size - start);
      const read = await dataset.readBatch(start, count);
      const { logits } = await classifier.forward(read.images, count);
      const probs = softmaxRows(logits!, classifier.numClasses);
      for (let i = 0; i < count; i++) {
        const entry = dataset.entries[start + i];
        const failure = read.failures.find((f) => f.index === start + i);
        if (!read.ok[i]) {
          images.push({
            path: entry.path,
            label: entry.label,
            predicted: -1,
            top5: [],
            error: failure?.reason,
          });
          continue;
        }
        const row = probs.subarray(i * classifier.numClasses, (i + 1) * classifier.numClasses);
        const top = topK(row, Math.min(5, classifier.numClasses));
        images.push({
          path: entry.path,
          label: entry.label,
          predicted: top[0],
          top5: top.map((c) => ({ class: c, ...(names ? { name: names[c] } : {}), p: row[c] })),
        });
      }
      progress.tick(count);
      if (++batches % (opts.checkpointEvery ?? 50) === 0) {
        await writeJsonAtomic(checkpointPath, { key, images });
      }
    }
    progress.stop();
    const seconds = (performance.now() - started) / 1000;
    const result: PredictionsFile = {
      manifest,
      summary: summarize(images, (images.length - resumedAt) / Math.max(seconds, 1e-9)),
      ...(names ? { classNames: names } : {}),
      images,
    };
    await writeJsonAtomic(join(opts.out, "predictions.json"), result);
    await writeNpy(join(opts.out, "predictions.npy"), Int32Array.from(images.map((p) => p.predicted)), [
      images.length,
    ]);
    await Deno.remove(checkpointPath).catch(() => {});
    return result;
  } finally {
    await classifier.release();
    dataset.close();
  }
}

function summarize(images: ImagePrediction[], imagesPerSecond: number): PredictionsFile["summary"] {
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
