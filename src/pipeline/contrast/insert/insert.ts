// The insert test (the paper's Table 4, Figure 9; the reference's test_husky_add_person_malamute.py): a crop
// of one image (the person cut from a malamute image) is pasted into every image predicted as class B (at
// most 60, the concepts stage's selection), and the mean p(A) and p(B) are compared before, after, and with a
// control patch of the same size at the same place. If the model has learned "a person beside a sled dog
// means malamute", p(malamute) rises with the crop and not with the control.
//
// Differences from the reference: its means are of the last batch only (one batch of 100 holds all 60 images,
// so the same numbers); its images are the first 60 of a shuffled list, ours the first 60 predicted as B in
// data order (repeatable); it reports means only, we add per-image values, stds and the share predicted A.
import { join } from "node:path";
import type { Dataset } from "../../../data/dataset.ts";
import { preprocessFile } from "../../../data/preprocess.ts";
import { resolveClassArg } from "../../../data/class_names.ts";
import { type Classifier, softmaxRows, topK } from "../../../model/classifier.ts";
import { writeFileAtomic, writeJsonAtomic } from "../../../io/atomic.ts";
import { createProgress } from "../../../io/progress.ts";
import type { SkippedImage } from "../../../io/skipped.ts";
import { rgbToJpeg } from "../../../render/canvas.ts";
import { insertFigure } from "./insert_figure.ts";
import { UsageError } from "../../../cli/cli.ts";
import { normalizeOnCpu } from "../../../../kernels/normalize/mod.ts";
import { readImages } from "../../attribute/class_attribution.ts";
import { mean, type MeanStd, std } from "../sanity_checks/contrast_summary.ts";
import {
  type Box,
  checkBoxInside,
  type ControlKind,
  controlPatch,
  cutPatch,
  parseCropSpec,
  pasteRgb,
  type Patch,
  placePatch,
} from "./insert_patch.ts";
import { conditionProbabilities } from "./insert_scores.ts";
import {
  INSERT_MAX_IMAGES,
  type InsertClasses,
  insertSession,
  type InsertSessionOptions,
} from "./insert_session.ts";

export { INSERT_MAX_IMAGES };

export interface InsertTestOptions extends InsertSessionOptions {
  /** Class B, whose images receive the crop: an index or a name. */
  into: string;
  /** `PATH:top,left,height,width` (see parseCropSpec). */
  crop: string;
  /** Class A, whose probability should rise (default: what the crop's own image is predicted as). */
  watch?: string;
  /** Where the crop goes (placePatch); default bottom-right, as the reference. */
  position?: string;
  /** The control patch; default mean (the reference's zeros in normalized space). */
  control?: ControlKind;
  /** Seed of the noise control. */
  seed?: number;
  /** Images per model call. */
  batch?: number;
}

/** One image's probabilities of A and B and its top-1 class in one condition. */
export interface ConditionScore {
  pA: number;
  pB: number;
  top1: number;
}

export interface InsertImageRecord {
  index: number;
  path: string;
  before: ConditionScore;
  after: ConditionScore;
  control: ConditionScore;
}

export interface ConditionStats {
  /** Mean and population std over the images. */
  pA: MeanStd;
  pB: MeanStd;
  /** Share of the images predicted as A, and as B. */
  top1A: number;
  top1B: number;
}

export const CONDITIONS = ["before", "after", "control"] as const;
export type ConditionName = typeof CONDITIONS[number];

export interface InsertMeasurement {
  /** Class A (watched) and B (receiving). */
  watch: number;
  into: number;
  images: InsertImageRecord[];
  summary: Record<ConditionName, ConditionStats>;
  /** Mean p(A) with the crop minus mean p(A) with the control patch. */
  riseOverControl: number;
}

function stats(scores: ConditionScore[], A: number, B: number): ConditionStats {
  const pA = scores.map((s) => s.pA), pB = scores.map((s) => s.pB);
  return {
    pA: { mean: mean(pA), std: std(pA) },
    pB: { mean: mean(pB), std: std(pB) },
    top1A: mean(scores.map((s) => (s.top1 === A ? 1 : 0))),
    top1B: mean(scores.map((s) => (s.top1 === B ? 1 : 0))),
  };
}

/**
 * Runs B's prepared images (`pixels`, one per entry of `images`) before, with `crop` and with `control`
 * pasted at `at`, and summarizes p(A) and p(B).
 */
