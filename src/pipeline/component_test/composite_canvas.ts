// A composite for a model whose input size is fixed. A transformer's position embedding fixes its token count,
// so the k x 1 stack of crops a CNN takes cannot go in: the crops (each one patch) are laid on a prepared-size
// canvas of the blank colour (0 after normalization), patch-aligned down the first column and on to the next,
// and the rest of the canvas stays blank. A crop of P x P patches (`--crop-patches`) takes a cell of P x P
// patches of the canvas: the same grid of P-patch cells, floor(grid / P)^2 of them (4 for P = 3 on B/32's 7 x 7,
// 1 for P = 5 or 7). The box is patch-aligned in its image (crop_cells.ts cropBox) and on the canvas, so every
// canvas token sees exactly one patch of the source, as a P = 1 crop does; shrinking or overlapping crops to fit
// more would show the model pixels its tokens never saw. When k crops do not fit, the test is refused
// (canvasCapacity) rather than dropping prototypes.
import type { CompositePixels } from "../../../kernels/composite/mod.ts";
import { BLANK_RGB } from "../../data/input_spec.ts";

/** Where a composite's crops go: stacked (a CNN: k*s x s) or on a side x side canvas (a transformer). */
export type CompositeLayout = { kind: "stack" } | { kind: "canvas"; side: number };

/** How many crops of `cropSide` px fit a `side` px canvas on its grid of crop-sized cells. */
export function canvasCapacity(side: number, cropSide: number): number {
  const rows = Math.floor(side / cropSide);
  return rows * rows;
}

/** The composites' pixels [n, k * s, s, 3] moved onto side x side canvases, crop r at (r mod rows, r div rows). */
export function onCanvas(stack: CompositePixels, side: number): CompositePixels {
  const [n, height, s] = stack.dims;
  const k = height / s;
  const rows = Math.floor(side / s);
  if (k > canvasCapacity(side, s)) {
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
