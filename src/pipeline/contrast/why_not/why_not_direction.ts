// The result types of one "why A, not B" direction, apart from the computation so that the figure that draws
// them and the stage that computes them do not import each other.
import type { HitSource } from "../../../../kernels/search/hits.ts";

/** One crop of a prototype: a cell (y, x) of the pooled grid of one of A's images (dataset index), with the
 * cosine similarity of the prototype and the cell's pooled activation. */
export interface WhyNotCrop extends HitSource {
  predictedName?: string;
  /** Mean of the mask over the cell's tap positions. */
  maskAtCell: number;
}

/** One direction, "why `from`, not `to`". */
export interface WhyNotDirection {
  from: number;
  to: number;
  fromName?: string;
  toName?: string;
  /** Dataset indices of the images used (predicted as `from`). */
  images: number[];
  /** Their paths. */
  imagePaths: string[];
  /** k x C prototypes. */
  basis: Float32Array;
  /** With `--signed split`: the 2C-feature prototypes NMF found (basis is their p+ - p-). */
  basisSplit?: Float32Array;
  /** n x h x w masks (ReLU'd `from`-side scores). */
  masks: Float32Array;
  maskShape: [number, number, number];
  /** Share of `from`'s positions with a positive mask. */
  keptShare: number;
  relError: number;
  iterations: number;
  /** Per prototype its best crops among `from`'s images, best first. */
  topCrops: WhyNotCrop[][];
  /** The mask kept no position: the basis is zeros and there are no crops. */
  noPositions?: true;
}
