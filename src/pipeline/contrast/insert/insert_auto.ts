// The insert test without a hand-picked crop (`insert-test --auto N`), beyond the paper: for N seeded pairs
// (A, B) the "why A, not B" prototypes (why_not.ts) are computed, the cell of A's image where the top
// prototype matches best is cut out (32 px at layer3.5, 74 px at layer4.2: the search's pooled grid), and
// that crop is pasted into B's images as in the single-crop test. The summary counts the pairs whose p(A)
// rises over the control patch, and by how much: one anecdote (Table 4) becomes a measurement.
//
// "Top prototype": whyNot's prototypes are NMF components in no particular order; we take the one whose best
// crop scores highest by (cosine similarity x the A-side mask at that cell), i.e. a cell that both looks like
// the prototype and lies where the (A, B) hyperplane says "A, not B" most strongly.
import { join } from "node:path";
import type { Dataset } from "../../../data/dataset.ts";
import { resolveLayer } from "../../../model/layers.ts";
import { probeShapes } from "../../../model/inspect.ts";
import { tokenLayout } from "../../../model/tokens.ts";
import { readModel, sha256File } from "../../../onnx/model.ts";
import { writeJsonAtomic } from "../../../io/atomic.ts";
import type { SkippedImage } from "../../../io/skipped.ts";
import { seededRandom } from "../../../runtime/random.ts";
import { UsageError } from "../../../cli/cli.ts";
import { cropSize } from "../../../../kernels/composite/crop_cells.ts";
import { pooledSize } from "../../../../kernels/search/hits.ts";
import type { NmfDeviceChoice } from "../../concepts/factorize.ts";
import { checkHyperplanesFit, type HyperplaneSet } from "../hyperplanes/hyperplane_set.ts";
import { openHyperplanes } from "../hyperplanes/hyperplanes_io.ts";
import type { ClassPair } from "../sanity_checks/pair_sampling.ts";
import { mean, median } from "../sanity_checks/contrast_summary.ts";
import { whyNot, type WhyNotCrop } from "../why_not/why_not.ts";
import { type ControlKind, controlPatch, cutPatch, placePatch } from "./insert_patch.ts";
import { INSERT_MAX_IMAGES, type InsertClasses, insertSession } from "./insert_session.ts";
import {
  type InsertMeasurement,
  type InsertTestOptions,
  measureInsert,
  readUsable,
  writeInsertFigures,
} from "./insert.ts";

export interface InsertAutoOptions
  extends Omit<InsertTestOptions, "into" | "crop" | "watch" | "hyperplanes" | "control"> {
  /** Pairs to sample. */
  auto: number;
  layer: string;
  /** A hyperplane folder, or hyperplanes in memory with a name for messages. */
  hyperplanes: string | { source: string; set: HyperplaneSet };
  control?: ControlKind;
  /** Pair sampling (and NMF) seed. */
  seed?: number;
  /** "Why A, not B" prototypes per pair (default 6). */
  k?: number;
  /** Instead of sampling: these pairs (A = from, B = to); `auto` still caps their number. */
  pairs?: ClassPair[];
  nmfDevice?: NmfDeviceChoice;
  cpuSearch?: boolean;
}

export interface AutoPairRecord {
  A: number;
  B: number;
  AName?: string;
  BName?: string;
  /** The crop: the top prototype's best cell of one of A's images. */
  crop: WhyNotCrop & { prototype: number; top: number; left: number; size: number };
  measurement: InsertMeasurement;
  figures: { inserted: string; control: string; crop: string; figure: string };
}

export interface AutoSummary {
  pairs: number;
  /** Pairs whose mean p(A) with the crop exceeds that with the control patch. */
  risesOverControl: number;
  /** p(A) with the crop - with the control, over pairs. */
  riseOverControl: { mean: number; median: number };
  /** p(A) with the crop - before, over pairs. */
  riseOverBefore: { mean: number; median: number };
}

export interface InsertAutoReport {
  manifest: Record<string, unknown>;
  settings: Record<string, unknown>;
  pairs: AutoPairRecord[];
  /** Sampled pairs left out, and why (no hyperplane row, an all-zero normal, no crop). */
  left: (ClassPair & { reason: string })[];
  summary: AutoSummary;
  skipped: SkippedImage[];
  table: string;
}

/**
 * N distinct ordered pairs of classes that both have images, in a seeded order; `hasRow` (default: all) keeps
 * only sources A with a hyperplane row.
 */
export function sampleInsertPairs(
  numClasses: number,
  n: number,
  seed: number,
  hasImages: (c: number) => boolean,
  hasRow: (c: number) => boolean = () => true,
): ClassPair[] {
  const eligible: ClassPair[] = [];
  for (let from = 0; from < numClasses; from++) {
    if (!hasImages(from) || !hasRow(from)) continue;
    for (let to = 0; to < numClasses; to++) if (to !== from && hasImages(to)) eligible.push({ from, to });
  }
  const rand = seededRandom(seed);
  for (let i = eligible.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [eligible[i], eligible[j]] = [eligible[j], eligible[i]];
  }
  return eligible.slice(0, n);
}