export async function measureInsert(
  classifier: Classifier,
  pixels: Uint8Array,
  images: { index: number; path: string }[],
  side: number,
  patches: { crop: Patch; control: Patch; at: Box },
  classes: { watch: number; into: number },
  batch: number,
  onRows?: (rows: number) => void,
): Promise<InsertMeasurement> {
  const { watch: A, into: B } = classes;
  const K = classifier.numClasses;
  const probs = await conditionProbabilities(
    classifier,
    pixels,
    images.length,
    side,
    [
      { name: "before" },
      { name: "after", patch: patches.crop, at: patches.at },
      { name: "control", patch: patches.control, at: patches.at },
    ],
    batch,
    onRows,
  );
  const score = (p: Float32Array, i: number): ConditionScore => {
    const row = p.subarray(i * K, (i + 1) * K);
    return { pA: row[A], pB: row[B], top1: topK(row, 1)[0] };
  };
  const records = images.map((im, i) => ({
    index: im.index,
    path: im.path,
    before: score(probs[0], i),
    after: score(probs[1], i),
    control: score(probs[2], i),
  }));
  const summary = Object.fromEntries(
    CONDITIONS.map((c) => [c, stats(records.map((r) => r[c]), A, B)]),
  ) as Record<ConditionName, ConditionStats>;
  return {
    watch: A,
    into: B,
    images: records,
    summary,
    riseOverControl: summary.after.pA.mean - summary.control.pA.mean,
  };
}

/**
 * Figure 9: the first receiving image with the crop and with the control patch, and the crop itself, as bare
 * images, and figure.jpg: all of them with the class names and the model's p(A), p(B) (insert_figure.ts).
 */
export async function writeInsertFigures(
  out: string,
  prefix: string,
  image: Uint8Array,
  side: number,
  patches: { crop: Patch; control: Patch; at: Box },
  explained: { measurement: InsertMeasurement; names?: string[] },
): Promise<{ inserted: string; control: string; crop: string; figure: string }> {
  const files = {
    inserted: `${prefix}inserted.jpg`,
    control: `${prefix}control.jpg`,
    crop: `${prefix}crop.jpg`,
    figure: `${prefix}figure.jpg`,
  };
  const jpeg = (pixels: Uint8Array, width: number, height: number) => rgbToJpeg({ pixels, width, height });
  const after = pasteRgb(image, side, patches.crop, patches.at);
  const control = pasteRgb(image, side, patches.control, patches.at);
  await writeFileAtomic(join(out, files.inserted), await jpeg(after, side, side));
  await writeFileAtomic(join(out, files.control), await jpeg(control, side, side));
  await writeFileAtomic(
    join(out, files.crop),
    await jpeg(patches.crop.rgb, patches.crop.width, patches.crop.height),
  );
  const figure = insertFigure({
    ...explained,
    side,
    before: image,
    after,
    control,
    crop: patches.crop,
    at: patches.at,
  });
  await writeFileAtomic(join(out, files.figure), await figure.toJpeg());
  return files;
}

/** The readable images among `indices`, packed; the others are reported, not measured. */
export async function readUsable(
  dataset: Dataset,
  indices: number[],
): Promise<{ pixels: Uint8Array; kept: number[]; failures: SkippedImage[] }> {
  const read = await readImages(dataset, indices);
  const failed = new Set(read.failures.map((f) => f.index));
  const size = dataset.imageBytes;
  const kept = indices.filter((i) => !failed.has(i));
  const pixels = new Uint8Array(kept.length * size);
  let k = 0;
  indices.forEach((index, i) => {
    if (!failed.has(index)) pixels.set(read.pixels.subarray(i * size, (i + 1) * size), size * k++);
  });
  return {
    pixels,
    kept,
    failures: read.failures.map(({ index, path, reason }) => ({ index, path, reason })),
  };
}

/** A class argument (`--into`, `--watch`) as an index, its error naming the flag. */
export function classArg(flag: string, value: string, numClasses: number, names?: string[]): number {
  try {
    return resolveClassArg(value, numClasses, names);
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^--class /, `--${flag} `));
  }
}

/** The one-line table of a measurement, as the paper's Table 4 reads. */
export function formatInsertTable(m: InsertMeasurement, names?: string[]): string {
  const name = (c: number) => names?.[c] ?? `class ${c}`;
  const f = (x: MeanStd) => `${x.mean.toFixed(4)} ± ${x.std.toFixed(4)}`;
  const rows = CONDITIONS.map((c) =>
    `  ${c.padEnd(8)} p(A) ${f(m.summary[c].pA)}   p(B) ${f(m.summary[c].pB)}   ` +
    `top-1 = A ${(100 * m.summary[c].top1A).toFixed(0)}%`
  );
  return [
    `insert test: crop into ${m.images.length} images of B = ${name(m.into)}, A = ${name(m.watch)}`,
    ...rows,
    `  p(A) with the crop - with the control: ${m.riseOverControl >= 0 ? "+" : ""}${
      m.riseOverControl.toFixed(4)
    }`,
  ].join("\n");
}

