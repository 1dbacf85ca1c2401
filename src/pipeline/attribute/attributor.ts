// Layer attribution for batches of prepared images: noisy inputs built on the GPU, the trunk up to the tap,
// and the generated backward graph of the head (DeepLift or gradient x activation) with the noise-tunnel mean
// and the channel-mean map inside it, so nothing returns to the CPU between the trunk and the maps.
import type { Model } from "../../onnx/model.ts";
import { Classifier } from "../../model/classifier.ts";
import { IMAGE_SIZE } from "../../data/input_spec.ts";
import { headFromTap } from "../../model/surgery.ts";
import { probeShapes } from "../../model/inspect.ts";
import { resolveLayer } from "../../model/layers.ts";
import {
  patchMaps,
  type TokenAxes,
  type TokenLayout,
  tokenLayout,
  tokensAsGrid,
  tokenView,
} from "../../model/tokens.ts";
import { createSession, type EpChoice, ort, type SessionHandle } from "../../runtime/ort.ts";
import { createStorageBuffer, readBuffer } from "../../runtime/gpu.ts";
import {
  attributionGraphCache,
  type AttributionMethod,
  BACKWARD_INPUTS,
  type BackwardOutput,
  oneHotSeed,
} from "../../backward/mod.ts";

export interface AttributionSettings {
  method: AttributionMethod;
  /** Noise-tunnel copies per image (captum's nt_samples); 1 with sigma 0 is plain attribution. */
  samples: number;
  /** Noise std in normalized input units (captum's stdevs). */
  sigma: number;
  seed: number;
}

export const PAPER_ATTRIBUTION: AttributionSettings = {
  method: "deeplift",
  samples: 20,
  sigma: 0.25,
  seed: 0,
};

export interface AttributionBatch {
  /** n x h x w: channel mean of ReLU(noise-tunnel mean attribution). */
  maps: Float32Array;
  /** n x h x w: channel mean of the attribution without ReLU, when the Attributor was opened `withMean`. */
  means?: Float32Array;
  /** n x C x h x w, when requested. */
  attributions?: Float32Array;
  /** n x C x h x w activations of the clean images, when requested (the concepts' NMF input). */
  activations?: Float32Array;
}

export class Attributor {
  private constructor(
    readonly trunk: Classifier,
    readonly backward: SessionHandle,
    /** [C, h, w] at the tap; for a transformer's [T, C] tap, the patch grid [C, gridH, gridW]. */
    readonly tapShape: number[],
    readonly numClasses: number,
    readonly settings: AttributionSettings,
    private readonly xRef: { tensor?: ort.Tensor; buffer?: GPUBuffer },
    readonly outputs: BackwardOutput[],
    /** A transformer tap's token layout, and which tokens are positions (src/model/tokens.ts). */
    readonly tokens?: { layout: TokenLayout; axes: TokenAxes },
  ) {}

  /** Tokens as positions: the layout and which tokens; undefined for a CNN or the reference's axes (no move). */
  private get positions(): { layout: TokenLayout; axes: "patches" | "patches+cls" } | undefined {
    const t = this.tokens;
    return t && t.axes !== "reference" ? { layout: t.layout, axes: t.axes } : undefined;
  }

  /** The tap's own shape after the batch: tapShape, or [T, C] for a transformer. */
  private get rawShape(): number[] {
    return this.tokens ? [this.tokens.layout.tokens, this.tokens.layout.channels] : this.tapShape;
  }

  get tapTensor(): string {
    return this.trunk.taps[0].tensor;
  }

