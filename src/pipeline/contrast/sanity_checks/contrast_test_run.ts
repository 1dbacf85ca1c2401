// The driver both contrast tests share: validate everything, choose the pairs of every run, read each source
// class's images (the first `maxImages` predicted as the class, the concepts stage's selection), take their
// activations once per run, run the test's rows through the model in full batches, and write the records,
// the summary per run and over runs, the table and one p(j)-per-step figure per run.
import { withOutDir } from "../../../io/out_dir.ts";
import { join } from "node:path";
import { openDataset } from "../../../data/dataset.ts";
import {
  attributeClass,
  AttributionCache,
  checkAttributionCache,
  classStagePredictions,
  predictedMembers,
  readImages,
} from "../../attribute/class_attribution.ts";
import { type AttributionSettings, Attributor, PAPER_ATTRIBUTION } from "../../attribute/attributor.ts";
import { readModel } from "../../../onnx/model.ts";
import type { EpChoice } from "../../../runtime/ort.ts";
import { buildManifest, completeManifest, startManifest, takeOverOutDir } from "../../../io/manifest.ts";
import { writeFileAtomic, writeJsonAtomic } from "../../../io/atomic.ts";
import { createProgress } from "../../../io/progress.ts";
import { UsageError } from "../../../cli/cli.ts";
import {
  allPairs,
  type ClassPair,
  groupBySource,
  parsePairList,
  plannedRuns,
  samplePairs,
} from "./pair_sampling.ts";
import {
  formatSummaryTable,
  type OverRuns,
  type PairRecord,
  type RunSummary,
  summarizeRun,
  summarizeRuns,
} from "./contrast_summary.ts";
import { checkHyperplanesFit, type HyperplaneSet } from "../hyperplanes/hyperplane_set.ts";
import { SplitModel } from "../../../model/split_model.ts";
import type { TokenAxes } from "../../../model/tokens.ts";
import { meanSoftmaxPerStep, type StepJob } from "./step_runner.ts";
import { stepFigure } from "./step_figure.ts";
import { partition, type Shard, shardSetting } from "../../../cli/shard.ts";

export interface ContrastRunOptions {
  model: string;
  data: string;
  layer: string;
  /** The folder (for messages and the manifest) and its hyperplanes. */
  hyperplanes: { source: string; set: HyperplaneSet };
  out: string;
  labels?: string;
  limit?: number;
  ep?: EpChoice;
  predictions?: string;
  runs?: number;
  draws?: number;
  others?: number;
  /** "all", "i:j,..", or undefined for the reference's sampling. */
  pairs?: string;
  seed?: number;
  maxImages?: number;
  /** Model input rows per batch. */
  batch?: number;
  /** How a transformer tap's tokens are positions; the head needs every token back (default patches+cls). */
  tokens?: TokenAxes;
  /** For tests that need attribution: its settings (default: the paper's) and a shared cache folder. */
  attribution?: { settings?: AttributionSettings; cache?: string };
  /**
   * Run only this part of every run's pairs: the pairs are chosen as in one run, then each run's list is split
   * into contiguous blocks (`deno task merge` joins the parts).
   */
  shard?: Shard;
  /**
   * The model at `model` with `layer` tapped, already open (the explorer keeps one per model and layer, so a
   * second shifting job does not open it again); the caller releases it. Default: opened here and released.
   */
  splitModel?: SplitModel;
  /** Stops the test between batches of model rows (the explorer's cancel button). */
  signal?: AbortSignal;
}

/** Images per attribution pass: the concepts and contrast-vectors default, so their cache entries serve. */
const ATTRIBUTION_BATCH = 4;

