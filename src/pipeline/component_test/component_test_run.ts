// The component prediction test (the paper's Tables 1-2): per class, the best crop of each of its k prototypes
// stacked vertically into one k*s x s image, run through the model; the class passes when the model predicts
// it from its crops alone. Two variants: crops from all images, and crops only from images that are not
// predicted as the class ("target excluded"), which shows whether the concepts are specific to the class's
// own images.
import { join } from "node:path";
import { rgbToJpeg } from "../../render/canvas.ts";
import type { CropCell } from "../../../kernels/composite/mod.ts";
import { compositeRgbCpu } from "../../../kernels/composite/mod.ts";
import { hitSource, type SearchHit } from "../../../kernels/search/hits.ts";
import { buildManifest, completeManifest, takeOverOutDir } from "../../io/manifest.ts";
import { writeFileAtomic, writeJsonAtomic } from "../../io/atomic.ts";
import { topK } from "../../model/classifier.ts";
import { blankCell, type ImageLookup, loadImages } from "../search/crop_images.ts";
import { classifyComposites } from "./classify_composites.ts";
import { namesFor } from "../../model/model_classes.ts";
import {
  openCompositeClassifier,
  openPassClassifier,
  openRun,
  type Run,
  type RunOptions,
} from "../search/run.ts";
import { type SearchPassResult, searchPrototypes } from "../search/streaming_search.ts";
import { partition, type Shard, shardLabel, shardSetting } from "../../cli/shard.ts";
import { UsageError } from "../../cli/cli.ts";
import { readConcepts } from "../concepts/read_concepts.ts";
import { canvasCapacity, type CompositeLayout, onCanvas } from "./composite_canvas.ts";
import { cropCaption } from "../search/crop_patches.ts";
import type { TokenLayout } from "../../model/tokens.ts";

export type Variant = "allImages" | "targetExcluded";
export const VARIANTS: readonly Variant[] = ["allImages", "targetExcluded"];
export const VARIANT_TITLES: Record<Variant, string> = {
  allImages: "all images",
  targetExcluded: "target excluded",
};

/** One crop of a composite: where it comes from. */
export interface CropRecord {
  /** Prototype number within the class (0..k-1), the crop's row in the composite. */
  prototype: number;
  /** Dataset index, or null for the blank crop of a prototype without any position. */
  image: number | null;
  path: string | null;
  /**
   * Cell in the pooled grid (crop = [y*s, (y+1)*s) x [x*s, (x+1)*s) of the prepared image; with
   * settings.cropPatches P > 1 the P x P cells centred on it, kernels/composite/crop_cells.ts cropBox).
   */
  y: number;
  x: number;
  /** Cosine similarity of the prototype and the cell's pooled activation. */
  score: number | null;
  /** Predicted class of the source image. */
  predicted: number | null;
  predictedName?: string;
}

export interface ClassProbability {
  class: number;
  name?: string;
  p: number;
}

export interface VariantRecord {
  crops: CropRecord[];
  /** Prototypes that had no position (a blank crop took their row). */
  missing: number[];
  /** p(class) of the composite. */
  pClass: number;
  argmax: number;
  argmaxName?: string;
  top5: ClassProbability[];
  /** The class passes when the composite is predicted as it; a composite without any crop cannot pass. */
  pass: boolean;
  /** Every prototype lacked a position (e.g. no image outside the class): the composite is all blank. */
  noCrops?: true;
}

export interface ClassRecord {
  class: number;
  name?: string;
  allImages: VariantRecord;
  targetExcluded: VariantRecord;
}

export interface VariantSummary {
  classes: number;
  passed: number;
  passRate: number;
  meanP: number;
  /** Population standard deviation (numpy's default) of p(class). */
  stdP: number;
  /** Share of classes whose composite gives p(class) above each threshold. */
  shareAbove: { "0.1": number; "0.2": number; "0.5": number };
}