export interface InsertReport {
  manifest: Record<string, unknown>;
  settings: Record<string, unknown>;
  classes: { A: { index: number; name?: string }; B: { index: number; name?: string } };
  /** How A was chosen: given, or the crop image's own prediction. */
  watchFrom: "--watch" | "crop image prediction";
  measurement: InsertMeasurement;
  figures: { inserted: string; control: string; crop: string; figure: string };
  skipped: SkippedImage[];
  table: string;
}

/** The insert test with a hand-picked crop (`deno task insert-test`): validates everything, then runs. */
export async function runInsertTest(opts: InsertTestOptions): Promise<InsertReport> {
  const { path: cropPath, box } = parseCropSpec(opts.crop);
  const position = opts.position ?? "bottom-right";
  const control = opts.control ?? "mean";
  const batch = opts.batch ?? 16;
  const validate = async (dataset: Dataset, { numClasses, names }: InsertClasses) => {
    const side = dataset.settings.crop;
    // The crop's image goes through the data's own preprocessing, so its pixels are what a data image's are.
    const cropImage = await preprocessFile(cropPath, dataset.settings).catch((e) => {
      throw new UsageError(`--crop ${opts.crop}: ${(e as Error).message}`);
    });
    checkBoxInside(box, side, `--crop ${opts.crop}`);
    const at = placePatch(position, box.height, box.width, side);
    const into = classArg("into", opts.into, numClasses, names);
    const given = opts.watch === undefined ? undefined : classArg("watch", opts.watch, numClasses, names);
    if (given === into) {
      throw new UsageError(
        `--watch ${opts.watch} and --into ${opts.into} are the same class: A must differ from B`,
      );
    }
    const patches = {
      crop: cutPatch(cropImage, side, box),
      control: controlPatch(control, box.height, box.width, opts.seed ?? 0),
      at,
    };
    return { side, cropImage, into, given, patches };
  };
  return await insertSession(opts, validate, async (session, { side, cropImage, into, given, patches }) => {
    const { dataset, classifier, names } = session;
    const label = (c: number) => `class ${c}${names ? ` (${names[c]})` : ""}`;
    const members = session.members.get(into) ?? [];
    if (!members.length) {
      throw new UsageError(
        `--into ${opts.into}: no image of ${opts.data} is predicted as ${
          label(into)
        }, so there is nothing to ` +
          "paste into",
      );
    }
    let watch = given;
    if (watch === undefined) {
      const { logits } = await classifier.forwardNormalized({
        data: normalizeOnCpu(cropImage, 1, side, side),
        dims: [1, 3, side, side],
      });
      watch = topK(softmaxRows(logits!, classifier.numClasses), 1)[0];
      if (watch === into) {
        throw new UsageError(
          `--crop ${cropPath} is itself predicted as ${label(into)}, the --into class: give --watch A`,
        );
      }
      console.error(`--watch defaults to the class the crop's own image is predicted as: ${label(watch)}`);
    }
    const { pixels, kept, failures } = await readUsable(dataset, members);
    if (!kept.length) {
      throw new Error(`--into ${opts.into}: none of its ${members.length} images could be read`);
    }
    const settings = {
      into,
      watch,
      crop: { path: cropPath, ...box },
      position: patches.at,
      control,
      seed: opts.seed ?? 0,
      maxImages: opts.maxImages ?? INSERT_MAX_IMAGES,
      batch,
      predictions: session.predictions,
    };
    const manifest = await session.writeManifest(settings);
    const progress = createProgress("insert test", 3 * kept.length, "img");
    const measurement = await measureInsert(
      classifier,
      pixels,
      kept.map((index) => ({ index, path: dataset.entries[index].path })),
      side,
      patches,
      { watch, into },
      batch,
      (n) => progress.tick(n),
    );
    progress.stop();
    const figures = await writeInsertFigures(
      opts.out,
      "",
      pixels.subarray(0, dataset.imageBytes),
      side,
      patches,
      { measurement, names },
    );
    const report: InsertReport = {
      manifest,
      settings,
      classes: { A: { index: watch, name: names?.[watch] }, B: { index: into, name: names?.[into] } },
      watchFrom: given === undefined ? "crop image prediction" : "--watch",
      measurement,
      figures,
      skipped: failures,
      table: formatInsertTable(measurement, names),
    };
    await writeJsonAtomic(join(opts.out, "insert_test.json"), report);
    return report;
  });
}