/** What a test adds to the shared driver: its steps, and the rows of one source class. */
export interface ContrastTest {
  /** "shifting" or "masking": names the task, the JSON file and the figure. */
  name: string;
  /** Step values as written to each record (offsets, or mask levels), and the figure's x labels. */
  stepKey: string;
  steps: number[];
  stepLabel: string;
  settings: Record<string, unknown>;
  /** The test needs each source class's attribution (its channel mean without ReLU). */
  needsAttribution?: boolean;
  /** The test draws on the image at the positions (masks), so the positions must lie on its grid. */
  drawsOnImage?: boolean;
  /** The rows of class `from` against `tos`; `acts` n x C x h x w, `pixels` n prepared images, and with
   * needsAttribution `attributionMeans` n x h x w. */
  job(
    model: SplitModel,
    from: number,
    tos: number[],
    input: { acts: Float32Array; pixels: Uint8Array; n: number; attributionMeans?: Float32Array },
    planes: HyperplaneSet,
    batchRows: number,
  ): Omit<StepJob, "onRows"> & { extra?: (pair: number) => Record<string, unknown> };
}

export interface RunRecord {
  run: number;
  seed: number | null;
  pairs: (PairRecord & Record<string, unknown>)[];
  /** Pairs left out: no row for i, or the (i, j) normal is all zeros (no vectors for j: the reference's
   * dummies, which it would have run unshifted). */
  noHyperplane: ClassPair[];
  summary: RunSummary;
  figure: string;
}

export interface ContrastReport {
  manifest: Record<string, unknown>;
  settings: Record<string, unknown>;
  runs: RunRecord[];
  summary: { perRun: RunSummary[]; overRuns: OverRuns };
  table: string;
}

/** A distinct, repeatable seed per run. */
export function runSeed(seed: number, run: number): number {
  return (seed ^ Math.imul(run + 1, 0x9e3779b1)) >>> 0;
}

function isZero(v: Float32Array): boolean {
  return v.every((x) => x === 0);
}

export function runContrastTest(test: ContrastTest, opts: ContrastRunOptions): Promise<ContrastReport> {
  return withOutDir(opts.out, `${test.name}-test`, () => contrastTestIn(test, opts));
}