export interface ComponentTestReport {
  manifest: Record<string, unknown>;
  settings: {
    k: number;
    layer: string;
    tensor: string;
    pooledGrid: [number, number];
    /** Side of a crop in pixels (P x the patch on a token tap with --crop-patches P). */
    cropSize: number;
    /** A token tap's `--crop-patches`: patches per side of a crop, centred on the hit token (1 = its patch). */
    cropPatches?: number;
    conceptsSource: "protoscope" | "reference";
    predictions: string;
    blankCrop: string;
    /** A transformer tap's composites: the crops on a canvas of the model's input size (composite_canvas.ts). */
    composite?: string;
  };
  classes: ClassRecord[];
  summary: Record<Variant, VariantSummary>;
  timing: {
    searchSeconds: number;
    imagesPerSecond: number;
    compositeSeconds: number;
    compositesPerSecond: number;
    searchDevice: string;
    modelDevice: string;
  };
  skipped: { index: number; path: string; reason: string }[];
}

/** The composite cells of both variants for each class, in prototype order (the class's rows of the set). */
export function compositeCells(
  result: Pick<SearchPassResult, "topK" | "bestOther">,
  prototypeClass: Int32Array,
  classes: number[],
  blank: CropCell,
): { cells: Record<Variant, CropCell[][]>; hits: Record<Variant, (SearchHit | null)[][]> } {
  const hits: Record<Variant, (SearchHit | null)[][]> = { allImages: [], targetExcluded: [] };
  for (const cls of classes) {
    const rows = [...prototypeClass.keys()].filter((p) => prototypeClass[p] === cls);
    hits.allImages.push(rows.map((p) => result.topK[p][0] ?? null));
    hits.targetExcluded.push(rows.map((p) => result.bestOther[p]));
  }
  const toCells = (list: (SearchHit | null)[][]) =>
    list.map((row) => row.map((h) => (h ? { image: h.image, y: h.y, x: h.x } : blank)));
  return {
    cells: { allImages: toCells(hits.allImages), targetExcluded: toCells(hits.targetExcluded) },
    hits,
  };
}

/** Pass rate, mean/std of p(class) and the share above 0.1/0.2/0.5 over the classes of one variant. */
export function summarizeVariant(records: { pClass: number; pass: boolean }[]): VariantSummary {
  const n = records.length;
  const ps = records.map((r) => r.pClass);
  const mean = n ? ps.reduce((a, b) => a + b, 0) / n : 0;
  const variance = n ? ps.reduce((a, p) => a + (p - mean) ** 2, 0) / n : 0;
  const share = (t: number) => (n ? ps.filter((p) => p > t).length / n : 0);
  const passed = records.filter((r) => r.pass).length;
  return {
    classes: n,
    passed,
    passRate: n ? passed / n : 0,
    meanP: mean,
    stdP: Math.sqrt(variance),
    shareAbove: { "0.1": share(0.1), "0.2": share(0.2), "0.5": share(0.5) },
  };
}

export interface ComponentTestCore {
  records: ClassRecord[];
  cells: Record<Variant, CropCell[][]>;
  images: ImageLookup;
  compositeSeconds: number;
  modelDevice: string;
  numClasses: number;
  names?: string[];
}

/**
 * Builds both variants' composites for `classes` from a finished search, loads their images and runs them
 * through the model (a fresh composite classifier, released before returning).
 */
