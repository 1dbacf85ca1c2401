// "Where does this image look like A rather than B?": the image's activations at the hyperplanes' layer scored,
// position by position, with the A-side score of the (A, B) hyperplane that "why A, not B" masks with
// (why_not.ts's sideMasks, the same function), drawn over the image with its colour scale, the model's p(A) and
// p(B), and the share of positions on A's side.
import { basename, join } from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../../io/atomic.ts";
import { cropBytes, preprocessFile } from "../../data/preprocess.ts";
import { IMAGE_SIZE } from "../../data/input_spec.ts";
import { type Classifier, softmaxRows } from "../../model/classifier.ts";
import { tokenLayout, tokensAsGrid } from "../../model/tokens.ts";
import { BLACK, Canvas, lineHeight, textWidth } from "../../render/canvas.ts";
import { drawHeatScale, HEAT_SCALE_HEIGHT } from "../../render/heat_scale.ts";
import { overlayMap } from "../../render/overlay.ts";
import type { HyperplaneSet } from "../contrast/hyperplanes/hyperplane_set.ts";
import { sideMasks } from "../contrast/why_not/why_not.ts";

export interface WhereResult {
  a: number;
  b: number;
  layer: string;
  pA: number;
  pB: number;
  /** Share of the positions with a positive A-side score. */
  aSideShare: number;
  /** The largest score (the hottest colour). */
  maxScore: number;
  grid: { height: number; width: number };
  figure: string;
}

const MARGIN = 12;
const SHOWN = 320;

/** Scores `image` (a file) for the pair and writes figure.jpg and where.json into `out`. */
export async function whereAnotB(opts: {
  image: string;
  a: number;
  b: number;
  names?: string[];
  planes: HyperplaneSet;
  layer: string;
  classifier: Classifier;
  out: string;
}): Promise<WhereResult> {
  const { a, b, planes, classifier } = opts;
  const pixels = await preprocessFile(opts.image, undefined, new Uint8Array(cropBytes()));
  await planes.loadRow(a);
  const result = await classifier.forward(pixels, 1);
  const tap = result.taps.get(opts.layer)!;
  try {
    // A transformer's positions are its patch tokens (the class token is no place on the image).
    const tokens = tap.dims.length === 3 ? tokenLayout(classifier.model, opts.layer, tap.dims) : undefined;
    const [, c, h, w] = tokens ? [1, tokens.channels, tokens.gridH, tokens.gridW] : tap.dims;
    const acts = tokens ? tokensAsGrid(tap.data!, 1, tokens) : tap.data!;
    const scores = sideMasks(acts, 1, c, h * w, planes.normal(a, b), planes.bias(a, b));
    const probs = softmaxRows(result.logits!, classifier.numClasses);
    const maxScore = scores.reduce((m, v) => Math.max(m, v), 0);
    const aSideShare = scores.reduce((t, v) => t + (v > 0 ? 1 : 0), 0) / scores.length;
    const named = (k: number) => (opts.names?.[k] ? `${k} ${opts.names[k]}` : String(k)).toUpperCase();
    const title = `WHERE THE IMAGE ${basename(opts.image).toUpperCase()} LOOKS LIKE ${named(a)} RATHER THAN ${
      named(b)
    }`;
    const verdict = `MODEL: P(${a})=${probs[a].toFixed(3)}, P(${b})=${probs[b].toFixed(3)}. ` +
      `${(100 * aSideShare).toFixed(1)}% OF THE POSITIONS ON ${a}'S SIDE`;
    const width = Math.max(
      2 * MARGIN + SHOWN,
      2 * MARGIN + textWidth(title, 1),
      2 * MARGIN + textWidth(verdict, 1),
    );
    const top = MARGIN + 2 * (lineHeight(1) + 6) + 4;
    const canvas = new Canvas(width, top + SHOWN + 10 + HEAT_SCALE_HEIGHT + MARGIN);
    canvas.text(MARGIN, MARGIN, title, BLACK, 1);
    canvas.text(MARGIN, MARGIN + lineHeight(1) + 6, verdict, BLACK, 1);
    const drawn = overlayMap(pixels, IMAGE_SIZE, scores, h, w, maxScore);
    canvas.blit({ pixels: drawn, width: IMAGE_SIZE, height: IMAGE_SIZE }, MARGIN, top, SHOWN, SHOWN);
    drawHeatScale(
      canvas,
      MARGIN,
      top + SHOWN + 10,
      SHOWN,
      `${a}-side score of the (${a}, ${b}) hyperplane, relu(-(n.a+b))`,
      maxScore,
    );
    await writeFileAtomic(join(opts.out, "figure.jpg"), await canvas.toJpeg());
    const report: WhereResult = {
      a,
      b,
      layer: opts.layer,
      pA: probs[a],
      pB: probs[b],
      aSideShare,
      maxScore,
      grid: { height: h, width: w },
      figure: "figure.jpg",
    };
    await writeJsonAtomic(join(opts.out, "where.json"), report);
    return report;
  } finally {
    tap.dispose();
  }
}
