// The "why A, not B" figure: per prototype a row of its best crops from A's images, each beside its image with
// the mask drawn over it (the A-side score as a heat map) and the crop's cell framed, so one sees both what the
// prototype is and where the mask kept it. With both directions the two panels stand side by side.
import { cropSize } from "../../../../kernels/composite/mod.ts";
import {
  Canvas,
  GRAY,
  lineHeight,
  OWN_CLASS as CELL_FRAME,
  type RgbImage,
  textWidth,
} from "../../../render/canvas.ts";
import { overlayMap } from "../../../render/overlay.ts";
import { drawHeatScale, HEAT_SCALE_HEIGHT } from "../../../render/heat_scale.ts";
import { PREPARED_IMAGE_SIZE } from "../../../data/input_spec.ts";
import type { ImageLookup } from "../../search/crop_images.ts";
import type { WhyNotDirection } from "./why_not_direction.ts";

export interface WhyNotFigureInput {
  layer: string;
  directions: Pick<
    WhyNotDirection,
    "from" | "to" | "fromName" | "toName" | "images" | "masks" | "maskShape" | "topCrops"
  >[];
  images: ImageLookup;
  pooledWidth: number;
  /** Crops per row (default 4; each takes two cells: crop and mask). */
  columns?: number;
}

const MARGIN = 12;
const GAP = 4;
const PAIR_GAP = 12;
const BETWEEN_PANELS = 32;

/** Cell (y, x) of a square RGB image of side `side`, `size` pixels a side. */
function cell(rgb: Uint8Array, side: number, y: number, x: number, size: number): RgbImage {
  const pixels = new Uint8Array(size * size * 3);
  for (let r = 0; r < size; r++) {
    const from = ((y * size + r) * side + x * size) * 3;
    pixels.set(rgb.subarray(from, from + size * 3), r * size * 3);
  }
  return { pixels, width: size, height: size };
}

const title = (c: number, name?: string) => (name ? `${c} ${name}` : String(c)).toUpperCase();

export function whyNotFigure(input: WhyNotFigureInput): Canvas {
  const side = PREPARED_IMAGE_SIZE;
  const size = cropSize(input.pooledWidth, side);
  const scale = Math.max(1, Math.round(64 / size));
  const shown = size * scale;
  const columns = input.columns ?? 4;
  const k = Math.max(...input.directions.map((d) => d.topCrops.length));
  const label = textWidth(`P${k}`, 2) + 10;
  const pitchX = 2 * shown + GAP + PAIR_GAP;
  const rowHeight = shown + lineHeight(1) + 10;
  const subtitle = (d: Pick<WhyNotDirection, "topCrops">) =>
    `${d.topCrops.length} PROTOTYPES AT ${input.layer}: BEST CROPS FROM ITS IMAGES, EACH BESIDE THE MASK OVER ITS IMAGE`;
  // A long layer name (a transformer's encoder.layers.encoder_layer_7) widens the panel rather than being cut.
  const panelWidth = Math.max(
    label + columns * pitchX,
    ...input.directions.map((d) =>
      textWidth(`WHY ${title(d.from, d.fromName)}, NOT ${title(d.to, d.toName)}`, 2)
    ),
    ...input.directions.map((d) => textWidth(subtitle(d), 1)),
  );
  const top = MARGIN + lineHeight(2) + 10 + lineHeight(1) + 8;
  const width = 2 * MARGIN + input.directions.length * panelWidth +
    (input.directions.length - 1) * BETWEEN_PANELS;
  // The legend under the rows: what the mask colours and the frames mean.
  const legend = 8 + HEAT_SCALE_HEIGHT + 6 + lineHeight(1);
  const height = top + k * rowHeight + legend + MARGIN;
  const canvas = new Canvas(width, height);
  const legendY = top + k * rowHeight + 8;
  input.directions.forEach((d, panel) => {
    const x0 = MARGIN + panel * (panelWidth + BETWEEN_PANELS);
    canvas.text(x0, MARGIN, `WHY ${title(d.from, d.fromName)}, NOT ${title(d.to, d.toName)}`, undefined, 2);
    canvas.text(
      x0,
      MARGIN + lineHeight(2) + 10,
      subtitle(d),
      undefined,
      1,
    );
    const [, h, w] = d.maskShape;
    const maxMask = d.masks.reduce((m, v) => Math.max(m, v), 0);
    const overlays = new Map<number, Uint8Array>();
    const overlayOf = (image: number) => {
      let o = overlays.get(image);
      if (!o) {
        const i = d.images.indexOf(image);
        o = overlayMap(
          input.images(image),
          side,
          d.masks.subarray(i * h * w, (i + 1) * h * w),
          h,
          w,
          maxMask,
        );
        overlays.set(image, o);
      }
      return o;
    };
    d.topCrops.forEach((crops, p) => {
      const y = top + p * rowHeight;
      canvas.text(x0, y + Math.round((shown - lineHeight(2)) / 2), `P${p + 1}`, undefined, 2);
      if (!crops.length) canvas.text(x0 + label, y, "NO CROPS", GRAY, 2);
      crops.slice(0, columns).forEach((c, j) => {
        const x = x0 + label + j * pitchX;
        canvas.blit(cell(input.images(c.image), side, c.y, c.x, size), x, y, shown, shown);
        // The whole image with its mask, shrunk to the crop's size, the crop's cell framed.
        const ox = x + shown + GAP, f = shown / side;
        canvas.blit({ pixels: overlayOf(c.image), width: side, height: side }, ox, y, shown, shown);
        canvas.frame(ox + c.x * size * f, y + c.y * size * f, size * f, size * f, CELL_FRAME, 1);
        canvas.text(x, y + shown + 4, `${c.score.toFixed(2)} IMG ${c.image}`, undefined, 1);
      });
    });
    drawHeatScale(
      canvas,
      x0,
      legendY,
      Math.min(240, panelWidth),
      `mask: ${title(d.from, d.fromName)}-side score of the (${d.from}, ${d.to}) hyperplane`,
      maxMask,
    );
    const frameY = legendY + HEAT_SCALE_HEIGHT + 6;
    canvas.frame(x0, frameY, lineHeight(1), lineHeight(1), CELL_FRAME, 1);
    canvas.text(
      x0 + lineHeight(1) + 6,
      frameY,
      "FRAME: THE CROP'S CELL IN ITS IMAGE. NUMBER UNDER A CROP: PROTOTYPE SCORE, IMAGE INDEX",
      undefined,
      1,
    );
  });
  return canvas;
}