export async function scoreComposites(
  run: Run,
  pass: SearchPassResult,
  classes: number[],
  opts: { batch?: number } = {},
): Promise<ComponentTestCore> {
  const { dataset, concepts, predicted } = run;
  const { cells, hits } = compositeCells(pass, concepts.prototypeClass, classes, blankCell(dataset));
  const images = await loadImages(
    dataset,
    [...cells.allImages.flat(), ...cells.targetExcluded.flat()].map((c) => c.image),
  );
  const classifier = await openCompositeClassifier(run.opts.model, run.opts.ep);
  try {
    const names = namesFor(classifier.numClasses, dataset);
    const nameOf = (c: number) => (names ? { name: names[c] } : {});
    const scores = {} as Record<Variant, Float32Array>;
    let compositeSeconds = 0;
    for (const v of VARIANTS) {
      const s = await classifyComposites(
        classifier,
        images,
        cells[v],
        pass.pooledWidth,
        opts.batch,
        compositeLayout(pass, dataset.settings.crop),
        pass.cropPatches,
      );
      scores[v] = s.probs;
      compositeSeconds += s.seconds;
    }
    const K = classifier.numClasses;
    const bad = classes.filter((c) => c >= K);
    if (bad.length) throw new Error(`classes ${bad.join(", ")} are outside the model's ${K} outputs`);
    const variantRecord = (v: Variant, i: number, cls: number): VariantRecord => {
      const row = scores[v].subarray(i * K, (i + 1) * K);
      const top = topK(row, Math.min(5, K));
      const crops = hits[v][i].map((h, prototype): CropRecord =>
        h
          ? {
            prototype,
            ...hitSource(h, dataset.entries, predicted),
            ...(names && predicted[h.image] >= 0 ? { predictedName: names[predicted[h.image]] } : {}),
          }
          : { prototype, image: null, path: null, y: 0, x: 0, score: null, predicted: null }
      );
      const missing = crops.filter((c) => c.image === null).map((c) => c.prototype);
      const noCrops = missing.length === crops.length;
      return {
        crops,
        missing,
        pClass: row[cls],
        argmax: top[0],
        ...(names ? { argmaxName: names[top[0]] } : {}),
        top5: top.map((c) => ({ class: c, ...nameOf(c), p: row[c] })),
        pass: !noCrops && top[0] === cls,
        ...(noCrops ? { noCrops: true as const } : {}),
      };
    };
    const records = classes.map((cls, i): ClassRecord => ({
      class: cls,
      ...nameOf(cls),
      allImages: variantRecord("allImages", i, cls),
      targetExcluded: variantRecord("targetExcluded", i, cls),
    }));
    return {
      records,
      cells,
      images,
      compositeSeconds,
      modelDevice: classifier.device,
      numClasses: K,
      ...(names ? { names } : {}),
    };
  } finally {
    await classifier.release();
  }
}

/**
 * How a pass's composites are laid out: a transformer's input size is fixed, so its patch crops go on a
 * canvas of the prepared image's side; a CNN takes the k x 1 stack.
 */
export function compositeLayout(pass: Pick<SearchPassResult, "tokens">, side: number): CompositeLayout {
  return pass.tokens ? { kind: "canvas", side } : { kind: "stack" };
}

/**
 * Runs the search pass (top-1 and best-other per prototype) for the run's classes. On a token tap with
 * `--crop-patches` P > 1 it first checks that k crops of P x P patches fit the composite canvas.
 */
export async function componentSearch(run: Run, label = "component-test"): Promise<SearchPassResult> {
  const classifier = await openPassClassifier(run.opts.model, run.layer, run.opts.ep);
  const patches = run.opts.cropPatches ?? 1;
  try {
    return await searchPrototypes(run.dataset, classifier, run.concepts, run.predicted, {
      topK: 1,
      batch: run.opts.batch,
      label,
      cropPatches: patches,
      checkTap: (tokens) =>
        tokens && checkCanvasFits(run.concepts.k, patches, tokens, run.dataset.settings.crop),
    });
  } finally {
    await classifier.release();
  }
}

/** Refuses (naming --crop-patches) a k that does not fit the canvas's grid of P-patch cells. */
function checkCanvasFits(k: number, patches: number, tokens: TokenLayout, side: number): void {
  const cropSide = patches * tokens.patch;
  const fits = canvasCapacity(side, cropSide);
  if (k > fits) {
    throw new UsageError(
      `--crop-patches ${patches}: the composite of k = ${k} crops of ${cropSide} px does not fit the ` +
        `transformer's ${side} px input, which holds ${fits} such crop${
          fits === 1 ? "" : "s"
        } on its grid; ` +
        `pass a smaller --crop-patches (the figures of visualize take any)`,
    );
  }
}

export interface ComponentTestOptions extends RunOptions {
  /** Write O/composites/<class>_all.jpg and _excluded.jpg (default true). */
  saveComposites?: boolean;
  /** Test only this part of the classes (`deno task merge` joins the parts). */
  shard?: Shard;
}

