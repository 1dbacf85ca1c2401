// The inputs of a run of the search stage and the stages after it (component-test, visualize, explain): the
// dataset, the concepts, and the predictions that decide which images count as another class's.
import { join } from "node:path";
import { type Dataset, openDataset } from "../../data/dataset.ts";
import { type Concepts, readConcepts } from "../concepts/read_concepts.ts";
import { Classifier } from "../../model/classifier.ts";
import { sha256File } from "../../onnx/model.ts";
import type { EpChoice } from "../../runtime/ort.ts";
import { findOrComputePredictions } from "../predict/find_predictions.ts";
import { claimOutDir } from "../../io/out_dir.ts";
import type { SkippedImage } from "../../io/skipped.ts";
import { UsageError } from "../../cli/cli.ts";
import { checkCropPatchesModel } from "./crop_patches.ts";

/** What the three tasks (component-test, visualize, explain) are given. */
export interface RunOptions {
  model: string;
  data: string;
  /** The tap; defaults to the layer recorded in a protoscope concepts folder. */
  layer?: string;
  concepts: string;
  out: string;
  classes?: number[];
  /** Folder with predictions.npy (+ .json) for the dataset; default <concepts>/predictions, else computed. */
  predictions?: string;
  labels?: string;
  batch?: number;
  limit?: number;
  ep?: EpChoice;
  workers?: number;
  /** Recompute <out>/predictions if it holds predictions of other inputs. */
  fresh?: boolean;
  /** A token hit's crop: the P x P patches centred on it (odd, default 1; crop_patches.ts). CNN taps: 1 only. */
  cropPatches?: number;
}

export interface Run {
  opts: RunOptions;
  layer: string;
  dataset: Dataset;
  concepts: Concepts;
  /** Predicted class per dataset image (-1: unreadable). */
  predicted: Int32Array;
  /** Where the predictions came from. */
  predictionsFrom: string;
  /** Images without a prediction (unreadable): left out of every search. */
  skipped: SkippedImage[];
  /** Closes the dataset and releases --out. */
  close(): Promise<void>;
}

/**
 * Locks --out for `task`, opens the dataset, reads the concepts (only `classes` if given) and finds or computes
 * the predictions. Close the run to release --out.
 */
export async function openRun(opts: RunOptions, task = "search"): Promise<Run> {
  const outDir = await claimOutDir(opts.out, task);
  try {
    return await openRunIn(opts, outDir.release);
  } catch (e) {
    await outDir.release();
    throw e;
  }
}

async function openRunIn(opts: RunOptions, release: () => Promise<void>): Promise<Run> {
  const concepts = await readConcepts(opts.concepts, { classes: opts.classes });
  const layer = opts.layer ?? concepts.layer?.name;
  if (!layer) {
    throw new UsageError(
      `--layer is required: ${opts.concepts} does not record the layer its concepts come from`,
    );
  }
  if (
    opts.layer && concepts.layer && concepts.layer.name !== opts.layer && concepts.layer.tensor !== opts.layer
  ) {
    throw new Error(
      `--layer ${opts.layer}: the concepts in ${opts.concepts} were computed at ${concepts.layer.name}; ` +
        "omit --layer or pass that layer",
    );
  }
  const sha = await sha256File(opts.model);
  if (concepts.modelSha256) {
    if (sha !== concepts.modelSha256) {
      console.error(
        `warning: ${opts.concepts} was computed from another model (sha256 ${
          concepts.modelSha256.slice(0, 12)
        }…, ` +
          `--model has ${sha.slice(0, 12)}…)`,
      );
    }
  }
  // A bad --crop-patches is refused before any compute (predictions may take a pass over the data).
  await checkCropPatchesModel(opts.model, layer, opts.cropPatches ?? 1);
  const dataset = await openDataset(opts.data, {
    labels: opts.labels,
    workers: opts.workers,
    limit: opts.limit,
  });
  try {
    const { predicted, from, skipped } = await findOrComputePredictions({
      ...opts,
      modelSha256: sha,
      dataset,
      given: opts.predictions,
      lookIn: [join(opts.concepts, "predictions")],
      computeInto: join(opts.out, "predictions"),
    });
    return {
      opts,
      layer,
      dataset,
      concepts,
      predicted,
      predictionsFrom: from,
      skipped,
      close: async () => {
        dataset.close();
        await release();
      },
    };
  } catch (e) {
    dataset.close();
    throw e;
  }
}

/** The pass's classifier: the trunk up to the tap, activations left on the GPU with the webgpu EP. */
export function openPassClassifier(model: string, layer: string, ep: EpChoice = "auto"): Promise<Classifier> {
  return Classifier.open(model, { ep, layers: [layer], withLogits: false, tapsOnGpu: true });
}

/** The classifier for crop composites (k * crop x crop inputs): Classifier makes the input size symbolic. */
export function openCompositeClassifier(path: string, ep: EpChoice = "auto"): Promise<Classifier> {
  return Classifier.open(path, { ep });
}
