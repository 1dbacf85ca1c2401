// A classifier opened for protoscope's passes: normalized input built on the GPU (or CPU for wasm), logits, and
// optional tap activations that can stay on the GPU for our kernels.
import { encodeModel, type Model, readModel, sha256Hex } from "../onnx/model.ts";
import {
  createSession,
  type Ep,
  type EpChoice,
  epDescription,
  ort,
  type SessionHandle,
} from "../runtime/ort.ts";
import { imageInput, trunkWithTaps, withDynamicInput } from "./surgery.ts";
import { resolveLayer, type Tap } from "./layers.ts";
import { inputNormalizationWarning } from "./inspect.ts";
import { type NoiseOptions, normalizeOnCpu, normalizeOnGpu } from "../../kernels/normalize/mod.ts";
import { IMAGE_SIZE } from "../data/input_spec.ts";

export interface OpenOptions {
  ep?: EpChoice;
  /** Fail instead of falling back to wasm when --ep webgpu has no adapter or --ep cpu no native library. */
  strict?: boolean;
  /** Layer names or tensor names to output beside the logits. */
  layers?: string[];
  /** Keep tap outputs on the GPU (webgpu EP only). */
  tapsOnGpu?: boolean;
  /** Skip the logits (prunes the head) when only tap activations are wanted. */
  withLogits?: boolean;
}

export interface TapOutput {
  dims: number[];
  /** CPU copy (wasm EP, or webgpu without tapsOnGpu). */
  data?: Float32Array;
  /** GPU-resident activations (webgpu with tapsOnGpu); valid until dispose(). */
  buffer?: GPUBuffer;
  dispose(): void;
}

export interface ForwardResult {
  logits?: Float32Array;
  taps: Map<string, TapOutput>;
}

/** Models already warned about, so a run that opens one several times says it once. */
const warned = new Set<string>();

export class Classifier {
  private constructor(
    readonly path: string,
    readonly model: Model,
    readonly sha256: string,
    readonly inputName: string,
    readonly outputName: string,
    readonly taps: Tap[],
    readonly handle: SessionHandle,
    readonly numClasses: number,
  ) {}

  get ep(): Ep {
    return this.handle.ep;
  }

  get device(): string {
    return epDescription(this.handle);
  }

  static async open(path: string, opts: OpenOptions = {}): Promise<Classifier> {
    const bytes = await Deno.readFile(path).catch((e) => {
      throw new Error(`--model ${path}: cannot read the file (${(e as Error).message})`);
    });
    const original = await readModel(path);
    return Classifier.fromModel(original, path, await sha256Hex(bytes), opts);
  }

  static async fromModel(
    original: Model,
    path: string,
    sha256: string,
    opts: OpenOptions = {},
  ): Promise<Classifier> {
    const warning = inputNormalizationWarning(original, path);
    if (warning && !warned.has(path)) {
      warned.add(path);
      console.error(`warning: ${warning}`);
    }
    const model = withDynamicInput(original);
    const input = imageInput(model);
    if (model.graph.output.length < 1) throw new Error(`--model ${path}: the model has no outputs`);
    const outputName = model.graph.output[0].name;
    const taps = (opts.layers ?? []).map((l) => resolveLayer(model, l));
    const withLogits = opts.withLogits ?? true;
    const runnable = taps.length ? trunkWithTaps(model, taps.map((t) => t.tensor), { withLogits }) : model;
    const handle = await createSession(encodeModel(runnable), {
      ep: opts.ep ?? "auto",
      strict: opts.strict,
      gpuOutputs: opts.tapsOnGpu ? taps.map((t) => t.tensor) : undefined,
    });
    const outDims = model.graph.output[0].type?.tensorType?.shape?.dim ?? [];
    if (withLogits && outDims.length && outDims.length !== 2) {
      const declared = original.graph.output[0].type?.tensorType?.shape?.dim ?? outDims;
      throw new Error(notClassScores(path, outputName, declared.map((d) => d.dimValue ?? d.dimParam ?? "?")));
    }
    const last = outDims.at(-1);
    let numClasses = last?.dimValue !== undefined ? Number(last.dimValue) : -1;
    const classifier = new Classifier(
      path,
      original,
      sha256,
      input.name,
      outputName,
      taps,
      handle,
      numClasses,
    );
    if (numClasses <= 0 && withLogits) {
      // The export left the class count symbolic: one forward pass of a blank image tells it.
      const r = await classifier.forward(new Uint8Array(IMAGE_SIZE * IMAGE_SIZE * 3), 1);
      for (const t of r.taps.values()) t.dispose();
      numClasses = r.logits!.length;
      return new Classifier(path, original, sha256, input.name, outputName, taps, handle, numClasses);
    }
    return classifier;
  }

