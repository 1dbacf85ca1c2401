// The report's plots as plain inline SVG strings, drawn when the report is built: a grouped histogram, line
// curves with a shaded quartile band, and a heat map. Written by hand rather than taken from an npm charting
// library: the three chart kinds need about 200 lines, the SVG is static (no script runs to draw it, so the page
// opens fast and a chart can't throw in the browser), and nothing has to be inlined or licence-checked. Inline
// SVG in HTML needs no xmlns, so the page holds no http URL at all.
import { dataUri, escapeHtml } from "./html.ts";
import { encodePng } from "../../render/image_file.ts";

export interface Series {
  label: string;
  color: string;
}

/** Chart frame: plot area inside margins for the axis labels. */
const M = { left: 48, right: 12, top: 24, bottom: 40 };

function fmt(x: number, digits = 3): string {
  return Number.isFinite(x) ? String(Number(x.toFixed(digits))) : String(x);
}

function frame(width: number, height: number, title: string, body: string): string {
  return `<svg class="chart" viewBox="0 0 ${width} ${height}" ` +
    `width="${width}" height="${height}" role="img" aria-label="${escapeHtml(title)}">` +
    `<text x="${width / 2}" y="15" text-anchor="middle" class="chart-title">${escapeHtml(title)}</text>` +
    body + `</svg>`;
}

/** Axis lines, ticks and labels for a plot area mapping [x0, x1] x [y0, y1]. */
function axes(
  width: number,
  height: number,
  x: { ticks: number[]; label: string; at: (v: number) => number; text?: (v: number) => string },
  y: { ticks: number[]; label: string; at: (v: number) => number },
): string {
  const bottom = height - M.bottom;
  const parts = [
    `<line x1="${M.left}" y1="${bottom}" x2="${width - M.right}" y2="${bottom}" class="axis"/>`,
    `<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${bottom}" class="axis"/>`,
  ];
  for (const t of x.ticks) {
    const px = fmt(x.at(t), 1);
    parts.push(
      `<line x1="${px}" y1="${bottom}" x2="${px}" y2="${bottom + 4}" class="axis"/>`,
      `<text x="${px}" y="${bottom + 15}" text-anchor="middle">${escapeHtml(x.text?.(t) ?? fmt(t))}</text>`,
    );
  }
  for (const t of y.ticks) {
    const py = fmt(y.at(t), 1);
    parts.push(
      `<line x1="${M.left - 4}" y1="${py}" x2="${width - M.right}" y2="${py}" class="grid"/>`,
      `<text x="${M.left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`,
    );
  }
  parts.push(
    `<text x="${(M.left + width - M.right) / 2}" y="${height - 6}" text-anchor="middle">${
      escapeHtml(x.label)
    }</text>`,
    `<text transform="translate(12 ${(M.top + bottom) / 2}) rotate(-90)" text-anchor="middle">${
      escapeHtml(y.label)
    }</text>`,
  );
  return parts.join("");
}

function legend(series: Series[], x: number, y: number): string {
  return series.map((s, i) =>
    `<rect x="${x}" y="${y + i * 14 - 8}" width="10" height="10" fill="${s.color}"/>` +
    `<text x="${x + 14}" y="${y + i * 14}">${escapeHtml(s.label)}</text>`
  ).join("");
}

/** Counts of values in `bins` equal bins over [0, 1] (1 falls in the last bin). */
export function histogramCounts(values: number[], bins: number): number[] {
  const counts = new Array(bins).fill(0);
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    counts[Math.min(bins - 1, Math.max(0, Math.floor(v * bins)))]++;
  }
  return counts;
}

