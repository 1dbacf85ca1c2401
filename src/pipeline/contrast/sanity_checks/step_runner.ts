// The batching core the shifting and masking tests share: for one source class i, every (target j, step,
// image) row is built on the fly, rows are packed into batches of a fixed size across pair boundaries (so the
// model always runs full batches), and the softmax of each row is folded into the running mean of its
// (pair, step). A pair's record is final once its last row is done; only its p(i), p(j) and top-1 are kept.
import type { PairRecord } from "./contrast_summary.ts";

export interface StepJob {
  from: number;
  tos: number[];
  steps: number;
  images: number;
  /** Floats in one model input row (C*h*w for the head, 3*H*W for the whole model). */
  rowSize: number;
  numClasses: number;
  batchRows: number;
  /** Writes the input row of (pair index, step, image) into `out`. */
  fill(pair: number, step: number, image: number, out: Float32Array): void;
  /** Class probabilities (rows x K, softmax) of `rows` input rows. */
  run(input: Float32Array, rows: number): Promise<Float32Array>;
  /** Called after every batch with rows done so far (progress). */
  onRows?(rows: number): void;
}

export async function meanSoftmaxPerStep(job: StepJob): Promise<PairRecord[]> {
  const { steps, images: n, numClasses: K, rowSize } = job;
  const total = job.tos.length * steps * n;
  const batch = Math.max(1, Math.min(job.batchRows, total));
  const input = new Float32Array(batch * rowSize);
  const records: PairRecord[] = job.tos.map((to) => ({
    from: job.from,
    to,
    images: n,
    pFrom: new Array(steps).fill(0),
    pTo: new Array(steps).fill(0),
    top1: new Array(steps).fill(-1),
  }));
  // Sum of the softmax rows of the (pair, step) being filled; rows arrive pair-major, step-major, image-minor.
  const sum = new Float64Array(K);
  for (let start = 0; start < total; start += batch) {
    const rows = Math.min(batch, total - start);
    for (let r = 0; r < rows; r++) {
      const g = start + r;
      const image = g % n, step = Math.floor(g / n) % steps, pair = Math.floor(g / (n * steps));
      job.fill(pair, step, image, input.subarray(r * rowSize, (r + 1) * rowSize));
    }
    const probs = await job.run(rows === batch ? input : input.subarray(0, rows * rowSize), rows);
    for (let r = 0; r < rows; r++) {
      const g = start + r;
      for (let k = 0; k < K; k++) sum[k] += probs[r * K + k];
      if (g % n !== n - 1) continue;
      const step = Math.floor(g / n) % steps, pair = Math.floor(g / (n * steps));
      const rec = records[pair];
      let best = 0;
      for (let k = 1; k < K; k++) if (sum[k] > sum[best]) best = k;
      rec.pFrom[step] = sum[rec.from] / n;
      rec.pTo[step] = sum[rec.to] / n;
      rec.top1[step] = best;
      sum.fill(0);
    }
    job.onRows?.(rows);
  }
  return records;
}
