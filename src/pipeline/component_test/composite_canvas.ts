// A composite for a model whose input size is fixed. A transformer's position embedding fixes its token count,
// so the k x 1 stack of crops a CNN takes cannot go in: the crops (each one patch) are laid on a prepared-size
// canvas of the blank colour (0 after normalization), patch-aligned down the first column and on to the next,
// and the rest of the canvas stays blank.
import type { CompositePixels } from "../../../kernels/composite/mod.ts";
import { BLANK_RGB } from "../../data/input_spec.ts";

/** Where a composite's crops go: stacked (a CNN: k*s x s) or on a side x side canvas (a transformer). */
export type CompositeLayout = { kind: "stack" } | { kind: "canvas"; side: number };

/** The composites' pixels [n, k * s, s, 3] moved onto side x side canvases, crop r at (r mod rows, r div rows). */
export function onCanvas(stack: CompositePixels, side: number): CompositePixels {
  const [n, height, s] = stack.dims;
  const k = height / s;
  const rows = Math.floor(side / s);
  if (k > rows * rows) {
    throw new Error(`onCanvas: ${k} crops of ${s} px do not fit a ${side} px canvas`);
  }
  const pixels = new Uint8Array(n * side * side * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = BLANK_RGB[i % 3];
  for (let o = 0; o < n; o++) {
    for (let r = 0; r < k; r++) {
      const top = (r % rows) * s, left = Math.floor(r / rows) * s;
      for (let y = 0; y < s; y++) {
        const from = ((o * height + r * s + y) * s) * 3;
        const to = ((o * side + top + y) * side + left) * 3;
        pixels.set(stack.pixels.subarray(from, from + s * 3), to);
      }
    }
  }
  return { pixels, dims: [n, side, side, 3] };
}
