// The inputs of a run of the search stage and the stages after it (component-test, visualize, explain): the
// dataset, the concepts, and the predictions that decide which images count as another class's.
import { join, resolve } from "node:path";
import { type Dataset, openDataset } from "../../data/dataset.ts";
import { type Concepts, readConcepts } from "../concepts/read_concepts.ts";
import { Classifier } from "../../model/classifier.ts";
import { sha256Hex } from "../../onnx/model.ts";
import type { EpChoice } from "../../runtime/ort.ts";
import { predictDataset, readPredictedClasses } from "../predict/predict.ts";
import { exists, readJsonIfExists } from "../../io/atomic.ts";
import { UsageError } from "../../cli/cli.ts";

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
  close(): void;
}

/** Opens the dataset, reads the concepts (only `classes` if given) and finds or computes the predictions. */
export async function openRun(opts: RunOptions): Promise<Run> {
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
  if (concepts.modelSha256) {
    const sha = await sha256Hex(await Deno.readFile(opts.model));
    if (sha !== concepts.modelSha256) {
      console.error(
        `warning: ${opts.concepts} was computed from another model (sha256 ${
          concepts.modelSha256.slice(0, 12)
        }…, ` +
          `--model has ${sha.slice(0, 12)}…)`,
      );
    }
  }
  const { predicted, from } = await resolvePredictions(opts);
  const dataset = await openDataset(opts.data, {
    labels: opts.labels,
    workers: opts.workers,
    limit: opts.limit,
  });
  try {
    await checkPredictions(from, predicted, dataset);
  } catch (e) {
    dataset.close();
    throw e;
  }
  return { opts, layer, dataset, concepts, predicted, predictionsFrom: from, close: () => dataset.close() };
}

async function resolvePredictions(opts: RunOptions): Promise<{ predicted: Int32Array; from: string }> {
  const given = opts.predictions ?? join(opts.concepts, "predictions");
  if (await exists(join(given, "predictions.npy"))) {
    return { predicted: await readPredictedClasses(given), from: given };
  }
  if (opts.predictions) {
    throw new Error(`--predictions ${opts.predictions}: no predictions.npy in that folder`);
  }
  const out = join(opts.out, "predictions");
  if (!(await exists(join(out, "predictions.npy")))) {
    console.error(`no predictions in ${given}: predicting the dataset into ${out}`);
    await predictDataset({
      model: opts.model,
      data: opts.data,
      out,
      labels: opts.labels,
      limit: opts.limit,
      ep: opts.ep,
      workers: opts.workers,
      batch: opts.batch,
    });
  }
  return { predicted: await readPredictedClasses(out), from: out };
}

/** The predictions must be for this dataset: as many images, same files in the same order (when recorded). */
async function checkPredictions(dir: string, predicted: Int32Array, dataset: Dataset): Promise<void> {
  if (predicted.length < dataset.size) {
    throw new Error(
      `${dir}/predictions.npy: ${predicted.length} predictions, but ${dataset.root} has ${dataset.size} images`,
    );
  }
  const json = await readJsonIfExists<{ images?: { path: string }[] }>(join(dir, "predictions.json"));
  if (!json?.images) return;
  for (let i = 0; i < dataset.size; i++) {
    if (resolve(json.images[i]?.path ?? "") !== resolve(dataset.entries[i].path)) {
      throw new Error(
        `${dir}: predictions are for other images (image ${i} is ${json.images[i]?.path}, the dataset has ` +
          `${dataset.entries[i].path}); pass --predictions or delete the folder to predict again`,
      );
    }
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