  /** Builds the trunk, the backward graph for `layer` and the baseline activations, once per run. */
  static async open(
    model: Model,
    identity: { path: string; sha256: string },
    layer: string,
    settings: AttributionSettings,
    opts: { ep?: EpChoice; saveRaw?: boolean; withMean?: boolean; tokenAxes?: TokenAxes } = {},
  ): Promise<Attributor> {
    const tap = resolveLayer(model, layer);
    const output = model.graph.output[0].name;
    const shapes = await probeShapes(model, [tap.tensor, output]);
    const tapShape = shapes.get(tap.tensor)!.slice(1);
    const numClasses = shapes.get(output)!.at(-1)!;
    // A transformer block's [N, T, C]: tokens are positions (maps average over channels, axis 2).
    const axes = opts.tokenAxes ?? "patches";
    const tokens = tapShape.length === 2
      ? { layout: tokenLayout(model, layer, [1, ...tapShape]), axes }
      : undefined;
    if (tapShape.length !== 3 && !tokens) {
      throw new Error(
        `--layer ${layer}: the tap '${tap.tensor}' has shape [${tapShape}]; expected C x h x w or T x C`,
      );
    }
    const trunk = await Classifier.fromModel(model, identity.path, identity.sha256, {
      ep: opts.ep,
      layers: [layer],
      tapsOnGpu: true,
      withLogits: false,
    });
    const outputs: BackwardOutput[] = ["map"];
    if (opts.withMean) outputs.push("mean");
    if (opts.saveRaw) outputs.push("attribution");
    const graph = attributionGraphCache.get(
      {
        model: identity.sha256,
        layer: tap.tensor,
        method: settings.method,
        outputs,
        samplesPerImage: settings.samples,
        // Tokens as positions average over channels; the reference's axes over tokens (its dim 1).
        featureAxis: tokens && axes !== "reference" ? 2 : 1,
      },
      () => headFromTap(model, tap.tensor, ["N", ...tapShape]),
    );
    const backward = await createSession(graph.bytes, {
      ep: trunk.ep,
      gpuOutputs: trunk.ep === "webgpu" ? [] : undefined,
    });
    // captum's baseline: an input of all 1.0 in normalized space; its tap activations are fixed per run.
    const ones = new Float32Array(3 * IMAGE_SIZE * IMAGE_SIZE).fill(1);
    const base = await trunk.forwardNormalized({ data: ones, dims: [1, 3, IMAGE_SIZE, IMAGE_SIZE] });
    const baseTap = base.taps.get(layer)!;
    const count = tapShape.reduce((a, b) => a * b, 1);
    const xRefData = baseTap.data ??
      new Float32Array(await readBuffer(trunk.handle.gpu!.device, baseTap.buffer!, count * 4));
    baseTap.dispose();
    const xRef = trunk.ep === "webgpu"
      ? { buffer: createStorageBuffer(trunk.handle.gpu!.device, xRefData.slice(0, count), 0, "x_ref") }
      : { tensor: new ort.Tensor("float32", xRefData.slice(0, count), [1, ...tapShape]) };
    const shown = tokens ? tokenView(tokens.layout, axes) : tapShape;
    return new Attributor(trunk, backward, shown, numClasses, settings, xRef, outputs, tokens);
  }

  /**
   * Attributions of `n` prepared images (n x 224 x 224 x 3) towards `targets[i]`. `firstImage` is the global
   * index of the first image, so the noise of an image does not depend on how the data is batched.
   */
  async attribute(
    pixels: Uint8Array,
    n: number,
    targets: ArrayLike<number>,
    firstImage: number,
    opts: { activations?: boolean } = {},
  ): Promise<AttributionBatch> {
    const { samples, sigma, seed } = this.settings;
    const layer = this.trunk.taps[0].layer;
    const noisy = await this.trunk.forward(pixels, n, {
      noise: { samples, sigma, seed, rowOffset: firstImage * samples },
    });
    const tap = noisy.taps.get(layer)!;
    const rows = n * samples;
    const seedRows = new Array<number>(rows);
    for (let i = 0; i < rows; i++) seedRows[i] = targets[Math.floor(i / samples)];
    const feeds: Record<string, ort.Tensor> = {
      [BACKWARD_INPUTS.x]: tap.buffer
        ? ort.Tensor.fromGpuBuffer(tap.buffer, { dataType: "float32", dims: tap.dims })
        : new ort.Tensor("float32", tap.data!, tap.dims),
      [BACKWARD_INPUTS.seed]: new ort.Tensor("float32", oneHotSeed(seedRows, this.numClasses), [
        rows,
        this.numClasses,
      ]),
    };
    if (this.settings.method === "deeplift") {
      feeds[BACKWARD_INPUTS.xRef] = this.xRef.buffer
        ? ort.Tensor.fromGpuBuffer(this.xRef.buffer, { dataType: "float32", dims: [1, ...this.rawShape] })
        : this.xRef.tensor!;
    }
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await this.backward.session.run(feeds);
    } finally {
      tap.dispose();
    }
    const t = this.positions;
    const grid = (v: Float32Array) => (t ? patchMaps(v, n, t.layout, t.axes) : v);
    const out: AttributionBatch = { maps: grid(await results.map.getData() as Float32Array) };
    if (this.outputs.includes("mean")) out.means = grid(await results.mean.getData() as Float32Array);
    if (this.outputs.includes("attribution")) {
      const a = await results.attribution.getData() as Float32Array;
      out.attributions = t ? tokensAsGrid(a, n, t.layout, t.axes) : a;
    }
    if (opts.activations) out.activations = await this.activations(pixels, n);
    return out;
  }

  /** Tap activations of the clean images (n x C x h x w). */
  async activations(pixels: Uint8Array, n: number): Promise<Float32Array> {
    const layer = this.trunk.taps[0].layer;
    const clean = await this.trunk.forward(pixels, n);
    const tap = clean.taps.get(layer)!;
    const count = n * this.rawShape.reduce((a, b) => a * b, 1);
    const data = tap.data ??
      new Float32Array(await readBuffer(this.trunk.handle.gpu!.device, tap.buffer!, count * 4));
    tap.dispose();
    const exact = data.length === count ? data : data.slice(0, count);
    const t = this.positions;
    return t ? tokensAsGrid(exact, n, t.layout, t.axes) : exact;
  }

  async release(): Promise<void> {
    this.xRef.buffer?.destroy();
    await this.backward.session.release();
    await this.trunk.release();
  }
}
