// The insert test's figure (the paper's Figure 9), readable on its own: a title naming A and B, the first
// receiving image as it is, with A's crop pasted and with the control patch, each with the model's p(A) and
// p(B) on it, the crop itself, and the means over all the receiving images.
import { BLACK, Canvas, lineHeight, OWN_CLASS, textWidth } from "../../../render/canvas.ts";

type Probabilities = { pA: number; pB: number };
/** What the figure reads of insert.ts's InsertMeasurement (kept structural so the two files do not import each
 * other). */
export interface InsertFigureMeasurement {
  watch: number;
  into: number;
  images: { before: Probabilities; after: Probabilities; control: Probabilities }[];
  summary: Record<"before" | "after" | "control", { pA: { mean: number } }>;
  riseOverControl: number;
}

export interface InsertFigureInput {
  measurement: InsertFigureMeasurement;
  names?: string[];
  side: number;
  /** The first receiving image: as it is, with the crop, with the control (side x side x 3 each). */
  before: Uint8Array;
  after: Uint8Array;
  control: Uint8Array;
  crop: { rgb: Uint8Array; width: number; height: number };
  /** Where the patch was pasted (pixels of the side x side image). */
  at: { top: number; left: number; height: number; width: number };
}

const MARGIN = 12;
const TILE = 224;
const GAP = 14;

export function insertFigure(input: InsertFigureInput): Canvas {
  const m = input.measurement;
  const name = (c: number) => (input.names?.[c] ? `${c} ${input.names[c]}` : String(c)).toUpperCase();
  const A = name(m.watch), B = name(m.into);
  const title = `A CROP OF ${A} PASTED INTO AN IMAGE OF ${B}`;
  const s = m.summary;
  const means = `MEAN OVER ${m.images.length} IMAGES OF ${B}: P(A) ${s.before.pA.mean.toFixed(3)} AS IS, ` +
    `${s.after.pA.mean.toFixed(3)} WITH THE CROP, ${s.control.pA.mean.toFixed(3)} WITH THE CONTROL ` +
    `(RISE OVER CONTROL ${m.riseOverControl >= 0 ? "+" : ""}${m.riseOverControl.toFixed(3)})`;
  const legend = `A = ${A}, B = ${B}. FRAME: WHERE THE PATCH WAS PASTED`;
  const first = m.images[0];
  const panels: [string, Uint8Array, { pA: number; pB: number }][] = [
    ["AS IS", input.before, first.before],
    ["WITH THE CROP", input.after, first.after],
    ["WITH THE CONTROL", input.control, first.control],
  ];
  const cropShown = Math.min(TILE, Math.max(input.crop.width, input.crop.height) * 2);
  const width = Math.max(
    2 * MARGIN + 3 * (TILE + GAP) + cropShown,
    2 * MARGIN + textWidth(title, 2),
    2 * MARGIN + textWidth(means, 1),
  );
  const top = MARGIN + lineHeight(2) + 8 + lineHeight(1) + 6 + lineHeight(1) + 12;
  const height = top + lineHeight(1) + 4 + TILE + 6 + 2 * (lineHeight(2) + 4) + MARGIN;
  const canvas = new Canvas(width, height);
  canvas.text(MARGIN, MARGIN, title, BLACK, 2);
  canvas.text(MARGIN, MARGIN + lineHeight(2) + 8, means, BLACK, 1);
  canvas.text(MARGIN, MARGIN + lineHeight(2) + 8 + lineHeight(1) + 6, legend, BLACK, 1);
  const f = TILE / input.side;
  panels.forEach(([label, rgb, p], i) => {
    const x = MARGIN + i * (TILE + GAP);
    canvas.text(x, top, label, BLACK, 1);
    const y = top + lineHeight(1) + 4;
    canvas.blit({ pixels: rgb, width: input.side, height: input.side }, x, y, TILE, TILE);
    if (i > 0) {
      const b = input.at;
      canvas.frame(x + b.left * f - 2, y + b.top * f - 2, b.width * f + 4, b.height * f + 4, OWN_CLASS, 2);
    }
    canvas.text(x, y + TILE + 6, `P(A)=${p.pA.toFixed(3)}`, BLACK, 2);
    canvas.text(x, y + TILE + 6 + lineHeight(2) + 4, `P(B)=${p.pB.toFixed(3)}`, BLACK, 2);
  });
  const cx = MARGIN + 3 * (TILE + GAP);
  canvas.text(cx, top, "THE CROP", BLACK, 1);
  const scale = cropShown / Math.max(input.crop.width, input.crop.height);
  canvas.blit(
    { pixels: input.crop.rgb, width: input.crop.width, height: input.crop.height },
    cx,
    top + lineHeight(1) + 4,
    Math.round(input.crop.width * scale),
    Math.round(input.crop.height * scale),
  );
  return canvas;
}
