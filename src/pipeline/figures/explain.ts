// deno task explain --class C: the explanation figure of one class (explanation_figure.ts) as
// O/explain_<C>.jpg, and O/explain_<C>.json with everything the figure shows.
import { join } from "node:path";
import { buildManifest, completeOwnFiles, takeOverOwnFiles } from "../../io/manifest.ts";
import { writeFileAtomic } from "../../io/atomic.ts";
import { type ClassRecord, componentSearch, scoreComposites } from "../component_test/component_test_run.ts";
import { openRun, type RunOptions } from "../search/run.ts";
import { explanationFigure } from "./explanation_figure.ts";
import { cropBox } from "../../../kernels/composite/mod.ts";
import type { SkippedImage } from "../../io/skipped.ts";

export interface ExplainOptions extends RunOptions {
  /** The class to explain (an index; resolve names with data/class_names.ts resolveClassArg). */
  cls: number;
}

export interface ExplainReport {
  manifest: Record<string, unknown>;
  class: number;
  name?: string;
  layer: string;
  /** Both columns' crops and the model's predictions for their stacked composites (column 1 = allImages). */
  record: ClassRecord;
  jpeg: string;
  /** Images left out of the search (unreadable, or without a prediction). */
  skipped: SkippedImage[];
  /** Side of a crop in pixels (P x the patch on a token tap with --crop-patches P). */
  cropSize: number;
  /** A token tap's --crop-patches (patches per crop side, centred on the hit token); absent on a CNN tap. */
  cropPatches?: number;
}

export async function runExplain(opts: ExplainOptions): Promise<ExplainReport> {
  if (!Number.isInteger(opts.cls) || opts.cls < 0) {
    throw new Error(`--class must be a class index, got ${opts.cls}`);
  }
  const run = await openRun({ ...opts, classes: [opts.cls] }, "explain");
  try {
    const pass = await componentSearch(run, "explain");
    const core = await scoreComposites(run, pass, [opts.cls]);
    const record = core.records[0];
    const figure = explanationFigure({
      cls: opts.cls,
      ...(record.name ? { name: record.name } : {}),
      layer: run.layer,
      allImages: record.allImages,
      targetExcluded: record.targetExcluded,
      images: core.images,
      pooledWidth: pass.pooledWidth,
      // A transformer's crops went in on a 224 px canvas (component_test_run.ts compositeLayout).
      ...(pass.tokens ? { composite: "on a canvas" as const } : {}),
      cropPatches: pass.cropPatches,
    });
    const tokenCrop = pass.tokens ? { cropPatches: pass.cropPatches } : {};
    // explain shares its --out with visualize and other classes' explain runs (the demo's figures/): a run
    // owns explain_<class>.json and the figure it lists, and replaces only an earlier run of that class.
    const file = `explain_${opts.cls}.json`;
    await takeOverOwnFiles(opts.out, file, { task: "explain", kind: "explain" });
    const jpeg = `explain_${opts.cls}.jpg`;
    await writeFileAtomic(join(opts.out, jpeg), await figure.toJpeg());
    const manifest = await buildManifest({
      task: "explain",
      model: { path: opts.model, sha256: pass.model.sha256 },
      layer: { name: run.layer, tensor: pass.tap.tensor },
      data: { path: opts.data, count: run.dataset.size, files: run.dataset.entries.map((e) => e.path) },
      device: `search: ${pass.searchDevice}; model: ${core.modelDevice}`,
      settings: {
        class: opts.cls,
        concepts: opts.concepts,
        conceptsSource: run.concepts.source,
        k: run.concepts.k,
        predictions: run.predictionsFrom,
        batch: opts.batch ?? 16,
        limit: opts.limit ?? null,
        // A token tap's crop box, recorded even at 1 so that runs with another P are told apart (CNN: no key).
        ...tokenCrop,
      },
    });
    const report: ExplainReport = {
      manifest,
      class: opts.cls,
      ...(record.name ? { name: record.name } : {}),
      layer: run.layer,
      record,
      jpeg,
      skipped: pass.skipped,
      cropSize: cropBox({ y: 0, x: 0 }, pass.pooledWidth, pass.cropPatches).side,
      ...tokenCrop,
    };
    return await completeOwnFiles(opts.out, file, report, [jpeg]);
  } finally {
    await run.close();
  }
}
