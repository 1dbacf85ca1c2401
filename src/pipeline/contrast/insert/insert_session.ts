// What both forms of the insert test (one hand-picked crop, and --auto) do around their own work: open the
// data, let the caller validate its arguments against it (before anything is computed or written), then
// claim --out, open the classifier, find the predictions and each class's images (the concepts stage's
// selection), and write the manifest. Resources are released however the run ends.
import { join } from "node:path";
import { type Dataset, openDataset } from "../../../data/dataset.ts";
import { modelClasses } from "../../../model/model_classes.ts";
import { Classifier } from "../../../model/classifier.ts";
import type { EpChoice } from "../../../runtime/ort.ts";
import { buildManifest, completeManifest, startManifest, takeOverOutDir } from "../../../io/manifest.ts";
import { withOutDir } from "../../../io/out_dir.ts";
import { UsageError } from "../../../cli/cli.ts";
import { findOrComputePredictions } from "../../predict/find_predictions.ts";
import { predictedMembers } from "../../attribute/class_attribution.ts";

/** The paper's default: at most 60 images of the receiving class, as the concepts stage. */
export const INSERT_MAX_IMAGES = 60;

export interface InsertSessionOptions {
  model: string;
  data: string;
  labels?: string;
  limit?: number;
  ep?: EpChoice;
  /** An existing predictions folder (default: `<out>/predictions`, computed if missing). */
  predictions?: string;
  out: string;
  maxImages?: number;
}

/** The model's classes, known from the graph and the data before any session is opened. */
export interface InsertClasses {
  numClasses: number;
  names?: string[];
}

export interface InsertSession extends InsertClasses {
  dataset: Dataset;
  classifier: Classifier;
  /** The folder the predictions came from. */
  predictions: string;
  /** Up to maxImages dataset indices per predicted class, in data order. */
  members: Map<number, number[]>;
  /** Builds the manifest with `settings`, removes an earlier run's files and starts `<out>/manifest.json`
   * (completed when the run returns). */
  writeManifest(
    settings: Record<string, unknown>,
    layer?: { name: string; tensor: string },
  ): Promise<Record<string, unknown>>;
  /** Records a folder inside --out that another stage's run writes for this one (why_not/<pair>), before it
   * is written: the next run into --out removes it whole, even if this one is killed. */
  nestedRun(rel: string): Promise<void>;
}

export async function insertSession<V, R>(
  opts: InsertSessionOptions,
  validate: (dataset: Dataset, classes: InsertClasses) => V | Promise<V>,
  run: (session: InsertSession, validated: V) => Promise<R>,
): Promise<R> {
  const dataset = await openDataset(opts.data, { labels: opts.labels, limit: opts.limit });
  try {
    const { numClasses, names } = await modelClasses(opts.model, dataset);
    if (!numClasses) throw new UsageError(`--model ${opts.model}: its class count is not declared`);
    const validated = await validate(dataset, { numClasses, names });
    return await withOutDir(opts.out, "insert-test", async () => {
      const classifier = await Classifier.open(opts.model, { ep: opts.ep });
      try {
        const found = await findOrComputePredictions({
          ...opts,
          modelSha256: classifier.sha256,
          dataset,
          given: opts.predictions,
          computeInto: join(opts.out, "predictions"),
        });
        let started: Record<string, unknown> | undefined;
        const nested: string[] = [];
        const session: InsertSession = {
          dataset,
          classifier,
          numClasses,
          names,
          predictions: found.from,
          members: predictedMembers(found.predicted, opts.maxImages ?? INSERT_MAX_IMAGES),
          async writeManifest(settings, layer) {
            const manifest = await buildManifest({
              task: "insert-test",
              model: { path: opts.model, sha256: classifier.sha256 },
              layer,
              data: { path: opts.data, count: dataset.size, files: dataset.entries.map((e) => e.path) },
              device: classifier.device,
              settings,
            });
            // Everything validated: an earlier run's files go, this run's manifest starts (complete: false).
            await takeOverOutDir(opts.out, "insert-test");
            await startManifest(opts.out, manifest);
            return started = manifest;
          },
          async nestedRun(rel) {
            nested.push(rel);
            if (started) await startManifest(opts.out, { ...started, outputs: nested.map((f) => `${f}/`) });
          },
        };
        const result = await run(session, validated);
        if (started) await completeManifest(opts.out, started, undefined, nested);
        return result;
      } finally {
        await classifier.release();
      }
    });
  } finally {
    dataset.close();
  }
}