  /** Runs `n` prepared images (n x size x size x 3 uint8); with noise, n * samples rows. */
  async forward(
    pixels: Uint8Array,
    n: number,
    opts: { noise?: NoiseOptions; height?: number; width?: number } = {},
  ): Promise<ForwardResult> {
    const h = opts.height ?? IMAGE_SIZE;
    const w = opts.width ?? IMAGE_SIZE;
    const rows = n * (opts.noise?.samples ?? 1);
    const dims = [rows, 3, h, w];
    if (this.handle.ep === "webgpu") {
      const buffer = await normalizeOnGpu(this.handle.gpu!.device, pixels, n, h, w, opts.noise);
      try {
        return await this.forwardNormalized({ buffer, dims });
      } finally {
        buffer.destroy();
      }
    }
    return this.forwardNormalized({ data: normalizeOnCpu(pixels, n, h, w, opts.noise), dims });
  }

  /**
   * Runs an already-normalized NCHW float input: a GPU buffer on the shared device (webgpu EP; not consumed)
   * or a CPU array. Any height and width the model accepts (e.g. stacked crop composites).
   */
  async forwardNormalized(
    input: { buffer?: GPUBuffer; data?: Float32Array; dims: number[] },
  ): Promise<ForwardResult> {
    let tensor: ort.Tensor;
    if (input.buffer && this.handle.ep === "webgpu") {
      tensor = ort.Tensor.fromGpuBuffer(input.buffer, { dataType: "float32", dims: input.dims });
    } else if (input.data) {
      tensor = new ort.Tensor("float32", input.data, input.dims);
    } else {
      throw new Error(
        `forwardNormalized: a GPU buffer needs the webgpu EP (this classifier runs on ${this.ep})`,
      );
    }
    const results = await this.handle.session.run({ [this.inputName]: tensor });
    const taps = new Map<string, TapOutput>();
    for (const tap of this.taps) {
      const t = results[tap.tensor];
      const tapDims = [...t.dims];
      if (t.location === "gpu-buffer") {
        taps.set(tap.layer, {
          dims: tapDims,
          buffer: t.gpuBuffer as unknown as GPUBuffer,
          dispose: () => t.dispose(),
        });
      } else {
        taps.set(tap.layer, { dims: tapDims, data: t.data as Float32Array, dispose: () => {} });
      }
    }
    const logitsTensor = results[this.outputName];
    if (logitsTensor && logitsTensor.dims.length !== 2) {
      throw new Error(notClassScores(this.path, this.outputName, [...logitsTensor.dims]));
    }
    const logits = logitsTensor ? await logitsTensor.getData() as Float32Array : undefined;
    return { logits, taps };
  }

  async release(): Promise<void> {
    await this.handle.session.release();
  }
}

/** The refusal of a model whose first output is not 2-D class scores. */
function notClassScores(path: string, output: string, dims: unknown[]): string {
  return `--model ${path}: its output '${output}' has shape [${
    dims.join(",")
  }], but protoscope needs an image ` +
    "classifier whose first output is 2-D class scores [N, K] (one row of K logits per image)";
}

/** Row-wise softmax, numerically stable. */
export function softmaxRows(logits: Float32Array, classes: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < logits.length / classes; r++) {
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[r * classes + c]);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += out[r * classes + c] = Math.exp(logits[r * classes + c] - max);
    for (let c = 0; c < classes; c++) out[r * classes + c] /= sum;
  }
  return out;
}

/** Indices of the k largest values of one row, largest first. */
export function topK(row: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: row.length }, (_, i) => i);
  idx.sort((a, b) => row[b] - row[a] || a - b);
  return idx.slice(0, k);
}
