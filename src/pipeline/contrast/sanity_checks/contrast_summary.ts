// The summary of a shifting or masking test (the paper's Table 3), computed from the per-pair records: how
// likely the target class j was before (step 0), how likely at best after shifting/masking, how often it then
// overrules the source class, and by what factor it grew; per run, and mean/std over runs as the reference's
// printout aggregates them. The reference's own flip figure is kept beside ours (see referenceFlipPercent).
import { quantile } from "./step_figure.ts";

/** One pair's result: mean softmax over class i's images at every step (an offset, or a mask level). */
export interface PairRecord {
  from: number;
  to: number;
  /** Images of class i that were shifted/masked. */
  images: number;
  /** p(i) per step, step 0 = unchanged input. */
  pFrom: number[];
  /** p(j) per step. */
  pTo: number[];
  /** argmax of the mean softmax per step. */
  top1: number[];
}

export interface RunSummary {
  pairs: number;
  /** p(j) at step 0: mean and population std over pairs. */
  meanOriginalPTo: number;
  stdOriginalPTo: number;
  /** max over steps >= 1 of p(j). */
  meanMaxShiftedPTo: number;
  stdMaxShiftedPTo: number;
  /** % of pairs whose best shifted p(j) is > 0.5 and >= p(i) at the same step. */
  flipPercent: number;
  /** Mean over pairs of max shifted p(j) / original p(j); pairs with original p(j) = 0 are left out. */
  meanIncreaseFactor: number;
  increaseFactorPairsLeftOut: number;
  /** meanMaxShiftedPTo / meanOriginalPTo (the reference prints this too). */
  ratioOfMeans: number;
  /**
   * The reference's flip figure: it takes argmax over results[1:] and reads p(i) at that index of the full
   * array, i.e. one step EARLIER than the maximum. Reported so results compare with the paper.
   */
  referenceFlipPercent: number;
}

export interface MeanStd {
  mean: number;
  std: number;
}

export type OverRuns = { [K in keyof RunSummary]: MeanStd };

export function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/** Population standard deviation (numpy's default, as the reference uses). */
export function std(xs: number[]): number {
  if (!xs.length) return NaN;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / xs.length);
}

/** The middle value (mean of the two middle ones for an even count), numpy's median. */
export function median(xs: number[]): number {
  return quantile(xs, 0.5);
}

/** Index of the first maximum (numpy's argmax). */
function argmax(xs: number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

export function summarizeRun(records: PairRecord[]): RunSummary {
  const original: number[] = [], best: number[] = [], factors: number[] = [];
  let flips = 0, referenceFlips = 0, leftOut = 0;
  for (const r of records) {
    if (r.pTo.length < 2) throw new Error(`pair ${r.from}->${r.to}: needs step 0 and at least one more step`);
    const shifted = r.pTo.slice(1);
    const k = argmax(shifted);
    const top = shifted[k];
    original.push(r.pTo[0]);
    best.push(top);
    if (top > 0.5 && top >= r.pFrom[k + 1]) flips++;
    if (top > 0.5 && top >= r.pFrom[k]) referenceFlips++;
    if (r.pTo[0] > 0) factors.push(top / r.pTo[0]);
    else leftOut++;
  }
  const n = records.length;
  return {
    pairs: n,
    meanOriginalPTo: mean(original),
    stdOriginalPTo: std(original),
    meanMaxShiftedPTo: mean(best),
    stdMaxShiftedPTo: std(best),
    flipPercent: n ? (100 * flips) / n : NaN,
    meanIncreaseFactor: mean(factors),
    increaseFactorPairsLeftOut: leftOut,
    ratioOfMeans: mean(best) / mean(original),
    referenceFlipPercent: n ? (100 * referenceFlips) / n : NaN,
  };
}

/** Mean and population std over runs of every per-run figure. */
export function summarizeRuns(runs: RunSummary[]): OverRuns {
  const keys = Object.keys(runs[0] ?? {}) as (keyof RunSummary)[];
  return Object.fromEntries(
    keys.map((k) => [k, { mean: mean(runs.map((r) => r[k])), std: std(runs.map((r) => r[k])) }]),
  ) as OverRuns;
}

/** The summary table's cells: a header, one row per run and one over runs (mean ± std). */
export function summaryTableCells(runs: RunSummary[], over: OverRuns): { head: string[]; rows: string[][] } {
  const head = ["run", "pairs", "p(j) orig", "max p(j)", "flip %", "ref flip %", "incr. factor", "ratio"];
  const f = (x: number, d = 4) => Number.isFinite(x) ? x.toFixed(d) : String(x);
  const rows = runs.map((r, i) => [
    String(i),
    String(r.pairs),
    `${f(r.meanOriginalPTo)} ± ${f(r.stdOriginalPTo)}`,
    `${f(r.meanMaxShiftedPTo)} ± ${f(r.stdMaxShiftedPTo)}`,
    f(r.flipPercent, 1),
    f(r.referenceFlipPercent, 1),
    f(r.meanIncreaseFactor, 2),
    f(r.ratioOfMeans, 2),
  ]);
  rows.push([
    "all",
    f(over.pairs.mean, 1),
    `${f(over.meanOriginalPTo.mean)} ± ${f(over.meanOriginalPTo.std)}`,
    `${f(over.meanMaxShiftedPTo.mean)} ± ${f(over.meanMaxShiftedPTo.std)}`,
    `${f(over.flipPercent.mean, 1)} ± ${f(over.flipPercent.std, 1)}`,
    `${f(over.referenceFlipPercent.mean, 1)} ± ${f(over.referenceFlipPercent.std, 1)}`,
    `${f(over.meanIncreaseFactor.mean, 2)} ± ${f(over.meanIncreaseFactor.std, 2)}`,
    f(over.ratioOfMeans.mean, 2),
  ]);
  return { head, rows };
}

/** How each test changes class i's input, in the words its footnote uses. */
const STEP_WORDS: Record<string, { changed: string; step: string }> = {
  shifting: { changed: "shifted along the normal", step: "offset" },
  masking: { changed: "masked", step: "mask level" },
};

/** What the flip columns count, in the words of test `name` ("shifting", "masking" or another test's name). */
export function summaryFootnote(name: string): string {
  const { changed, step } = STEP_WORDS[name] ?? { changed: "changed", step: "step" };
  return `flip %: the best p(j) with the input ${changed} (any ${step} but the first) is > 0.5 and >= p(i) at ` +
    `the same ${step}; ref flip %: as the reference prints it, comparing with p(i) one ${step} earlier`;
}

/** The summary as a text table: one row per run and one over runs (mean ± std), then the footnote of `name`. */
export function formatSummaryTable(title: string, runs: RunSummary[], over: OverRuns, name: string): string {
  const { head, rows } = summaryTableCells(runs, over);
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join("  ");
  return [
    title,
    line(head),
    ...rows.map(line),
    summaryFootnote(name),
  ].join("\n");
}