/** Side-by-side bars of several series' histograms of values in [0, 1]. */
export function histogramSvg(
  title: string,
  xLabel: string,
  series: (Series & { values: number[] })[],
  bins = 20,
): string {
  const width = 560, height = 260;
  const counts = series.map((s) => histogramCounts(s.values, bins));
  const top = Math.max(1, ...counts.flat());
  const plotW = width - M.left - M.right, plotH = height - M.top - M.bottom;
  const xAt = (v: number) => M.left + v * plotW;
  const yAt = (c: number) => height - M.bottom - (c / top) * plotH;
  const binW = plotW / bins, barW = (binW - 2) / series.length;
  const bars: string[] = [];
  counts.forEach((cs, si) =>
    cs.forEach((c, b) => {
      if (!c) return;
      const x = M.left + b * binW + 1 + si * barW;
      bars.push(
        `<rect x="${fmt(x, 1)}" y="${fmt(yAt(c), 1)}" width="${fmt(barW, 1)}" height="${
          fmt(height - M.bottom - yAt(c), 1)
        }" fill="${series[si].color}"><title>${escapeHtml(series[si].label)}: ${c} in [${fmt(b / bins)}, ${
          fmt((b + 1) / bins)
        })</title></rect>`,
      );
    })
  );
  const yTicks = niceTicks(top);
  return frame(
    width,
    height,
    title,
    axes(width, height, { ticks: [0, 0.2, 0.4, 0.6, 0.8, 1], label: xLabel, at: xAt }, {
      ticks: yTicks,
      label: "classes",
      at: yAt,
    }) + bars.join("") + legend(series, width - M.right - 130, M.top + 8),
  );
}

/** Up to 6 round tick values from 0 to max. */
function niceTicks(max: number): number[] {
  const step = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000].find((s) => max / s <= 5) ??
    Math.ceil(max / 5);
  const ticks: number[] = [];
  for (let t = 0; t <= max; t += step) ticks.push(t);
  return ticks;
}

/** One curve: a median line and (optionally) the band between its lower and upper quartile. */
export interface Curve extends Series {
  median: number[];
  q1?: number[];
  q3?: number[];
  dashed?: boolean;
}

/** Curves over shared x steps (offsets, mask levels); y in [0, 1]. */
export function curvesSvg(
  title: string,
  xLabel: string,
  yLabel: string,
  xs: number[],
  curves: Curve[],
): string {
  const width = 560, height = 280;
  const plotW = width - M.left - M.right, plotH = height - M.top - M.bottom;
  // Steps are drawn evenly spaced (offsets grow geometrically), labelled with their values.
  const xAt = (i: number) => M.left + (xs.length > 1 ? (i / (xs.length - 1)) * plotW : plotW / 2);
  const yAt = (p: number) => height - M.bottom - p * plotH;
  const line = (ys: number[]) => ys.map((y, i) => `${fmt(xAt(i), 1)},${fmt(yAt(y), 1)}`).join(" ");
  const parts: string[] = [];
  for (const c of curves) {
    if (c.q1 && c.q3) {
      const upper = c.q3.map((y, i) => `${fmt(xAt(i), 1)},${fmt(yAt(y), 1)}`);
      const lower = c.q1.map((y, i) => `${fmt(xAt(i), 1)},${fmt(yAt(y), 1)}`).reverse();
      parts.push(`<polygon points="${[...upper, ...lower].join(" ")}" fill="${c.color}" opacity="0.18"/>`);
    }
  }
  for (const c of curves) {
    parts.push(
      `<polyline points="${line(c.median)}" fill="none" stroke="${c.color}" stroke-width="2"${
        c.dashed ? ' stroke-dasharray="5 3"' : ""
      }/>`,
      ...c.median.map((y, i) =>
        `<circle cx="${fmt(xAt(i), 1)}" cy="${fmt(yAt(y), 1)}" r="2.5" fill="${c.color}"><title>${
          escapeHtml(c.label)
        } at ${fmt(xs[i])}: median ${fmt(y)}${
          c.q1 && c.q3 ? `, quartiles ${fmt(c.q1[i])}..${fmt(c.q3[i])}` : ""
        }</title></circle>`
      ),
    );
  }
  const every = Math.max(1, Math.ceil(xs.length / 12));
  return frame(
    width,
    height,
    title,
    axes(width, height, {
      ticks: xs.map((_, i) => i).filter((i) => i % every === 0),
      label: xLabel,
      at: xAt,
      text: (i) => fmt(xs[i]),
    }, { ticks: [0, 0.25, 0.5, 0.75, 1], label: yLabel, at: yAt }) + parts.join("") +
      legend(curves, M.left + 8, M.top + 8),
  );
}

/** Colour of a value in [0, 1]: white (0) through light blue to dark blue (1); grey for NaN (no pair). */
export function heatColor(v: number): string {
  const [r, g, b] = heatRgb(v);
  return `rgb(${r},${g},${b})`;
}

