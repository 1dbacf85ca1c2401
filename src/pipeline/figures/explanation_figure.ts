// The paper's explanation figure for one class: column 1 the best crop of each prototype over all images,
// column 2 the best crop among images not predicted as the class, column 3 the source image of each
// column-2 crop (crop outlined) with the class the model predicts for it, and below what the model predicts
// for the stacked crops of columns 1 and 2. The title says how large a crop is (a cell, a token's patch, or the
// P x P patches around it), and column 3 outlines that box.
import { cropBox, type CropCell } from "../../../kernels/composite/mod.ts";
import { cropCaption } from "../search/crop_patches.ts";
import { PREPARED_IMAGE_SIZE } from "../../data/input_spec.ts";
import type { ImageLookup } from "../search/crop_images.ts";
import type { CropRecord, VariantRecord } from "../component_test/component_test_run.ts";
import { Canvas, GRAY, lineHeight, RED, type RgbImage, textWidth } from "../../render/canvas.ts";

export interface ExplanationInput {
  cls: number;
  name?: string;
  layer: string;
  allImages: VariantRecord;
  targetExcluded: VariantRecord;
  images: ImageLookup;
  pooledWidth: number;
  /** How the composites reached the model: "stacked" (a CNN, the default) or on a canvas (a transformer). */
  composite?: "stacked" | "on a canvas";
  /** Cells per crop side (a token tap's --crop-patches; default 1). */
  cropPatches?: number;
}

const MARGIN = 12;
const ROW = 112;
const GAP = 10;

function cropImage(images: ImageLookup, cell: CropCell, pooledWidth: number, span: number): RgbImage {
  const { top, left, side } = cropBox(cell, pooledWidth, span);
  const src = images(cell.image);
  const pixels = new Uint8Array(side * side * 3);
  for (let r = 0; r < side; r++) {
    const from = ((top + r) * PREPARED_IMAGE_SIZE + left) * 3;
    pixels.set(src.subarray(from, from + side * 3), r * side * 3);
  }
  return { pixels, width: side, height: side };
}

const label = (v: { argmax: number; argmaxName?: string }) => v.argmaxName ?? `CLASS ${v.argmax}`;
const fileName = (path: string | null) => (path ? path.split(/[\\/]/).pop()! : "");

function sourceLines(c: CropRecord): string[] {
  if (c.image === null) return ["NO IMAGE OF ANOTHER CLASS"];
  return [
    c.predictedName ?? `CLASS ${c.predicted}`,
    `IMAGE ${c.image}, CELL (${c.y},${c.x}), COS ${c.score!.toFixed(3)}`,
    fileName(c.path),
  ];
}

function footerLines(input: ExplanationInput): string[] {
  const target = input.name ?? `CLASS ${input.cls}`;
  const line = (col: string, v: VariantRecord) =>
    v.noCrops
      ? `${col} NO CROPS: NOTHING TO TEST`
      : `${col} ${(input.composite ?? "stacked").toUpperCase()} -> ${label(v)} (P ${
        v.top5[0].p.toFixed(3)
      }), P(${target}) ${v.pClass.toFixed(3)}`;
  return [line("(2)", input.targetExcluded), line("(1)", input.allImages)];
}

/** Where the figure puts its cells: x of columns 1-3 (and of the text), y of each prototype's row. */
export function explanationGeometry(
  k: number,
): { columns: [number, number, number, number]; rows: number[]; cell: number } {
  const x1 = MARGIN, x2 = x1 + ROW + GAP, x3 = x2 + ROW + GAP, xText = x3 + ROW + GAP;
  const top = MARGIN + lineHeight(2) + 12 + lineHeight(1) + 8;
  return {
    columns: [x1, x2, x3, xText],
    rows: Array.from({ length: k }, (_, p) => top + p * (ROW + GAP)),
    cell: ROW,
  };
}

export function explanationFigure(input: ExplanationInput): Canvas {
  const k = input.allImages.crops.length;
  const target = input.name ?? `CLASS ${input.cls}`;
  const span = input.cropPatches ?? 1;
  const crops = cropCaption(
    cropBox({ y: 0, x: 0 }, input.pooledWidth, span).side,
    span,
    input.composite === "on a canvas",
  );
  const title = `WHY ${target}? PROTOTYPES AT ${input.layer}, CROPS OF ${crops.toUpperCase()}`;
  const sources = input.targetExcluded.crops.map(sourceLines);
  const textColumn = Math.max(
    ...sources.map((l) => Math.max(textWidth(l[0], 2), ...l.slice(1).map((t) => textWidth(t, 1)))),
    textWidth("(3) SOURCE IMAGES OF (2), PREDICTED CLASS", 1) - ROW - GAP,
  );
  const footer = footerLines(input);
  const geometry = explanationGeometry(k);
  const [x1, x2, x3, xText] = geometry.columns;
  const width = Math.max(
    xText + textColumn + MARGIN,
    MARGIN + textWidth(title, 2) + MARGIN,
    ...footer.map((l) => MARGIN + textWidth(l, 2) + MARGIN),
  );
  const footerTop = geometry.rows[0] + k * (ROW + GAP) + 6;
  const height = footerTop + footer.length * (lineHeight(2) + 8) + MARGIN;
  const canvas = new Canvas(width, height);
  canvas.text(MARGIN, MARGIN, title, undefined, 2);
  const headerY = MARGIN + lineHeight(2) + 12;
  canvas.text(x1, headerY, "(1) ALL IMAGES", undefined, 1);
  canvas.text(x2, headerY, "(2) OTHER CLASSES", undefined, 1);
  canvas.text(x3, headerY, "(3) SOURCE IMAGES OF (2), PREDICTED CLASS", undefined, 1);
  for (let p = 0; p < k; p++) {
    const y = geometry.rows[p];
    const all = input.allImages.crops[p];
    const other = input.targetExcluded.crops[p];
    for (const [x, c] of [[x1, all], [x2, other]] as const) {
      if (c.image === null) {
        canvas.fillRect(x, y, ROW, ROW, GRAY);
        canvas.text(x + 8, y + ROW / 2 - 7, "NONE", undefined, 2);
      } else {
        const cell = { image: c.image, y: c.y, x: c.x };
        canvas.blit(cropImage(input.images, cell, input.pooledWidth, span), x, y, ROW, ROW);
      }
    }
    if (other.image !== null) {
      const side = PREPARED_IMAGE_SIZE;
      canvas.blit({ pixels: input.images(other.image), width: side, height: side }, x3, y, ROW, ROW);
      const s = ROW / side;
      const box = cropBox(other, input.pooledWidth, span);
      canvas.frame(
        Math.round(x3 + box.left * s) - 1,
        Math.round(y + box.top * s) - 1,
        Math.round(box.side * s) + 2,
        Math.round(box.side * s) + 2,
        RED,
        2,
      );
    }
    const lines = sources[p];
    canvas.text(xText, y + 8, lines[0], undefined, 2);
    lines.slice(1).forEach((t, i) =>
      canvas.text(xText, y + 8 + lineHeight(2) + 8 + i * (lineHeight(1) + 6), t, GRAY, 1)
    );
  }
  footer.forEach((l, i) => canvas.text(MARGIN, footerTop + i * (lineHeight(2) + 8), l, undefined, 2));
  return canvas;
}
