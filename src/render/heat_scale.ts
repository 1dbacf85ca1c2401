// The colour scale of the heat maps (overlay.ts's heatColor), drawn into a figure with its meaning and its
// end values, so that a figure's heat map can be read without the code that made it.
import { BLACK, type Canvas, lineHeight, type Rgb, textWidth } from "./canvas.ts";
import { heatColor } from "./overlay.ts";

/** Height of what drawHeatScale draws: the label line, the bar and the end values. */
export const HEAT_SCALE_HEIGHT = lineHeight(1) + 4 + 10 + 3 + lineHeight(1);

/** A number short enough for a scale's end (3 significant digits). */
export function scaleValue(v: number): string {
  if (!Number.isFinite(v)) return "?";
  if (v === 0) return "0";
  return Math.abs(v) >= 1000 || Math.abs(v) < 0.01 ? v.toExponential(1).toUpperCase() : v.toPrecision(3);
}

/**
 * Draws at (x, y) the label, a `width` px bar from the coldest to the hottest colour, and the values `min` and
 * `max` under its ends; returns the height drawn (HEAT_SCALE_HEIGHT).
 */
export function drawHeatScale(
  canvas: Canvas,
  x: number,
  y: number,
  width: number,
  label: string,
  max: number,
  min = 0,
): number {
  canvas.text(x, y, label.toUpperCase(), BLACK, 1);
  const barY = y + lineHeight(1) + 4;
  for (let i = 0; i < width; i++) {
    canvas.fillRect(x + i, barY, 1, 10, heatColor(i / Math.max(1, width - 1)) as Rgb);
  }
  canvas.frame(x, barY, width, 10, BLACK, 1);
  const valueY = barY + 10 + 3;
  canvas.text(x, valueY, scaleValue(min), BLACK, 1);
  const right = scaleValue(max);
  canvas.text(x + width - textWidth(right, 1), valueY, right, BLACK, 1);
  return HEAT_SCALE_HEIGHT;
}