export function heatRgb(v: number): [number, number, number] {
  if (!Number.isFinite(v)) return [0xdd, 0xdd, 0xdd];
  const t = Math.min(1, Math.max(0, v));
  const mix = (a: number, b: number) => Math.round(a + (b - a) * t);
  return [mix(247, 8), mix(251, 48), mix(255, 107)];
}

/**
 * The cells of a heat map: a K x K matrix averaged over square blocks of classes (NaN cells left out) beyond
 * `maxCells` per side. Row-major n x n, with the block's width.
 */
export function heatMapCells(
  matrix: Float64Array,
  k: number,
  maxCells = 64,
): { cells: Float64Array; n: number; block: number } {
  const block = Math.ceil(k / maxCells), n = Math.ceil(k / block);
  const cells = new Float64Array(n * n);
  for (let bi = 0; bi < n; bi++) {
    for (let bj = 0; bj < n; bj++) {
      let sum = 0, count = 0;
      for (let i = bi * block; i < Math.min(k, (bi + 1) * block); i++) {
        for (let j = bj * block; j < Math.min(k, (bj + 1) * block); j++) {
          const v = matrix[i * k + j];
          if (Number.isFinite(v)) (sum += v, count++);
        }
      }
      cells[bi * n + bj] = count ? sum / count : NaN;
    }
  }
  return { cells, n, block };
}

/**
 * A K x K matrix (row i, column j) as a heat map: the cells (heatMapCells) are one PNG of n x n pixels drawn
 * scaled up inside the SVG, so the page holds one element, not n^2 rectangles, whatever K.
 */
export async function heatMapSvg(
  title: string,
  matrix: Float64Array,
  k: number,
  labels: { row: string; column: string; value?: string },
  maxCells = 64,
): Promise<string> {
  const { cells, n, block } = heatMapCells(matrix, k, maxCells);
  const cell = Math.max(4, Math.min(40, Math.floor(480 / n)));
  const left = 56, top = 28, side = n * cell;
  const width = left + side + 70, height = top + side + 44;
  const rgb = new Uint8Array(n * n * 3);
  cells.forEach((v, p) => rgb.set(heatRgb(v), 3 * p));
  const png = dataUri(await encodePng(rgb, n, n), "image/png");
  const what = block === 1
    ? "one cell per pair (i, j); grey: no pair"
    : `blocks of ${block} x ${block} pairs`;
  const rects = [
    `<image x="${left}" y="${top}" width="${side}" height="${side}" preserveAspectRatio="none" ` +
    `style="image-rendering: pixelated" href="${png}"><title>${what}</title></image>`,
  ];
  const every = Math.max(1, Math.ceil(n / 16));
  const ticks: string[] = [];
  for (let b = 0; b < n; b += every) {
    const c = (b + 0.5) * cell;
    ticks.push(
      `<text x="${left + c}" y="${top + side + 12}" text-anchor="middle">${b * block}</text>`,
      `<text x="${left - 4}" y="${top + c}" text-anchor="end" dominant-baseline="middle">${b * block}</text>`,
    );
  }
  const scale = [0, 0.25, 0.5, 0.75, 1].map((v, i) =>
    `<rect x="${left + side + 14}" y="${top + (4 - i) * 24}" width="14" height="24" fill="${
      heatColor(v)
    }"/>` +
    `<text x="${left + side + 32}" y="${top + (4 - i) * 24 + 12}" dominant-baseline="middle">${v}</text>`
  ).join("");
  // What the colours mean, above the scale.
  const scaleTitle = labels.value
    ? `<text x="${left + side + 14}" y="${top - 8}">${escapeHtml(labels.value)}</text>`
    : "";
  const body = rects.join("") + ticks.join("") + scale + scaleTitle +
    `<text x="${left + side / 2}" y="${height - 8}" text-anchor="middle">${
      escapeHtml(labels.column)
    }</text>` +
    `<text transform="translate(12 ${top + side / 2}) rotate(-90)" text-anchor="middle">${
      escapeHtml(labels.row)
    }</text>`;
  return frame(width, height, block === 1 ? title : `${title} (blocks of ${block} classes, mean)`, body);
}
