// Cost against K: one JPEG, one panel per measure (wall seconds, peak RSS), one line per stage, both axes
// logarithmic, drawn from rehearsal.json files at several K (tasks/rehearse.ts): on log-log axes a stage
// linear in K rises by one decade per decade of K, a quadratic one (the pairs) by two.
import { BLACK, Canvas, GRAY, type Rgb, textWidth } from "../render/canvas.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import type { StageCost } from "./stage_meter.ts";

export interface CostSeries {
  classes: number;
  stages: StageCost[];
}

const COLORS: Rgb[] = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
  [127, 127, 127],
  [188, 189, 34],
  [23, 190, 207],
  [0, 0, 128],
  [128, 0, 0],
  [0, 100, 0],
];

const PANEL = { width: 560, height: 420, left: 70, right: 20, top: 40, bottom: 50 };

function line(c: Canvas, x0: number, y0: number, x1: number, y1: number, color: Rgb): void {
  const n = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0)));
  for (let t = 0; t <= n; t++) {
    c.fillRect(x0 + ((x1 - x0) * t) / n - 1, y0 + ((y1 - y0) * t) / n - 1, 2, 2, color);
  }
}

function panel(
  c: Canvas,
  ox: number,
  title: string,
  series: CostSeries[],
  value: (s: StageCost) => number | null,
  stages: string[],
): void {
  const { width, height, left, right, top, bottom } = PANEL;
  const ks = series.map((s) => s.classes);
  const values = series.flatMap((s) => s.stages.map(value)).filter((v): v is number => v !== null && v > 0);
  if (!values.length) {
    c.text(ox + left, 10, title, BLACK, 2);
    c.text(ox + left, top + 20, "not measured by these rehearsals", GRAY, 1);
    return;
  }
  const [kLo, kHi] = [Math.min(...ks) / 1.5, Math.max(...ks) * 1.5];
  const [vLo, vHi] = [Math.min(...values) / 2, Math.max(...values) * 2];
  const x = (k: number) =>
    ox + left + ((Math.log(k) - Math.log(kLo)) / (Math.log(kHi) - Math.log(kLo))) *
      (width - left - right);
  const y = (v: number) =>
    top + (1 - (Math.log(v) - Math.log(vLo)) / (Math.log(vHi) - Math.log(vLo))) * (height - top - bottom);
  c.text(ox + left, 10, title, BLACK, 2);
  c.frame(ox + left, top, width - left - right, height - top - bottom, GRAY, 1);
  for (const k of ks) c.text(x(k) - textWidth(String(k), 1) / 2, height - bottom + 8, String(k), BLACK, 1);
  c.text(ox + left + (width - left - right) / 2 - 4, height - bottom + 24, "K", BLACK, 2);
  for (let e = Math.ceil(Math.log10(vLo)); e <= Math.log10(vHi); e++) {
    const label = e >= 0 ? String(10 ** e) : (10 ** e).toFixed(-e);
    c.text(ox + left - 6 - textWidth(label, 1), y(10 ** e) - 3, label, BLACK, 1);
    c.fillRect(ox + left, y(10 ** e), 4, 1, BLACK);
  }
  stages.forEach((stage, si) => {
    const color = COLORS[si % COLORS.length];
    const pts = series
      .map((s) => ({ k: s.classes, v: value(s.stages.find((x) => x.stage === stage) ?? ({} as StageCost)) }))
      .filter((p): p is { k: number; v: number } => p.v !== null && p.v !== undefined && p.v > 0)
      .sort((a, b) => a.k - b.k);
    pts.forEach((p, i) => {
      c.fillRect(x(p.k) - 3, y(p.v) - 3, 6, 6, color);
      if (i) line(c, x(pts[i - 1].k), y(pts[i - 1].v), x(p.k), y(p.v), color);
    });
  });
}

/** Writes the chart of `series` (any order, one per K) to `path`. */
export async function writeCostChart(path: string, series: CostSeries[]): Promise<void> {
  const stages = [...new Set(series.flatMap((s) => s.stages.map((x) => x.stage)))].filter((s) =>
    !s.includes("shards")
  );
  const legendRows = Math.ceil(stages.length / 6);
  const c = new Canvas(3 * PANEL.width, PANEL.height + 16 * legendRows + 30);
  panel(c, 0, "wall seconds", series, (s) => s.wallSeconds ?? null, stages);
  panel(
    c,
    PANEL.width,
    "peak RSS (MB)",
    series,
    (s) => (s.peakRssBytes ? s.peakRssBytes / 2 ** 20 : null),
    stages,
  );
  // Stages that made no GPU buffer (or rehearsals from before the meter) have no point here.
  panel(
    c,
    2 * PANEL.width,
    "peak GPU buffers (MB)",
    series,
    (s) => (s.peakGpuBufferBytes ? s.peakGpuBufferBytes / 2 ** 20 : null),
    stages,
  );
  stages.forEach((stage, si) => {
    const lx = 20 + (si % 6) * 270, ly = PANEL.height + 4 + 16 * Math.floor(si / 6);
    c.fillRect(lx, ly + 2, 10, 10, COLORS[si % COLORS.length]);
    c.text(lx + 16, ly + 2, stage, BLACK, 1);
  });
  const ks = series.map((s) => s.classes).sort((a, b) => a - b);
  c.text(
    20,
    PANEL.height + 16 * legendRows + 12,
    `deno task rehearse at K = ${
      ks.join(", ")
    }, one point per run. Log-log axes: a slope of 1 is linear in K, ` +
      "2 quadratic (the pairs)",
    BLACK,
    1,
  );
  await writeFileAtomic(path, await c.toJpeg());
}
