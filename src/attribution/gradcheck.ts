// Checks for generated backward graphs: run a model once on an EP, and central finite differences of a head's
// forward pass (float32 model, float64 accumulation) for chosen entries of the tap.
import { createSession, type Ep, ort } from "../runtime/ort.ts";
import { encodeModel, type Model, runtimeInputs } from "../onnx/model.ts";

export interface HostTensor {
  data: Float32Array;
  dims: number[];
}

/** Runs `model` once on `ep` and returns every output as a float32 host tensor. */
export async function runOnce(
  model: Model | Uint8Array,
  feeds: Record<string, HostTensor>,
  ep: Ep,
): Promise<Record<string, HostTensor>> {
  const { session } = await createSession(model, { ep, strict: true });
  try {
    const inputs = Object.fromEntries(
      Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor("float32", v.data, v.dims)]),
    );
    const out = await session.run(inputs);
    return Object.fromEntries(
      Object.entries(out).map(([k, v]) => [k, { data: v.data as Float32Array, dims: v.dims.map(Number) }]),
    );
  } finally {
    await session.release();
  }
}

/**
 * d(sum_n seed[n] . logits[n]) / dx at the flat indices `entries` of x [N, ...], by central differences
 * with `step` (one for all entries, or one per entry): each perturbed copy of one example is a row of a batch
 * run of the head. The difference quotient uses the float32-rounded steps actually taken and is accumulated
 * in float64.
 */
export async function finiteDifferences(
  head: Model,
  x: HostTensor,
  seed: HostTensor,
  entries: number[],
  step: number | number[],
  opts: { ep?: Ep; rowsPerRun?: number } = {},
): Promise<Float64Array> {
  const ep = opts.ep ?? "wasm";
  const rowsPerRun = opts.rowsPerRun ?? 64;
  const per = x.data.length / x.dims[0];
  const classes = seed.data.length / seed.dims[0];
  const inputName = runtimeInputs(head.graph)[0].name;
  const out = new Float64Array(entries.length);
  const bytes = encodeModel(head);
  for (let first = 0; first < entries.length; first += rowsPerRun / 2) {
    const chunk = entries.slice(first, first + rowsPerRun / 2);
    const batch = new Float32Array(2 * chunk.length * per);
    const taken: number[] = [];
    chunk.forEach((e, j) => {
      const n = Math.floor(e / per);
      const i = e % per;
      const h = typeof step === "number" ? step : step[first + j];
      for (const [k, sign] of [[0, 1], [1, -1]]) {
        const row = batch.subarray((2 * j + k) * per, (2 * j + k + 1) * per);
        row.set(x.data.subarray(n * per, (n + 1) * per));
        row[i] = Math.fround(x.data[e] + sign * h);
      }
      taken.push(batch[2 * j * per + i] - batch[(2 * j + 1) * per + i]);
    });
    const logits = Object.values(
      await runOnce(bytes, { [inputName]: { data: batch, dims: [2 * chunk.length, ...x.dims.slice(1)] } }, ep),
    )[0].data;
    chunk.forEach((e, j) => {
      const n = Math.floor(e / per);
      let diff = 0;
      for (let k = 0; k < classes; k++) {
        const s = seed.data[n * classes + k];
        if (s) diff += s * (logits[2 * j * classes + k] - logits[(2 * j + 1) * classes + k]);
      }
      out[first + j] = diff / taken[j];
    });
  }
  return out;
}

/**
 * Per-entry central-difference steps for a float32 model. The logits are rounded to ~1.2e-7 |logit|, which
 * puts an error of about 1.2e-7 |logit| / (2 h |grad|) on the quotient: the step keeps that near 1e-4, within
 * [min, max]; the cap keeps steps from crossing many ReLU kinks, where central differences stop being exact.
 */
export function finiteDifferenceSteps(
  grad: Float32Array,
  entries: number[],
  logits: HostTensor,
  opts: { min?: number; max?: number } = {},
): number[] {
  const { min = 1e-2, max = 0.1 } = opts;
  const rows = logits.dims[0];
  const per = grad.length / rows;
  const classes = logits.data.length / rows;
  return entries.map((e) => {
    const n = Math.floor(e / per);
    let largest = 0;
    for (let k = 0; k < classes; k++) largest = Math.max(largest, Math.abs(logits.data[n * classes + k]));
    const wanted = (1.2e-7 * largest) / (2 * 1e-4 * Math.abs(grad[e]));
    return Math.min(max, Math.max(min, wanted));
  });
}

/** Flat indices of the `count` largest-magnitude entries of each example (row of dims[0]). */
export function largestEntries(values: Float32Array, rows: number, count: number): number[] {
  const per = values.length / rows;
  const picked: number[] = [];
  for (let n = 0; n < rows; n++) {
    const idx = Array.from({ length: per }, (_, i) => n * per + i);
    idx.sort((a, b) => Math.abs(values[b]) - Math.abs(values[a]));
    picked.push(...idx.slice(0, count));
  }
  return picked;
}

/** max |a - b| / max |b|: the relative disagreement of two tensors as a whole. */
export function relativeDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relativeDifference: lengths ${a.length} and ${b.length} differ`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}