async function contrastTestIn(test: ContrastTest, opts: ContrastRunOptions): Promise<ContrastReport> {
  const planes = opts.hyperplanes.set;
  const K = planes.numClasses;
  const explicit = parsePairList(opts.pairs, K);
  const { runs, note } = plannedRuns(opts.pairs, !!explicit, opts.runs);
  if (note) console.error(note);
  const maxImages = opts.maxImages ?? 60;
  const batchRows = opts.batch ?? 32;

  if (test.needsAttribution) await checkAttributionCache(opts.attribution?.cache);
  const model = opts.splitModel ??
    await SplitModel.open(opts.model, opts.layer, opts.ep, opts.tokens ?? "patches+cls");
  try {
    const [C] = model.tapShape;
    if (test.drawsOnImage && !model.positionGrid) {
      throw new UsageError(
        `${test.name} test: under --tokens ${model.tokens?.axes} the positions are channels, which lie nowhere ` +
          "on the image; use --tokens patches+cls",
      );
    }
    checkHyperplanesFit(planes, opts.hyperplanes.source, opts.layer, {
      channels: C,
      tapTensor: model.tapTensor,
      sha256: model.sha256,
      path: opts.model,
    });
    if (K !== model.numClasses) {
      throw new UsageError(
        `--hyperplanes ${opts.hyperplanes.source}: ${K} classes, but --model ${opts.model} has ${model.numClasses}`,
      );
    }
    const dataset = await openDataset(opts.data, { labels: opts.labels, limit: opts.limit });
    let attribution: Awaited<ReturnType<typeof openAttribution>> | undefined;
    try {
      const { from: predictionsDir, predicted } = await classStagePredictions(opts, model.sha256, dataset);
      const members = predictedMembers(predicted, maxImages);
      const rowClasses = new Set(planes.rowClasses);
      if (test.needsAttribution) attribution = await openAttribution(opts, model);
      const hasImages = (c: number) => (members.get(c)?.length ?? 0) > 0;

      const plan = Array.from({ length: runs }, (_, r) => {
        const seed = explicit ? null : runSeed(opts.seed ?? 0, r);
        const chosen = explicit === "all"
          ? allPairs(K, hasImages)
          : explicit
          ? explicit.filter((p) => hasImages(p.from))
          : samplePairs(K, { draws: opts.draws ?? 1000, others: opts.others ?? 10, seed: seed!, hasImages });
        return { seed, pairs: partition(chosen, opts.shard) };
      });
      if (explicit && explicit !== "all") {
        const empty = explicit.filter((p) => !hasImages(p.from));
        if (empty.length) {
          console.error(`--pairs: no images predicted as ${[...new Set(empty.map((p) => p.from))]}: skipped`);
        }
        const without = await pairsWithoutHyperplane(planes, explicit.filter((p) => hasImages(p.from)));
        if (without.length) {
          console.error(
            `--pairs: no hyperplane for ${without.map((p) => `${p.from}:${p.to}`).join(", ")} in ` +
              `--hyperplanes ${opts.hyperplanes.source} (no row file, or a zero normal: a class without vectors); ` +
              `skipped, listed under "noHyperplane"`,
          );
        }
      }
      const settings = {
        ...test.settings,
        [test.stepKey]: test.steps,
        runs,
        draws: opts.draws ?? 1000,
        others: opts.others ?? 10,
        pairs: opts.pairs ?? "sample",
        seed: opts.seed ?? 0,
        maxImages,
        batch: batchRows,
        hyperplanes: opts.hyperplanes.source,
        predictions: predictionsDir,
        ...(model.tokens ? { tokens: model.tokens.axes } : {}),
        ...(attribution
          ? { attribution: attribution.settings, attributionCache: opts.attribution?.cache }
          : {}),
        ...shardSetting(opts.shard),
      };
      const manifest = await buildManifest({
        task: `${test.name}-test`,
        model: { path: opts.model, sha256: model.sha256 },
        layer: { name: opts.layer, tensor: model.tapTensor },
        data: { path: opts.data, count: dataset.size, files: dataset.entries.map((e) => e.path) },
        device: model.device,
        settings,
        ...(opts.shard ? { shard: { ...opts.shard, out: opts.out } } : {}),
        ...(planes.ref ? { inputs: { hyperplanes: planes.ref } } : {}),
      });
      // Everything validated: an earlier run's files (other runs' figures) go, this run's manifest starts.
      await takeOverOutDir(opts.out, `${test.name}-test`);
      await startManifest(opts.out, manifest);

      const steps = test.steps.length;
      const totalRows = plan.reduce(
        (a, r) => a + r.pairs.reduce((b, p) => b + steps * members.get(p.from)!.length, 0),
        0,
      );
      const progress = createProgress(`${test.name} test`, totalRows, "rows");
      const records: RunRecord[] = [];
      for (let r = 0; r < runs; r++) {
        const { seed, pairs } = plan[r];
        const byPair = new Map<string, PairRecord & Record<string, unknown>>();
        const without = new Set<string>();
        // Source classes in row order: the hyperplane reader's cache is bounded, each row is read once a run.
        for (const [from, drawn] of [...groupBySource(pairs)].sort((a, b) => a[0] - b[0])) {
          const images = members.get(from)!;
          const hasRow = rowClasses.has(from);
          if (hasRow) await planes.loadRow(from);
          const tos = hasRow ? drawn.filter((to) => !isZero(planes.normal(from, to))) : [];
          for (const to of drawn.filter((t) => !tos.includes(t))) {
            without.add(`${from}:${to}`);
            progress.tick(steps * images.length);
          }
          if (!tos.length) continue;
          opts.signal?.throwIfAborted();
          const { pixels } = await readImages(dataset, images);
          let acts: Float32Array, attributionMeans: Float32Array | undefined;
          if (attribution) {
            const a = await attributeClass(
              attribution.attributor,
              dataset,
              from,
              images,
              ATTRIBUTION_BATCH,
              attribution.cache,
            );
            acts = a.activations;
            attributionMeans = a.means;
          } else {
            acts = await model.activations(pixels, images.length, undefined, opts.signal);
          }
          const job = test.job(
            model,
            from,
            tos,
            { acts, pixels, n: images.length, attributionMeans },
            planes,
            batchRows,
          );
          const results = await meanSoftmaxPerStep({
            ...job,
            onRows: (n) => {
              progress.tick(n);
              opts.signal?.throwIfAborted();
            },
          });
          results.forEach((rec, k) => {
            byPair.set(`${rec.from}:${rec.to}`, {
              from: rec.from,
              to: rec.to,
              [test.stepKey]: test.steps,
              ...job.extra?.(k),
              images: rec.images,
              pFrom: rec.pFrom,
              pTo: rec.pTo,
              top1: rec.top1,
            });
          });
        }
        // Records (and pairs left out) in the order the pairs were drawn, as the reference stores them.
        const runPairs = pairs.flatMap((p) => byPair.get(`${p.from}:${p.to}`) ?? []);
        const noHyperplane = pairs.filter((p) => without.has(`${p.from}:${p.to}`));
        const figure = await writeRunFigure(opts.out, test, r, runPairs);
        records.push({
          run: r,
          seed,
          pairs: runPairs,
          noHyperplane,
          summary: summarizeRun(runPairs),
          figure,
        });
      }
      progress.stop();
      const perRun = records.map((r) => r.summary);
      const overRuns = summarizeRuns(perRun);
      const table = contrastTable(test.name, opts.layer, perRun, overRuns);
      const report: ContrastReport = {
        manifest,
        settings,
        runs: records,
        summary: { perRun, overRuns },
        table,
      };
      await writeJsonAtomic(join(opts.out, `${test.name}_test.json`), report);
      await completeManifest(opts.out, manifest);
      return report;
    } finally {
      await attribution?.attributor.release();
      dataset.close();
    }
  } finally {
    if (!opts.splitModel) await model.release();
  }
}

