// Backward models are costly to generate and encode (a ResNet head carries its weights), and one serves every
// batch: this cache builds each (classifier, tap, options) model once per process and hands out the encoded
// bytes with it.
import { encodeModel, type Model } from "../onnx/model.ts";
import { buildBackwardGraph } from "./generator.ts";
import { type BackwardOptions, CAPTUM_DEEPLIFT_EPS, DEFAULT_BACKWARD_OUTPUTS } from "./options.ts";

export interface BackwardGraph {
  model: Model;
  /** The encoded model, ready for `InferenceSession.create`. */
  bytes: Uint8Array;
}

/** What a cached backward model is built from: the classifier, the tap, and the generator's options. */
export interface BackwardGraphKey extends BackwardOptions {
  /** Identifies the classifier, e.g. its file's SHA-256. */
  model: string;
  /** The tap (layer or tensor name) the head starts at. */
  layer: string;
}

/** Backward models built once per (model, layer, method, outputs, options) and reused. */
export class BackwardGraphCache {
  private readonly entries = new Map<string, BackwardGraph>();

  get(key: BackwardGraphKey, head: Model | (() => Model)): BackwardGraph {
    const { model: modelId, layer, ...opts } = key;
    const id = JSON.stringify([
      modelId,
      layer,
      opts.method,
      opts.outputs ?? DEFAULT_BACKWARD_OUTPUTS,
      opts.eps ?? CAPTUM_DEEPLIFT_EPS,
      opts.convInputGradient ?? "conv",
      opts.samplesPerImage ?? 1,
      opts.featureAxis ?? 1,
    ]);
    let entry = this.entries.get(id);
    if (!entry) {
      const model = buildBackwardGraph(typeof head === "function" ? head() : head, opts);
      entry = { model, bytes: encodeModel(model) };
      this.entries.set(id, entry);
    }
    return entry;
  }

  clear(): void {
    this.entries.clear();
  }
}

export const attributionGraphCache = new BackwardGraphCache();
