// Checks for generated backward graphs: run a model once on an EP, and central finite differences of a head's
// forward pass (float32 model, float64 accumulation) for chosen entries of the tap.
import { createSession, type Ep, ort } from "../../src/runtime/ort.ts";
import { GraphBuilder } from "../../src/onnx/builder.ts";
import { DataType, encodeModel, floatTensor, type Model, runtimeInputs } from "../../src/onnx/model.ts";

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
  opts: { ep?: Ep; rowsPerRun?: number; frozenRelu?: boolean } = {},
): Promise<Float64Array> {
  const ep = opts.ep ?? "wasm";
  const rowsPerRun = opts.rowsPerRun ?? 64;
  const per = x.data.length / x.dims[0];
  const classes = seed.data.length / seed.dims[0];
  const inputName = runtimeInputs(head.graph)[0].name;
  const out = new Float64Array(entries.length);
  const bytes = encodeModel(opts.frozenRelu ? frozenReluHead(head) : head);
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
    const dims = [2 * chunk.length, ...x.dims.slice(1)];
    const feeds: Record<string, HostTensor> = { [inputName]: { data: batch, dims } };
    if (opts.frozenRelu) {
      const at = new Float32Array(batch.length);
      chunk.forEach((e, j) => {
        const n = Math.floor(e / per);
        for (const k of [0, 1]) at.set(x.data.subarray(n * per, (n + 1) * per), (2 * j + k) * per);
      });
      feeds[`${inputName}${AT}`] = { data: at, dims };
    }
    const logits = Object.values(await runOnce(bytes, feeds, ep))[0].data;
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
 * Per-entry central-difference steps for a float32 model. The seeded logits carry a rounding error of
 * roughly `roundoff` * |logit| (default one ulp, 1.2e-7; ~20 ulp in ResNet-50's layer4), which puts an
 * error of about roundoff * |logit| / (2 h |grad|) on the quotient: the step keeps that near 1e-4, within
 * [min, max]; the cap keeps steps from crossing ReLU kinks, where central differences stop being exact.
 */
export function finiteDifferenceSteps(
  grad: Float32Array,
  entries: number[],
  logits: HostTensor,
  seed: HostTensor,
  opts: { min?: number; max?: number; roundoff?: number } = {},
): number[] {
  const { min = 1e-2, max = 0.1, roundoff = 1.2e-7 } = opts;
  const rows = logits.dims[0];
  const per = grad.length / rows;
  const classes = logits.data.length / rows;
  return entries.map((e) => {
    const n = Math.floor(e / per);
    let size = 0;
    for (let k = 0; k < classes; k++) {
      size += Math.abs(seed.data[n * classes + k] * logits.data[n * classes + k]);
    }
    const wanted = (roundoff * size) / (2 * 1e-4 * Math.abs(grad[e]));
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
  if (a.length !== b.length) {
    throw new Error(`relativeDifference: lengths ${a.length} and ${b.length} differ`);
  }
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

const AT = "__at";

/**
 * The head with every Relu's on/off pattern taken from a second input `<tap>__at` instead of its own input:
 * Relu(a) becomes a * (a_at > 0). At x = x_at it computes the head, and its gradient there is the head's,
 * but it is linear in x wherever the head is piecewise linear (Relu, Conv, BN, Add, pools other than MaxPool,
 * Gemm), so central differences are exact for any step and steps can be large enough that float32 rounding of
 * the logits does not matter. Deep float32 heads (ResNet-50's layer4: logits carry ~20 ulp of rounding
 * error) leave no step at which plain central differences reach 1e-3: small steps drown in rounding, larger
 * ones cross ReLU kinks.
 */
export function frozenReluHead(head: Model): Model {
  const g = head.graph;
  const tap = runtimeInputs(g)[0].name;
  const active = new Set([tap]);
  for (const n of g.node) if (n.input.some((i) => active.has(i))) { for (const o of n.output) active.add(o); }
  const at = (v: string) => (active.has(v) ? `${v}${AT}` : v);
  const b = new GraphBuilder("frozen_relu_head");
  b.initializers.push(...g.initializer, floatTensor(`zero${AT}`, [], [0]));
  for (const n of g.node) {
    if (n.opType === "MaxPool" && n.input.some((i) => active.has(i))) {
      throw new Error(
        `frozenReluHead: MaxPool '${n.name}' is not piecewise linear in a fixed pattern; not supported`,
      );
    }
    if (active.has(n.output[0])) {
      b.nodes.push({ ...n, name: `${n.name}${AT}`, input: n.input.map(at), output: n.output.map(at) });
    }
    if (n.opType === "Relu" && active.has(n.input[0])) {
      const on = b.node("Cast", [b.node("Greater", [at(n.input[0]), `zero${AT}`])], { to: DataType.FLOAT });
      b.node("Mul", [n.input[0], on], {}, { name: n.name, outputs: [n.output[0]] });
    } else b.nodes.push(n);
  }
  const inputs = g.input.filter((v) => v.name === tap || !g.initializer.some((t) => t.name === v.name));
  b.inputs.push(...inputs, ...inputs.map((v) => ({ ...v, name: `${v.name}${AT}` })));
  b.outputs.push(...g.output);
  const model = b.model();
  model.opsetImport = head.opsetImport;
  return model;
}
