// deno task visualize: one JPEG per class with its prototypes' best crops (all images, and images not
// predicted as the class), plus O/visualize.json listing every crop.
//
// One search pass keeps, per prototype, its top 8 over all images and its top 8 among images not predicted as
// its class (searchPrototypes' excludedTopK: the top-k merge selects both from the same scores), however many
// classes there are.
import { join } from "node:path";
import { buildManifest, completeOwnFiles, takeOverOwnFiles } from "../../io/manifest.ts";
import { writeFileAtomic } from "../../io/atomic.ts";
import { type HitSource, hitSource, type SearchHit } from "../../../kernels/search/hits.ts";
import { prototypesOf, searchPrototypes } from "../search/streaming_search.ts";
import { loadImages } from "../search/crop_images.ts";
import { modelClasses } from "../../model/model_classes.ts";
import { openPassClassifier, openRun, type RunOptions } from "../search/run.ts";
import { prototypeGridFigure } from "./prototype_grid_figure.ts";
import { cropBox } from "../../../kernels/composite/mod.ts";
import { safeName } from "../../render/canvas.ts";
import type { SkippedImage } from "../../io/skipped.ts";

/** visualize's report in its --out: the figures' crops, and its manifest listing the run's files. */
export const VISUALIZE_REPORT = "visualize.json";

export interface VisualizeOptions extends RunOptions {
  /** Crops per row (default 8, at most 64). */
  columns?: number;
}

export type GridCrop = HitSource;

export interface VisualizeClass {
  class: number;
  name?: string;
  file: string;
  prototypes: { prototype: number; all: GridCrop[]; excluded: GridCrop[] }[];
}

export interface VisualizeReport {
  manifest: Record<string, unknown>;
  classes: VisualizeClass[];
  /** Passes over the data: 1 (kept in visualize.json for readers of older files, which could hold more). */
  passes: number;
  seconds: number;
  /** Images left out of the search (unreadable, or without a prediction). */
  skipped: SkippedImage[];
  /** Side of a crop in pixels (P x the patch on a token tap with --crop-patches P). */
  cropSize: number;
  /** A token tap's --crop-patches (patches per crop side, centred on the hit token); absent on a CNN tap. */
  cropPatches?: number;
}

export async function runVisualize(opts: VisualizeOptions): Promise<VisualizeReport> {
  const columns = opts.columns ?? 8;
  if (!Number.isInteger(columns) || columns < 1 || columns > 64) {
    throw new Error(`--columns must be an integer in 1..64, got ${columns}`);
  }
  const started = performance.now();
  const run = await openRun(opts, "visualize");
  const classifier = await openPassClassifier(opts.model, run.layer, opts.ep);
  try {
    const { dataset, concepts, predicted } = run;
    const { names } = await modelClasses(opts.model, dataset);
    const set = prototypesOf(concepts, concepts.classes);
    const pass = await searchPrototypes(dataset, classifier, set, predicted, {
      topK: columns,
      excludedTopK: columns,
      batch: opts.batch,
      label: "visualize",
      cropPatches: opts.cropPatches,
    });
    const tokenCrop = pass.tokens ? { cropPatches: pass.cropPatches } : {};
    const cropSide = cropBox({ y: 0, x: 0 }, pass.pooledWidth, pass.cropPatches).side;
    // visualize shares its --out with explain (the demo's figures/): it owns visualize.json and the JPEGs that
    // file lists, and removes only an earlier visualize run's.
    await takeOverOwnFiles(opts.out, VISUALIZE_REPORT, { task: "visualize", kind: "visualize" });
    const classes: VisualizeClass[] = [];
    for (const cls of concepts.classes) {
      const rowsOf = [...set.prototypeClass.keys()].filter((p) => set.prototypeClass[p] === cls);
      const rows = rowsOf.map((p) => ({ all: pass.topK[p], excluded: pass.excludedTopK![p] }));
      const images = await loadImages(
        dataset,
        rows.flatMap((r) => [...r.all, ...r.excluded].map((h) => h.image)),
      );
      const name = names?.[cls];
      const figure = prototypeGridFigure({
        cls,
        ...(name ? { name } : {}),
        layer: run.layer,
        rows,
        images,
        pooledWidth: pass.pooledWidth,
        predicted,
        columns,
        cropPatches: pass.cropPatches,
        tokens: pass.tokens !== undefined,
      });
      const file = `${cls}${name ? `_${safeName(name)}` : ""}.jpg`;
      await writeFileAtomic(join(opts.out, file), await figure.toJpeg());
      const crop = (h: SearchHit): GridCrop => hitSource(h, dataset.entries, predicted);
      classes.push({
        class: cls,
        ...(name ? { name } : {}),
        file,
        prototypes: rows.map((r, prototype) => ({
          prototype,
          all: r.all.map(crop),
          excluded: r.excluded.map(crop),
        })),
      });
    }
    const manifest = await buildManifest({
      task: "visualize",
      model: { path: opts.model, sha256: classifier.sha256 },
      layer: { name: run.layer, tensor: classifier.taps[0].tensor },
      data: { path: opts.data, count: dataset.size, files: dataset.entries.map((e) => e.path) },
      device: `search: ${pass.searchDevice}; model: ${classifier.device}`,
      settings: {
        concepts: opts.concepts,
        conceptsSource: concepts.source,
        k: concepts.k,
        columns,
        predictions: run.predictionsFrom,
        passes: 1,
        batch: opts.batch ?? 16,
        limit: opts.limit ?? null,
        // A token tap's crop box, recorded even at 1 so that runs with another P are told apart (CNN: no key).
        ...tokenCrop,
      },
    });
    const report = {
      manifest,
      classes,
      passes: 1,
      seconds: (performance.now() - started) / 1000,
      skipped: pass.skipped,
      cropSize: cropSide,
      ...tokenCrop,
    };
    return await completeOwnFiles(opts.out, VISUALIZE_REPORT, report, classes.map((c) => c.file));
  } finally {
    await classifier.release();
    await run.close();
  }
}