/**
 * The top prototype's best crop (see the file comment), or undefined when no prototype has a crop that both
 * matches it and lies on A's side (a zero prototype's "best" cell is an arbitrary one with score 0).
 */
export function topCrop(topCrops: WhyNotCrop[][]): (WhyNotCrop & { prototype: number }) | undefined {
  let best: (WhyNotCrop & { prototype: number }) | undefined;
  const value = (c: WhyNotCrop) => c.score * c.maskAtCell;
  topCrops.forEach((crops, prototype) => {
    const c = crops[0];
    if (c && value(c) > 0 && (!best || value(c) > value(best))) best = { ...c, prototype };
  });
  return best;
}

function summarize(pairs: AutoPairRecord[]): AutoSummary {
  const overControl = pairs.map((p) => p.measurement.riseOverControl);
  const overBefore = pairs.map((p) =>
    p.measurement.summary.after.pA.mean - p.measurement.summary.before.pA.mean
  );
  return {
    pairs: pairs.length,
    risesOverControl: overControl.filter((d) => d > 0).length,
    riseOverControl: { mean: mean(overControl), median: median(overControl) },
    riseOverBefore: { mean: mean(overBefore), median: median(overBefore) },
  };
}

function formatAutoTable(
  pairs: AutoPairRecord[],
  left: InsertAutoReport["left"],
  s: AutoSummary,
  layer: string,
): string {
  const sign = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(4)}`;
  const name = (c: number, n?: string) => (n ? `${c} ${n}` : String(c));
  return [
    `insert test, --auto at ${layer}: the top "why A, not B" crop pasted into B's images, ${s.pairs} pairs`,
    `  A -> B: p(A) before / with the crop / with the control`,
    ...pairs.map((p) => {
      const m = p.measurement.summary;
      return `  ${name(p.A, p.AName)} -> ${name(p.B, p.BName)}: ${m.before.pA.mean.toFixed(4)} / ${
        m.after.pA.mean.toFixed(4)
      } / ${m.control.pA.mean.toFixed(4)}`;
    }),
    ...left.map((l) => `  ${l.from} -> ${l.to}: left out, ${l.reason}`),
    `  p(A) rises over the control in ${s.risesOverControl}/${s.pairs} pairs`,
    `  p(A) with the crop - with the control: mean ${sign(s.riseOverControl.mean)}, median ${
      sign(s.riseOverControl.median)
    }`,
    `  p(A) with the crop - before:           mean ${sign(s.riseOverBefore.mean)}, median ${
      sign(s.riseOverBefore.median)
    }`,
  ].join("\n");
}