/** The pairs among `pairs` that `planes` has no hyperplane for: no row file for i, or a zero normal (i, j). */
async function pairsWithoutHyperplane(planes: HyperplaneSet, pairs: ClassPair[]): Promise<ClassPair[]> {
  const rows = new Set(planes.rowClasses);
  const without = new Set<ClassPair>();
  // Looked up in row order (the reader's cache is bounded), listed in the order given.
  for (const p of [...pairs].sort((a, b) => a.from - b.from)) {
    if (rows.has(p.from)) await planes.loadRow(p.from);
    if (!rows.has(p.from) || isZero(planes.normal(p.from, p.to))) without.add(p);
  }
  return pairs.filter((p) => without.has(p));
}

/** Writes run r's p(j)-per-step figure into `out`; returns its file name. */
export async function writeRunFigure(
  out: string,
  test: Pick<ContrastTest, "name" | "stepLabel" | "steps">,
  r: number,
  pairs: PairRecord[],
): Promise<string> {
  const figure = `${test.name}_run${r}.jpg`;
  await writeFileAtomic(
    join(out, figure),
    await stepFigure({
      // One pair (a pair asked for, e.g. by the explorer): its classes in the title.
      title: pairs.length === 1
        ? `${test.name} test, run ${r}: p(j) of the pair i = ${pairs[0].from} -> j = ${pairs[0].to}`
        : `${test.name} test, run ${r}: p(j) over ${pairs.length} pairs (median, quartiles)`,
      stepLabel: test.stepLabel,
      steps: test.steps,
      series: pairs.map((p) => p.pTo),
    }),
  );
  return figure;
}

/** The summary table of a report. */
export function contrastTable(name: string, layer: string, perRun: RunSummary[], overRuns: OverRuns): string {
  return formatSummaryTable(
    `${name} test: ${layer}, ${perRun.map((s) => s.pairs).join("/")} pairs per run`,
    perRun,
    overRuns,
    name,
  );
}

/** The Attributor (with the channel mean output) and the shared cache, for tests that need attribution. */
async function openAttribution(
  opts: ContrastRunOptions,
  model: SplitModel,
): Promise<{ attributor: Attributor; cache?: AttributionCache; settings: AttributionSettings }> {
  const settings = opts.attribution?.settings ?? PAPER_ATTRIBUTION;
  const attributor = await Attributor.open(
    await readModel(opts.model),
    { path: opts.model, sha256: model.sha256 },
    opts.layer,
    settings,
    { ep: opts.ep, withMean: true, tokenAxes: model.tokens?.axes },
  );
  const cache = opts.attribution?.cache
    ? await AttributionCache.forRun(opts.attribution.cache, attributor, model.sha256, ATTRIBUTION_BATCH)
    : undefined;
  return { attributor, cache, settings };
}