/**
 * The whole test: one streaming pass, both variants' composites through the model, O/component_test.json
 * (+ composites as JPEGs). Returns the report.
 */
export async function runComponentTest(opts: ComponentTestOptions): Promise<ComponentTestReport> {
  // A shard tests its block of the classes one run would test (ascending, as readConcepts returns them).
  const all = opts.shard ? (await readConcepts(opts.concepts, { classes: opts.classes })).classes : undefined;
  const mine = all && partition(all, opts.shard);
  if (mine && !mine.length) {
    throw new UsageError(
      `--shard ${shardLabel(opts.shard!)}: only ${all!.length} classes to test, fewer than shards`,
    );
  }
  const run = await openRun(mine ? { ...opts, classes: mine } : opts, "component-test");
  try {
    await takeOverOutDir(opts.out, "component-test");
    const pass = await componentSearch(run);
    const classes = run.concepts.classes;
    const core = await scoreComposites(run, pass, classes);
    const tensor = pass.tap.tensor;
    const compositeCount = 2 * classes.length;
    const manifest = await buildManifest({
      task: "component-test",
      model: { path: opts.model, sha256: pass.model.sha256 },
      layer: { name: run.layer, tensor },
      data: { path: opts.data, count: run.dataset.size, files: run.dataset.entries.map((e) => e.path) },
      device: `search: ${pass.searchDevice}; model: ${core.modelDevice}`,
      settings: {
        concepts: opts.concepts,
        conceptsSource: run.concepts.source,
        k: run.concepts.k,
        // All the run's classes, the same in every shard (a shard's own are its records).
        classes: (all ?? classes).length,
        predictions: run.predictionsFrom,
        batch: opts.batch ?? 16,
        limit: opts.limit ?? null,
        // A token tap's crop box, recorded even at 1 so that runs with another P are told apart (CNN: no key).
        ...(pass.tokens ? { cropPatches: pass.cropPatches } : {}),
        ...shardSetting(opts.shard),
      },
      ...(opts.shard ? { shard: { ...opts.shard, out: opts.out } } : {}),
    });
    const report: ComponentTestReport = {
      manifest,
      settings: {
        k: run.concepts.k,
        layer: run.layer,
        tensor,
        pooledGrid: [pass.pooledHeight, pass.pooledWidth],
        cropSize: pass.cropPatches * Math.floor(run.dataset.settings.crop / pass.pooledWidth),
        ...(pass.tokens ? { cropPatches: pass.cropPatches } : {}),
        conceptsSource: run.concepts.source,
        predictions: run.predictionsFrom,
        blankCrop:
          "prototypes without a position get a crop of the ImageNet mean colour (0 after normalization)",
        ...(pass.tokens
          ? { composite: canvasDescription(pass, pass.tokens, run.dataset.settings.crop) }
          : {}),
      },
      classes: core.records,
      summary: {
        allImages: summarizeVariant(core.records.map((r) => r.allImages)),
        targetExcluded: summarizeVariant(core.records.map((r) => r.targetExcluded)),
      },
      timing: {
        searchSeconds: pass.seconds,
        imagesPerSecond: pass.imagesPerSecond,
        compositeSeconds: core.compositeSeconds,
        compositesPerSecond: compositeCount / Math.max(core.compositeSeconds, 1e-9),
        searchDevice: pass.searchDevice,
        modelDevice: core.modelDevice,
      },
      skipped: pass.skipped,
    };
    await writeJsonAtomic(join(opts.out, "component_test.json"), report);
    if (opts.saveComposites ?? true) {
      await saveComposites(
        opts.out,
        classes,
        core,
        pass.pooledWidth,
        compositeLayout(pass, run.dataset.settings.crop),
        pass.cropPatches,
      );
    }
    await completeManifest(opts.out, manifest);
    return report;
  } finally {
    await run.close();
  }
}

