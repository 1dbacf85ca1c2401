// `deno task bench --compare`: protoscope against the stack it replaces, measured on the same machine in one
// run, as a ratio table (issue 20). Each comparison measures its own stage and returns rows; the table reads
// every row the same way, so a stage added later is one more entry in COMPARISONS.
import { compareForward } from "./forward.ts";
import { compareShifting } from "./shifting.ts";
import { compareHyperplanes } from "./hyperplanes.ts";
import { compareNmf } from "./nmf_cpu.ts";

export interface Measured {
  /** What ran, e.g. "cpu (onnxruntime-node 1.30.0, native)" or "torch 1.13 eager". */
  what: string;
  value: number;
}

export interface CompareRow {
  stage: string;
  /** Unit of both values, e.g. "img/s" or "s". */
  unit: string;
  /** Set for times and other quantities where less is better; rates leave it unset. */
  lowerIsBetter?: boolean;
  protoscope: Measured;
  /** Absent when the reference could not be measured here; `skipped` says why. */
  reference?: Measured;
  skipped?: string;
  /** Anything else the row's reader needs, e.g. a projection. */
  note?: string;
}

/** What every comparison gets. */
export interface CompareContext {
  /** Threads the reference stack may use (onnxruntime's EPs use as many cores on this machine). */
  threads: number;
  /** Fewer repetitions (smoke run). */
  quick: boolean;
  /** The random-weight ResNet-50 (legacy torch names) both sides run. */
  resnet50: string;
  /** tasks/nmf.ts, run start to end as a user runs it (src/ never names the entry points itself). */
  nmfTask: URL;
  /** A planted rank-k V (n x c) with noise 0.05 (fixtures/planted_nmf.ts, which only the tasks may import). */
  plantedNmf: (n: number, c: number, k: number) => Float32Array;
}

export type Comparison = (ctx: CompareContext) => Promise<CompareRow[]>;

/** In run order. */
export const COMPARISONS: Record<string, Comparison> = {
  forward: compareForward,
  shifting: compareShifting,
  hyperplanes: compareHyperplanes,
  nmf: compareNmf,
};

/** How many times faster protoscope is than the reference (below 1: slower), or undefined when skipped. */
export function speedRatio(row: CompareRow): number | undefined {
  if (!row.reference) return undefined;
  return row.lowerIsBetter
    ? row.reference.value / row.protoscope.value
    : row.protoscope.value / row.reference.value;
}

/** The rows as a Markdown table: stage, protoscope, reference stack, ratio (protoscope's speed over theirs). */
export function ratioTable(rows: CompareRow[]): string {
  const cell = (m: Measured, unit: string) => `${m.what}: ${m.value.toPrecision(3)} ${unit}`;
  const lines = [
    "| stage | protoscope | reference stack | ratio |",
    "| --- | --- | --- | --- |",
    ...rows.map((r) => {
      const ratio = speedRatio(r);
      const reference = r.reference ? cell(r.reference, r.unit) : r.skipped ?? "";
      const stage = r.note ? `${r.stage} (${r.note})` : r.stage;
      return `| ${stage} | ${cell(r.protoscope, r.unit)} | ${reference} | ${
        ratio === undefined ? "-" : `${ratio.toFixed(2)}x`
      } |`;
    }),
  ];
  return lines.join("\n");
}

/** Runs the comparisons named in `only` (default all) and returns their rows in order. */
export async function runComparisons(
  ctx: CompareContext,
  only: string[] = Object.keys(COMPARISONS),
  log: (line: string) => void = console.error,
): Promise<CompareRow[]> {
  for (const name of only) {
    if (!COMPARISONS[name]) {
      throw new Error(`--compare: unknown stage '${name}' (stages: ${Object.keys(COMPARISONS).join(", ")})`);
    }
  }
  const rows: CompareRow[] = [];
  for (const name of only) {
    const t0 = performance.now();
    log(`bench --compare: ${name} ...`);
    rows.push(...await COMPARISONS[name](ctx));
    log(`bench --compare: ${name} took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  return rows;
}
