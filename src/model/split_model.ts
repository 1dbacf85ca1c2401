// The classifier cut at the tap for the contrast tests: the trunk gives a class's activations once, the head
// (everything after the tap) classifies many shifted copies of them, and the whole model classifies masked
// images. All three are ordinary onnxruntime sessions on one execution provider.
import { Classifier, softmaxRows } from "./classifier.ts";
import { IMAGE_SIZE } from "../data/input_spec.ts";
import { headFromTap } from "./surgery.ts";
import { probeShapes } from "./inspect.ts";
import { resolveLayer } from "./layers.ts";
import { readModel, sha256File } from "../onnx/model.ts";
import { createSession, type EpChoice, ort, type SessionHandle } from "../runtime/ort.ts";
import {
  gridAsTokens,
  positionGrid,
  type TokenAxes,
  type TokenLayout,
  tokenLayout,
  tokensAsGrid,
  tokenView,
} from "./tokens.ts";

export class SplitModel {
  private full?: Classifier;

  private constructor(
    readonly path: string,
    readonly sha256: string,
    readonly tapTensor: string,
    /** C, h, w of the tap (a transformer's: tokenView of its tokens). */
    readonly tapShape: [number, number, number],
    readonly numClasses: number,
    readonly trunk: Classifier,
    private readonly head: SessionHandle,
    /** A transformer tap's token layout and which tokens are positions; undefined for a CNN. */
    readonly tokens?: { layout: TokenLayout; axes: TokenAxes; layer: string },
  ) {}

  /** The image grid the positions lie on (tokens.ts positionGrid), for masks drawn on the image. */
  get positionGrid(): { h: number; w: number; prefix: number } | undefined {
    return positionGrid(this.tapShape, this.tokens);
  }

  /**
   * Whether shifted activations are clipped at 0 (the reference's `use_relu=True`): a CNN tap follows a ReLU,
   * so the clip changes nothing at offset 0. A transformer block output is the signed residual stream, which
   * the clip would change before any shift, so tokens as positions are not clipped; the reference's axes
   * keep its clip, to reproduce its numbers (docs/reference-notes.md).
   */
  get clipsShift(): boolean {
    return !this.tokens || this.tokens.axes === "reference";
  }

  /**
   * `tokenAxes` reads a transformer's [T, C] tap (src/model/tokens.ts); the head needs every token back, so
   * only readings where every token is a position ("patches+cls", "reference") can feed it shifted rows.
   */
  static async open(
    path: string,
    layer: string,
    ep: EpChoice = "auto",
    tokenAxes: TokenAxes = "patches",
  ): Promise<SplitModel> {
    const model = await readModel(path);
    const sha256 = await sha256File(path);
    const tap = resolveLayer(model, layer);
    const output = model.graph.output[0].name;
    const shapes = await probeShapes(model, [tap.tensor, output]);
    const tapShape = shapes.get(tap.tensor)!.slice(1);
    const tokens = tapShape.length === 2
      ? { layout: tokenLayout(model, layer, [1, ...tapShape]), axes: tokenAxes, layer }
      : undefined;
    if (tapShape.length !== 3 && !tokens) {
      throw new Error(
        `--layer ${layer}: the tap '${tap.tensor}' has shape [${tapShape}]; expected C x h x w or T x C`,
      );
    }
    if (tokens && tokenAxes !== "reference") {
      gridAsTokens(new Float32Array(0), 0, tokens.layout, tokenAxes, layer);
    }
    const trunk = await Classifier.fromModel(model, path, sha256, { ep, layers: [layer], withLogits: false });
    const head = await createSession(headFromTap(model, tap.tensor, ["N", ...tapShape]), { ep: trunk.ep });
    return new SplitModel(
      path,
      sha256,
      tap.tensor,
      tokens ? tokenView(tokens.layout, tokenAxes) : tapShape as [number, number, number],
      shapes.get(output)!.at(-1)!,
      trunk,
      head,
      tokens,
    );
  }

  get device(): string {
    return this.trunk.device;
  }

  /** Tap activations (n x C x h x w) of `n` prepared images, `batch` at a time; `signal` stops between batches. */
  async activations(pixels: Uint8Array, n: number, batch = 8, signal?: AbortSignal): Promise<Float32Array> {
    const per = this.tapShape[0] * this.tapShape[1] * this.tapShape[2];
    const image = IMAGE_SIZE * IMAGE_SIZE * 3;
    const out = new Float32Array(n * per);
    for (let s = 0; s < n; s += batch) {
      signal?.throwIfAborted();
      const count = Math.min(batch, n - s);
      const r = await this.trunk.forward(pixels.subarray(s * image, (s + count) * image), count);
      const tap = r.taps.values().next().value!;
      const raw = tap.data!.subarray(0, count * per);
      const t = this.tokens;
      out.set(t && t.axes !== "reference" ? tokensAsGrid(raw, count, t.layout, t.axes) : raw, s * per);
      tap.dispose();
    }
    return out;
  }

  /** Softmax of the head on `rows` tap-shaped rows. */
  async headProbabilities(input: Float32Array, rows: number): Promise<Float32Array> {
    const session = this.head.session;
    const t = this.tokens;
    const feeds = {
      [session.inputNames[0]]: t
        ? new ort.Tensor(
          "float32",
          t.axes === "reference" ? input : gridAsTokens(input, rows, t.layout, t.axes, t.layer),
          [rows, t.layout.tokens, t.layout.channels],
        )
        : new ort.Tensor("float32", input, [rows, ...this.tapShape]),
    };
    const out = await session.run(feeds);
    const logits = await out[session.outputNames[0]].getData() as Float32Array;
    return softmaxRows(logits, this.numClasses);
  }

  /** Softmax of the whole model on `rows` normalized 3 x 224 x 224 images. */
  async imageProbabilities(input: Float32Array, rows: number): Promise<Float32Array> {
    this.full ??= await Classifier.open(this.path, { ep: this.trunk.ep });
    const r = await this.full.forwardNormalized({ data: input, dims: [rows, 3, IMAGE_SIZE, IMAGE_SIZE] });
    return softmaxRows(r.logits!, this.numClasses);
  }

  async release(): Promise<void> {
    await this.full?.release();
    await this.head.session.release();
    await this.trunk.release();
  }
}
