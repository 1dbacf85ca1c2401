// The decompose figure: an image explained in one class's prototypes, readable on its own: a title naming the
// image and the class, the model's verdict (its top class and p(class)), the input beside every prototype's
// contribution map with that prototype's share, and the colour scale the maps share.
import { BLACK, Canvas, lineHeight, textWidth } from "../../render/canvas.ts";
import { drawHeatScale, HEAT_SCALE_HEIGHT, scaleValue } from "../../render/heat_scale.ts";
import { IMAGE_SIZE } from "../../data/input_spec.ts";

export interface DecomposeFigureInput {
  /** The image's file name. */
  image: string;
  /** Its model input, IMAGE_SIZE x IMAGE_SIZE x 3. */
  rgb: Uint8Array;
  cls: number;
  className?: string;
  classProbability: number;
  top1: { class: number; name?: string; probability: number };
  relativeError: number;
  /** Per prototype its overlay (IMAGE_SIZE square RGB) and share of the contribution. */
  overlays: { prototype: number; share: number; rgb: Uint8Array }[];
  /** The contribution drawn hottest (shared by every map). */
  scale: number;
}

const MARGIN = 12;
const TILE = 160;
const GAP = 10;
const PER_ROW = 4;

const named = (c: number, name?: string) => (name ? `${c} ${name}` : String(c)).toUpperCase();

export function decomposeFigure(input: DecomposeFigureInput): Canvas {
  const title = `${input.image} IN THE PROTOTYPES OF CLASS ${named(input.cls, input.className)}`
    .toUpperCase();
  const verdict =
    `MODEL: ${named(input.top1.class, input.top1.name)} P=${input.top1.probability.toFixed(3)}, ` +
    `P(${input.cls})=${input.classProbability.toFixed(3)}, ` +
    `RELATIVE RECONSTRUCTION ERROR ${input.relativeError.toFixed(3)}`;
  const columns = Math.min(PER_ROW, input.overlays.length);
  const rows = Math.ceil(input.overlays.length / PER_ROW);
  const tileRow = TILE + 4 + lineHeight(1) + GAP;
  const top = MARGIN + lineHeight(2) + 8 + lineHeight(1) + 12;
  const width = Math.max(
    2 * MARGIN + TILE + GAP + columns * (TILE + GAP),
    2 * MARGIN + textWidth(title, 2),
    2 * MARGIN + textWidth(verdict, 1),
  );
  const height = top + Math.max(TILE + 4 + lineHeight(1), rows * tileRow) + 8 + HEAT_SCALE_HEIGHT + MARGIN;
  const canvas = new Canvas(width, height);
  canvas.text(MARGIN, MARGIN, title, BLACK, 2);
  canvas.text(MARGIN, MARGIN + lineHeight(2) + 8, verdict, BLACK, 1);
  const image = (rgb: Uint8Array) => ({ pixels: rgb, width: IMAGE_SIZE, height: IMAGE_SIZE });
  canvas.blit(image(input.rgb), MARGIN, top, TILE, TILE);
  canvas.text(MARGIN, top + TILE + 4, "MODEL INPUT", BLACK, 1);
  input.overlays.forEach((o, i) => {
    const x = MARGIN + TILE + GAP + (i % PER_ROW) * (TILE + GAP);
    const y = top + Math.floor(i / PER_ROW) * tileRow;
    canvas.blit(image(o.rgb), x, y, TILE, TILE);
    canvas.text(x, y + TILE + 4, `P${o.prototype}: ${(100 * o.share).toFixed(1)}% OF CONTRIBUTION`, BLACK, 1);
  });
  const scaleY = height - MARGIN - HEAT_SCALE_HEIGHT;
  drawHeatScale(
    canvas,
    MARGIN,
    scaleY,
    Math.min(320, width - 2 * MARGIN),
    `contribution of a prototype at a position, x_j(q) times norm(h_j) (one scale for all maps, max ${
      scaleValue(input.scale)
    })`,
    input.scale,
  );
  return canvas;
}
