// Figures that explain themselves: the decompose and insert-test figures carry a title naming the classes
// (the same text drawn at the same place), the probabilities, and (decompose) the heat maps' colour scale from
// its coldest to its hottest colour; the why-not figure carries the mask's colour scale. Drawn from made-up
// inputs, so the checks are exact and take milliseconds.
import assert from "node:assert/strict";
import { BLACK, Canvas, lineHeight, textWidth } from "../src/render/canvas.ts";
import { heatColor } from "../src/render/overlay.ts";
import { drawHeatScale, HEAT_SCALE_HEIGHT, scaleValue } from "../src/render/heat_scale.ts";
import { decomposeFigure } from "../src/pipeline/decompose/decompose_figure.ts";
import { insertFigure } from "../src/pipeline/contrast/insert/insert_figure.ts";
import { whyNotFigure } from "../src/pipeline/contrast/why_not/why_not_figure.ts";
import { IMAGE_SIZE } from "../src/data/input_spec.ts";

/** Whether `figure` holds exactly `text` drawn at (x, y) with `scale`: ink where the text has ink, none elsewhere. */
function hasText(figure: Canvas, x: number, y: number, text: string, scale: number): boolean {
  const w = textWidth(text, scale), h = lineHeight(scale);
  if (x + w > figure.width || y + h > figure.height) return false;
  const probe = new Canvas(w, h);
  probe.text(0, 0, text, BLACK, scale);
  for (let yy = y; yy < y + h; yy++) {
    for (let xx = x; xx < x + w; xx++) {
      const o = (yy * figure.width + xx) * 3;
      const ink = probe.pixels[((yy - y) * w + xx - x) * 3] === 0;
      const drawn = figure.pixels[o] < 128 && figure.pixels[o + 1] < 128 && figure.pixels[o + 2] < 128;
      if (ink !== drawn) return false;
    }
  }
  return true;
}

function pixel(c: Canvas, x: number, y: number): number[] {
  const o = (y * c.width + x) * 3;
  return [...c.pixels.subarray(o, o + 3)];
}

const gray = (v: number) => new Uint8Array(IMAGE_SIZE * IMAGE_SIZE * 3).fill(v);

Deno.test("heat scale: the bar runs from the coldest to the hottest colour, its ends labelled", () => {
  const c = new Canvas(300, 60);
  assert.equal(drawHeatScale(c, 10, 5, 200, "meaning", 2.5), HEAT_SCALE_HEIGHT);
  const barY = 5 + lineHeight(1) + 4 + 5;
  assert.deepEqual(pixel(c, 12, barY), heatColor(2 / 199));
  assert.deepEqual(pixel(c, 207, barY), heatColor(197 / 199));
  assert.ok(hasText(c, 10, 5, "MEANING", 1));
  assert.ok(hasText(c, 10, barY + 5 + 3, "0", 1));
  assert.equal(scaleValue(2.5), "2.50");
  assert.equal(scaleValue(12345), "1.2E+4");
});

Deno.test("decompose figure: the title names image and class, the verdict gives p, the scale is drawn", () => {
  const fig = decomposeFigure({
    image: "dog.jpg",
    rgb: gray(128),
    cls: 7,
    className: "malamute",
    classProbability: 0.25,
    top1: { class: 3, name: "husky", probability: 0.5 },
    relativeError: 0.125,
    overlays: [0, 1, 2].map((p) => ({ prototype: p, share: p / 3, rgb: gray(40 * p) })),
    scale: 4,
  });
  assert.ok(hasText(fig, 12, 12, "DOG.JPG IN THE PROTOTYPES OF CLASS 7 MALAMUTE", 2));
  assert.ok(
    hasText(
      fig,
      12,
      12 + lineHeight(2) + 8,
      "MODEL: 3 HUSKY P=0.500, P(7)=0.250, RELATIVE RECONSTRUCTION ERROR 0.125",
      1,
    ),
  );
  // The colour bar at the bottom: coldest at its left end, hottest at its right.
  const barY = fig.height - 12 - HEAT_SCALE_HEIGHT + lineHeight(1) + 4 + 5;
  assert.deepEqual(pixel(fig, 13, barY), heatColor(1 / 319));
  assert.deepEqual(pixel(fig, 12 + 318, barY), heatColor(318 / 319));
});

Deno.test("insert figure: the title names A and B, each panel shows p(A) and p(B)", () => {
  const p = (pA: number, pB: number) => ({ pA, pB });
  const fig = insertFigure({
    measurement: {
      watch: 7,
      into: 0,
      images: [{ before: p(0.01, 0.9), after: p(0.6, 0.3), control: p(0.02, 0.88) }],
      summary: {
        before: { pA: { mean: 0.01 } },
        after: { pA: { mean: 0.6 } },
        control: { pA: { mean: 0.02 } },
      },
      riseOverControl: 0.58,
    },
    names: ["tench", "", "", "", "", "", "", "malamute"],
    side: IMAGE_SIZE,
    before: gray(100),
    after: gray(110),
    control: gray(120),
    crop: { rgb: new Uint8Array(32 * 32 * 3).fill(20), width: 32, height: 32 },
    at: { top: 10, left: 10, height: 32, width: 32 },
  });
  assert.ok(hasText(fig, 12, 12, "A CROP OF 7 MALAMUTE PASTED INTO AN IMAGE OF 0 TENCH", 2));
  const top = 12 + lineHeight(2) + 8 + lineHeight(1) + 6 + lineHeight(1) + 12;
  const probY = top + lineHeight(1) + 4 + 224 + 6;
  for (const [i, [a, b]] of [["0.010", "0.900"], ["0.600", "0.300"], ["0.020", "0.880"]].entries()) {
    const x = 12 + i * (224 + 14);
    assert.ok(hasText(fig, x, probY, `P(A)=${a}`, 2), `panel ${i}: p(A)`);
    assert.ok(hasText(fig, x, probY + lineHeight(2) + 4, `P(B)=${b}`, 2), `panel ${i}: p(B)`);
  }
});

Deno.test("why-not figure: the mask's colour scale and what the frame means are drawn under the rows", () => {
  const masks = new Float32Array(2 * 4).fill(0.5);
  masks[0] = 3;
  const canvas = whyNotFigure({
    layer: "layer3",
    directions: [{
      from: 6,
      to: 7,
      fromName: "cat",
      toName: "dog",
      images: [0, 1],
      masks,
      maskShape: [2, 2, 2],
      topCrops: [[{ image: 0, y: 0, x: 0, score: 1 }]] as never,
    }],
    images: () => gray(90),
    pooledWidth: 7,
  });
  const legendText = "MASK: 6 CAT-SIDE SCORE OF THE (6, 7) HYPERPLANE";
  let found = -1;
  for (let y = 0; y < canvas.height - lineHeight(1) && found < 0; y++) {
    if (hasText(canvas, 12, y, legendText, 1)) found = y;
  }
  assert.ok(found > 0, "the mask legend is drawn");
  const barY = found + lineHeight(1) + 4 + 5;
  assert.deepEqual(pixel(canvas, 13, barY), heatColor(1 / 239));
  assert.ok(hasText(canvas, 12, barY + 5 + 3, "0", 1));
  const max = scaleValue(3);
  assert.ok(hasText(canvas, 12 + 240 - (max.length * 6 - 1), barY + 5 + 3, max, 1), "the mask's max");
});
