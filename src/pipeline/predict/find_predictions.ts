// The one way later stages get predictions, and so the reader of predict folders: use a folder that holds predictions of exactly these images (same
// model, same files with the same stamps, in order; a longer list whose start matches is fine), else compute
// them for the images the stage uses (its --limit included). Predictions of other images are never used.
import { join, resolve } from "node:path";
import type { Dataset } from "../../data/dataset.ts";
import type { EpChoice } from "../../runtime/ort.ts";
import { exists, readJsonIfExists } from "../../io/atomic.ts";
import { dataStamps, IdentityMismatch, isContentStamp } from "../../io/run_identity.ts";
import { manifestKind, readManifest } from "../../io/manifest.ts";
import { UsageError } from "../../cli/cli.ts";
import type { SkippedImage } from "../../io/skipped.ts";
import { predictDataset, type PredictionsFile, readPredictedClasses } from "./predict.ts";

const shortStamp = (s: string) => s.length > 24 ? `${s.slice(0, 19)}…` : s;

export interface FindPredictionsOptions {
  model: string;
  /** SHA-256 of the model file. */
  modelSha256: string;
  data: string;
  /** The stage's dataset (its --limit applied). */
  dataset: Dataset;
  labels?: string;
  limit?: number;
  ep?: EpChoice;
  workers?: number;
  batch?: number;
  /** A folder the user named (--predictions): it must hold predictions of these images. */
  given?: string;
  /** Folders to try first (e.g. the concepts' predictions); ones made from other inputs are passed over. */
  lookIn?: string[];
  /** Where the stage keeps its own predictions: used when they fit, computed when absent. */
  computeInto: string;
  /** Recompute into `computeInto` even if it holds predictions (of other inputs). */
  fresh?: boolean;
}

export interface FoundPredictions {
  /** Predicted class per dataset image (-1: unreadable). */
  predicted: Int32Array;
  /** The folder they came from. */
  from: string;
  /** Images without a prediction (unreadable when predicted). */
  skipped: SkippedImage[];
}

/** Whether the predict run that writes `dir` has started and not finished (its manifest says so). */
async function unfinished(dir: string): Promise<boolean> {
  const read = await readManifest(dir).catch(() => undefined);
  return read?.manifest.complete === false;
}

/** Why the predictions in `dir` are not of `dataset`'s images by the model; empty when they are. */
export async function predictionsMismatch(
  dir: string,
  modelSha256: string,
  dataset: Dataset,
  stamps: string[],
): Promise<string[]> {
  if (await unfinished(dir)) {
    return ["its run has not finished (manifest.json complete: false; it is still running or was killed)"];
  }
  let file: PredictionsFile | undefined;
  try {
    file = await readJsonIfExists<PredictionsFile>(join(dir, "predictions.json"));
  } catch (e) {
    return [(e as Error).message];
  }
  if (!file?.images) return ["no predictions.json beside predictions.npy"];
  const model = (file.manifest as { model?: { sha256?: string } } | undefined)?.model?.sha256;
  const changes: string[] = [];
  if (model !== modelSha256) changes.push(`they are from another model (sha256 ${model?.slice(0, 12)}…)`);
  if (file.images.length < dataset.size) {
    changes.push(`they cover ${file.images.length} images, the data has ${dataset.size}`);
    return changes;
  }
  for (let i = 0; i < dataset.size; i++) {
    const saved = file.images[i];
    // A content stamp identifies the image wherever it lies (a copied data folder); else the path must agree.
    const sameContent = isContentStamp(saved.stamp) && saved.stamp === stamps[i];
    if (!sameContent && resolve(saved.path) !== resolve(dataset.entries[i].path)) {
      changes.push(
        `they are for other images (image ${i} is ${saved.path}, the data has ${dataset.entries[i].path})`,
      );
      break;
    }
    if (saved.stamp !== stamps[i]) {
      changes.push(
        saved.stamp === undefined
          ? "they record no file stamps (made by an older protoscope)"
          : `${saved.path} changed since it was predicted (${shortStamp(saved.stamp)} then, ${
            shortStamp(stamps[i])
          } now)`,
      );
      break;
    }
  }
  return changes;
}

async function load(dir: string, dataset: Dataset): Promise<FoundPredictions> {
  const all = await readPredictedClasses(dir);
  const predicted = all.slice(0, dataset.size);
  const skipped: SkippedImage[] = [];
  const file = await readJsonIfExists<PredictionsFile>(join(dir, "predictions.json"));
  predicted.forEach((c, index) => {
    if (c >= 0) return;
    const image = file?.images[index];
    skipped.push({ index, path: dataset.entries[index].path, reason: image?.error ?? "unreadable" });
  });
  return { predicted, from: dir, skipped };
}

/** Finds predictions of the stage's images (see the file comment), computing them when none fit. */
export async function findOrComputePredictions(opts: FindPredictionsOptions): Promise<FoundPredictions> {
  const { dataset } = opts;
  const stamps = await dataStamps(dataset);
  const hasNpy = (dir: string) => exists(join(dir, "predictions.npy"));
  if (opts.given) {
    if (!(await hasNpy(opts.given))) {
      // A task folder of another kind is named as such; anything else lacks the file.
      const other = await readManifest(opts.given).catch(() => undefined);
      throw new UsageError(
        `--predictions ${opts.given}: expected a predict folder (predictions.npy, predictions.json), found ` +
          (other ? `a '${manifestKind(other.manifest)}' folder (its manifest.json)` : "no predictions.npy"),
      );
    }
    const changes = await predictionsMismatch(opts.given, opts.modelSha256, dataset, stamps);
    if (changes.length) {
      throw new UsageError(
        `--predictions ${opts.given} does not fit: ${changes.join("; ")}. ` +
          "Predict this data with this model (deno task predict), or omit --predictions",
      );
    }
    return await load(opts.given, dataset);
  }
  for (const dir of opts.lookIn ?? []) {
    if (!(await hasNpy(dir))) continue;
    const changes = await predictionsMismatch(dir, opts.modelSha256, dataset, stamps);
    if (!changes.length) return await load(dir, dataset);
    console.error(`note: not using the predictions in ${dir}: ${changes.join("; ")}`);
  }
  const into = opts.computeInto;
  // An unfinished run of our own is resumed (predict's checkpoint), not refused.
  if (!opts.fresh && await hasNpy(into) && !(await unfinished(into))) {
    const changes = await predictionsMismatch(into, opts.modelSha256, dataset, stamps);
    if (!changes.length) return await load(into, dataset);
    throw new IdentityMismatch(`${into}`, changes);
  }
  console.error(`predictions: computing them into ${into}`);
  await predictDataset({
    model: opts.model,
    data: opts.data,
    out: into,
    labels: opts.labels,
    limit: opts.limit,
    ep: opts.ep,
    workers: opts.workers,
    batch: opts.batch,
    fresh: opts.fresh,
  });
  return await load(into, dataset);
}
