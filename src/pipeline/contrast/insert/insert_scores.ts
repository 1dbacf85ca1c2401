// The model side of the insert test: a class's prepared images run through the whole classifier unchanged,
// with the crop pasted and with the control patch pasted, in batches; the softmax of every image in every
// condition comes back, so one pass answers p(A) and p(B) (and any other class a test wants to look at).
import { normalizeOnCpu } from "../../../../kernels/normalize/mod.ts";
import { type Classifier, softmaxRows } from "../../../model/classifier.ts";
import { type Box, pasteNormalized, type Patch } from "./insert_patch.ts";

/** One way of showing the images to the model: unchanged (no patch), or with `patch` pasted at `at`. */
export interface InsertCondition {
  name: string;
  patch?: Patch;
  at?: Box;
}

/**
 * Softmax rows (n x K) of `n` prepared images (n x side x side x 3 uint8) under each condition, `batch`
 * images per model call. The paste overwrites the normalized input, as the reference does.
 */
export async function conditionProbabilities(
  classifier: Classifier,
  pixels: Uint8Array,
  n: number,
  side: number,
  conditions: InsertCondition[],
  batch: number,
  onRows?: (rows: number) => void,
): Promise<Float32Array[]> {
  const K = classifier.numClasses;
  const imageBytes = side * side * 3;
  const out = conditions.map(() => new Float32Array(n * K));
  for (const [c, cond] of conditions.entries()) {
    if (cond.patch && !cond.at) throw new Error(`insert condition '${cond.name}': a patch needs a place`);
    for (let s = 0; s < n; s += batch) {
      const rows = Math.min(batch, n - s);
      const input = normalizeOnCpu(
        pixels.subarray(s * imageBytes, (s + rows) * imageBytes),
        rows,
        side,
        side,
      );
      if (cond.patch) {
        for (let r = 0; r < rows; r++) pasteNormalized(input, r, side, cond.patch, cond.at!);
      }
      const { logits } = await classifier.forwardNormalized({ data: input, dims: [rows, 3, side, side] });
      out[c].set(softmaxRows(logits!, K), s * K);
      onRows?.(rows);
    }
  }
  return out;
}