/** `insert-test --auto N`: validates everything, then runs N pairs. */
export async function runInsertAuto(opts: InsertAutoOptions): Promise<InsertAutoReport> {
  if (!Number.isInteger(opts.auto) || opts.auto < 1) {
    throw new UsageError(`--auto expects a number of pairs >= 1, got ${opts.auto}`);
  }
  const maxImages = opts.maxImages ?? INSERT_MAX_IMAGES;
  const batch = opts.batch ?? 16;
  const control = opts.control ?? "mean";
  const position = opts.position ?? "bottom-right";
  const seed = opts.seed ?? 0;
  const source = typeof opts.hyperplanes === "string" ? opts.hyperplanes : opts.hyperplanes.source;
  const planes = typeof opts.hyperplanes === "string"
    ? await openHyperplanes(opts.hyperplanes)
    : opts.hyperplanes.set;
  // The layer's width from the graph alone, so a folder of another layer fails before any image is read.
  const graph = await readModel(opts.model);
  const tap = (() => {
    try {
      return resolveLayer(graph, opts.layer);
    } catch (e) {
      throw new UsageError(`--layer ${opts.layer}: ${(e as Error).message}`);
    }
  })();
  const tapShape = (await probeShapes(graph, [tap.tensor])).get(tap.tensor)!;
  if (tapShape.length !== 4 && tapShape.length !== 3) {
    throw new UsageError(
      `--layer ${opts.layer}: the tap has shape [${tapShape}]; expected N x C x h x w or N x T x C (tokens)`,
    );
  }
  // A transformer's crops are single patch tokens (why-not searches them unpooled), a CNN's 2 x 2 cells.
  const tokens = tapShape.length === 3 ? tokenLayout(graph, opts.layer, tapShape) : undefined;
  checkHyperplanesFit(planes, source, opts.layer, {
    channels: tokens ? tokens.channels : tapShape[1],
    tapTensor: tap.tensor,
    sha256: await sha256File(opts.model),
    path: opts.model,
  });
  const pooledWidth = tokens ? tokens.gridW : pooledSize(tapShape[2], tapShape[3]).width;

  const validate = (dataset: Dataset, { numClasses }: InsertClasses) => {
    if (planes.numClasses !== numClasses) {
      throw new UsageError(
        `--hyperplanes ${source}: ${planes.numClasses} classes, but --model ${opts.model} has ${numClasses}`,
      );
    }
    for (const p of opts.pairs ?? []) {
      if (p.from === p.to) throw new UsageError(`pair ${p.from}:${p.to}: A must differ from B`);
    }
    const side = dataset.settings.crop;
    const size = cropSize(pooledWidth, side);
    const at = placePatch(position, size, size, side);
    return { side, size, at, controlP: controlPatch(control, size, size, seed) };
  };
  return await insertSession(opts, validate, async (session, { side, size, at, controlP }) => {
    const { dataset, classifier, members, names, numClasses } = session;
    const hasImages = (c: number) => (members.get(c)?.length ?? 0) > 0;
    const chosen = opts.pairs
      ? opts.pairs.slice(0, opts.auto)
      : sampleInsertPairs(numClasses, opts.auto, seed, hasImages, (c) => planes.rowClasses.includes(c));
    if (!chosen.length) {
      throw new UsageError(`--auto ${opts.auto}: fewer than two classes of ${opts.data} have images`);
    }
    const settings = {
      auto: opts.auto,
      layer: opts.layer,
      hyperplanes: source,
      k: opts.k ?? 6,
      cropSize: size,
      position: at,
      control,
      seed,
      maxImages,
      batch,
      predictions: session.predictions,
      topPrototype: "the prototype whose best crop has the largest cosine x A-side mask at the cell",
    };
    const manifest = await session.writeManifest(settings, { name: opts.layer, tensor: tap.tensor });

    const pairs: AutoPairRecord[] = [];
    const left: InsertAutoReport["left"] = [];
    const skipped: SkippedImage[] = [];
    for (const [n, { from: A, to: B }] of chosen.entries()) {
      const into = members.get(B) ?? [];
      if (!into.length || !hasImages(A)) {
        left.push({ from: A, to: B, reason: `no image predicted as ${into.length ? A : B}` });
        continue;
      }
      if (!planes.rowClasses.includes(A)) {
        left.push({ from: A, to: B, reason: `no hyperplane row for class ${A}` });
        continue;
      }
      await planes.loadRow(A);
      if (planes.normal(A, B).every((v) => v === 0)) {
        left.push({ from: A, to: B, reason: `the (${A}, ${B}) normal is all zeros` });
        continue;
      }
      console.error(
        `pair ${n + 1}/${chosen.length}: why ${A}, not ${B}; its top crop into ${B}'s images`,
      );
      const whyOut = join("why_not", `${A}_not_${B}`);
      await session.nestedRun(whyOut);
      const why = await whyNot({
        model: opts.model,
        data: opts.data,
        labels: opts.labels,
        limit: opts.limit,
        ep: opts.ep,
        predictions: session.predictions,
        layer: opts.layer,
        hyperplanes: { source, set: planes },
        classA: A,
        classB: B,
        out: join(opts.out, whyOut),
        k: opts.k,
        seed,
        maxImages,
        crops: 1,
        nmfDevice: opts.nmfDevice,
        cpuSearch: opts.cpuSearch,
      });
      const best = topCrop(why.topCrops);
      if (!best) {
        const reason = why.noPositions
          ? `the (${A}, ${B}) mask keeps no position of A's images (all on B's side)`
          : "no prototype's best cell lies on A's side of the hyperplane";
        left.push({ from: A, to: B, reason });
        continue;
      }
      if (why.pooledGrid[1] !== pooledWidth) {
        throw new Error(`why ${A}, not ${B}: a ${why.pooledGrid[1]}-cell grid, expected ${pooledWidth}`);
      }
      const image = await readUsable(dataset, [best.image]);
      if (!image.kept.length) {
        left.push({ from: A, to: B, reason: `the crop's image ${best.path} cannot be read` });
        continue;
      }
      const box = { top: best.y * size, left: best.x * size, height: size, width: size };
      const patches = { crop: cutPatch(image.pixels, side, box), control: controlP, at };
      const read = await readUsable(dataset, into);
      skipped.push(...read.failures);
      if (!read.kept.length) {
        left.push({ from: A, to: B, reason: `none of ${B}'s ${into.length} images could be read` });
        continue;
      }
      const measurement = await measureInsert(
        classifier,
        read.pixels,
        read.kept.map((index) => ({ index, path: dataset.entries[index].path })),
        side,
        patches,
        { watch: A, into: B },
        batch,
      );
      const figures = await writeInsertFigures(
        join(opts.out, "pairs"),
        `${A}_into_${B}_`,
        read.pixels.subarray(0, dataset.imageBytes),
        side,
        patches,
        { measurement, names },
      );
      pairs.push({
        A,
        B,
        ...(names ? { AName: names[A], BName: names[B] } : {}),
        crop: { ...best, ...box, size },
        measurement,
        figures: {
          inserted: join("pairs", figures.inserted),
          control: join("pairs", figures.control),
          crop: join("pairs", figures.crop),
          figure: join("pairs", figures.figure),
        },
      });
    }
    const summary = summarize(pairs);
    const report: InsertAutoReport = {
      manifest,
      settings,
      pairs,
      left,
      summary,
      skipped,
      table: formatAutoTable(pairs, left, summary, opts.layer),
    };
    await writeJsonAtomic(join(opts.out, "insert_test.json"), report);
    return report;
  });
}