/** What settings.composite says of a transformer's composites (the report repeats it). */
function canvasDescription(pass: SearchPassResult, tokens: TokenLayout, side: number): string {
  const p = pass.cropPatches, cropSide = p * tokens.patch;
  const what = p === 1
    ? `each crop is one patch token's ${tokens.patch} px box`
    : `each crop is the ${cropSide} px box of ${p} x ${p} patches centred on the hit token (--crop-patches ${p}; ` +
      "moved inside the image at its border)";
  const where = p === 1
    ? `the k crops lie patch-aligned down the first column of a ${side} px canvas of the blank colour`
    : `the k crops lie patch-aligned on the grid of ${cropSide} px cells of a ${side} px canvas of the blank ` +
      "colour, down the first column first";
  return `${what}; a transformer's input size is fixed, so ${where}`;
}

async function saveComposites(
  out: string,
  classes: number[],
  core: ComponentTestCore,
  pooledWidth: number,
  layout: CompositeLayout,
  span: number,
) {
  const suffix: Record<Variant, string> = { allImages: "all", targetExcluded: "excluded" };
  for (const v of VARIANTS) {
    const stack = compositeRgbCpu(core.images, core.cells[v], pooledWidth, undefined, span);
    // What the model saw: on a transformer, the canvas.
    const rgb = layout.kind === "canvas" ? onCanvas(stack, layout.side) : stack;
    const [n, h, w] = rgb.dims;
    const per = h * w * 3;
    for (let i = 0; i < n; i++) {
      const jpeg = await rgbToJpeg({
        pixels: rgb.pixels.subarray(i * per, (i + 1) * per),
        width: w,
        height: h,
      });
      await writeFileAtomic(join(out, "composites", `${classes[i]}_${suffix[v]}.jpg`), jpeg);
    }
  }
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** The summary table (like the reference's printout) and, for up to `maxRows` classes, one line per class. */
export function formatComponentTable(report: ComponentTestReport, maxRows = 40): string {
  const lines: string[] = [];
  const s = report.settings;
  lines.push(
    `component prediction test: ${report.classes.length} classes, k = ${s.k} crops of ` +
      `${cropCaption(s.cropSize, s.cropPatches ?? 1, s.composite !== undefined)} ` +
      `per composite (${s.layer}, ${s.pooledGrid[0]}x${s.pooledGrid[1]} grid)`,
  );
  const head = ["variant", "passed", "pass rate", "mean p", "std p", "p>0.1", "p>0.2", "p>0.5"];
  const rows = VARIANTS.map((v) => {
    const x = report.summary[v];
    return [
      VARIANT_TITLES[v],
      `${x.passed}/${x.classes}`,
      pct(x.passRate),
      x.meanP.toFixed(4),
      x.stdP.toFixed(4),
      pct(x.shareAbove["0.1"]),
      pct(x.shareAbove["0.2"]),
      pct(x.shareAbove["0.5"]),
    ];
  });
  lines.push(...table([head, ...rows]));
  if (report.classes.length) {
    lines.push("");
    const perClass = [["class", "name", "p (all)", "argmax (all)", "p (excl.)", "argmax (excl.)"]];
    for (const r of report.classes.slice(0, maxRows)) {
      const cell = (v: VariantRecord) =>
        v.noCrops ? "(no crops) X" : `${v.argmaxName ?? v.argmax}${v.pass ? "" : " X"}`;
      perClass.push([
        String(r.class),
        r.name ?? "",
        r.allImages.pClass.toFixed(4),
        cell(r.allImages),
        r.targetExcluded.pClass.toFixed(4),
        cell(r.targetExcluded),
      ]);
    }
    lines.push(...table(perClass));
    if (report.classes.length > maxRows) {
      lines.push(`... ${report.classes.length - maxRows} more classes in component_test.json`);
    }
    lines.push("(X: the composite is predicted as another class: the class fails)");
    if (report.classes.some((r) => r.allImages.noCrops || r.targetExcluded.noCrops)) {
      lines.push("(no crops: no position to crop from, e.g. every image is predicted as the class)");
    }
  }
  return lines.join("\n");
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((v, c) => (c < 2 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join("  "));
}
