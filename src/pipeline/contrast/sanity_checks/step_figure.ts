// The paper's Figure 3 for one run: p(j) at every step (offset or mask level) over the run's pairs, as the
// median line inside the band between the first and third quartiles. Steps are evenly spaced and labelled
// with their values, since the reference's offsets (0 ... -200) are far from evenly spaced.
import { BLACK, Canvas, GRAY, lineHeight, type Rgb, textWidth } from "../../../render/canvas.ts";

export interface StepFigureInput {
  title: string;
  stepLabel: string;
  steps: number[];
  /** One series per pair: p(j) per step. */
  series: number[][];
}

const BAND: Rgb = [170, 200, 240];
const LINE: Rgb = [20, 70, 170];

/** The q-quantile (linear interpolation, numpy's default) of `xs`. */
export function quantile(xs: number[], q: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q, lo = Math.floor(pos), hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/**
 * Median and quartiles of every step over the series (one series per pair; the report's curves too). Values
 * that are not finite are left out, and series may be shorter than `steps`.
 */
export function stepQuartiles(
  series: number[][],
  steps = Math.max(0, ...series.map((s) => s.length)),
): { q1: number[]; median: number[]; q3: number[] } {
  const at = (k: number) => series.map((s) => s[k]).filter(Number.isFinite);
  const range = Array.from({ length: steps }, (_, k) => k);
  return {
    q1: range.map((k) => quantile(at(k), 0.25)),
    median: range.map((k) => quantile(at(k), 0.5)),
    q3: range.map((k) => quantile(at(k), 0.75)),
  };
}

export async function stepFigure(input: StepFigureInput): Promise<Uint8Array> {
  const plotW = 520, plotH = 260, left = 56, top = 20 + lineHeight(2) + 12, bottom = 52, right = 24;
  const canvas = new Canvas(left + plotW + right, top + plotH + bottom);
  canvas.text(12, 12, input.title, BLACK, 1);
  const n = input.steps.length;
  const xOf = (k: number) => left + (n > 1 ? (k * plotW) / (n - 1) : plotW / 2);
  const yOf = (p: number) => top + plotH - Math.max(0, Math.min(1, p)) * plotH;
  // Axes and the p = 0.5 line that the flip criterion uses.
  canvas.fillRect(left, top, 1, plotH + 1, BLACK);
  canvas.fillRect(left, top + plotH, plotW + 1, 1, BLACK);
  for (let x = left; x < left + plotW; x += 6) canvas.fillRect(x, yOf(0.5), 3, 1, GRAY);
  for (const p of [0, 0.5, 1]) {
    const label = p.toFixed(1);
    canvas.text(left - 8 - textWidth(label, 1), yOf(p) - 3, label, BLACK, 1);
  }
  // The y axis's name above it (the bitmap font draws no rotated text).
  canvas.text(Math.max(2, left - textWidth("P(J)", 1) / 2), top - lineHeight(1) - 4, "P(J)", BLACK, 1);
  if (input.series.length) {
    const { q1, median, q3 } = stepQuartiles(input.series, n);
    // The band: a column per pixel between neighbouring steps, interpolating the quartiles.
    for (let k = 0; k + 1 < n; k++) {
      const x0 = Math.round(xOf(k)), x1 = Math.round(xOf(k + 1));
      for (let x = x0; x <= x1; x++) {
        const t = x1 > x0 ? (x - x0) / (x1 - x0) : 0;
        const lo = q1[k] + (q1[k + 1] - q1[k]) * t, hi = q3[k] + (q3[k + 1] - q3[k]) * t;
        canvas.fillRect(x, yOf(hi), 1, Math.max(1, yOf(lo) - yOf(hi)), BAND);
        const m = median[k] + (median[k + 1] - median[k]) * t;
        canvas.fillRect(x - 1, yOf(m) - 1, 3, 3, LINE);
      }
    }
    for (let k = 0; k < n; k++) canvas.fillRect(xOf(k) - 3, yOf(median[k]) - 3, 7, 7, LINE);
  } else {
    canvas.text(left + 20, top + plotH / 2, "no pairs", BLACK, 2);
  }
  for (let k = 0; k < n; k++) {
    const label = String(input.steps[k]);
    canvas.fillRect(xOf(k), top + plotH, 1, 5, BLACK);
    canvas.text(xOf(k) - textWidth(label, 1) / 2, top + plotH + 9, label, BLACK, 1);
  }
  const axis = `${input.stepLabel}, p(j): median (line), quartiles (band)`;
  canvas.text(left + (plotW - textWidth(axis, 1)) / 2, top + plotH + 28, axis, BLACK, 1);
  return await canvas.toJpeg();
}
