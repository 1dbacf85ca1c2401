// One class's attribution over the images predicted as that class: the part that the concepts and the
// contrast-vectors stages share, so that both pick the same images in the same order and, given a shared
// cache folder, compute each class's attribution once.
//
// Cache design. Attribution (S noisy forward passes and the backward graph per image) is the costly part;
// the clean activations are one forward pass and are recomputed, not stored (they would be C*h*w floats per
// image: 48 MB per class at ResNet-50 layer3). What is stored, per class, is the two channel-mean maps that
// the stages consume: the mean of ReLU(attribution) (the concepts' NMF weights) and the mean without ReLU
// (the contrast vectors' mask), n x 2 x h x w float32, in `<cache>/<key>/<class>.npy`, with
// `<class>.json` naming the images. `key` hashes everything the numbers depend on: the model's sha256, the
// tap tensor, the attribution settings (method, samples, sigma, seed) and the attribution batch size (an
// image's noise rows are numbered from its batch's first dataset index, so the batching is part of the
// result) and, for a transformer tap, which tokens are positions (`--tokens`: the maps' shape and order). An entry is used only when it lists the same dataset indices with the same image content (the
// sha256 of the prepared 224 x 224 pixels, computed from the pixels read for the activations anyway), so a
// moved, renamed or re-encoded data folder cannot serve stale maps; anything else is recomputed and the
// entry replaced. Entries are written atomically (npy first, json last), so a killed run leaves no entry
// that claims maps it does not have.
import { join } from "node:path";
import type { Dataset } from "../../data/dataset.ts";
import { sha256Hex } from "../../onnx/model.ts";
import type { EpChoice } from "../../runtime/ort.ts";
import { readJsonIfExists, writeFileAtomic, writeJsonAtomic } from "../../io/atomic.ts";
import { encodeNpy, readNpy } from "../../io/npy.ts";
import { checkWritableFolder } from "../../io/out_dir.ts";
import type { AttributionSettings, Attributor } from "./attributor.ts";
import type { TokenAxes } from "../../model/tokens.ts";
import {
  findOrComputePredictions,
  type FindPredictionsOptions,
  type FoundPredictions,
} from "../predict/find_predictions.ts";

/** The options of a stage that attributes each class over its predicted images (concepts, contrast). */
export interface ClassStageOptions extends AttributionSettings {
  model: string;
  data: string;
  layer: string;
  out: string;
  labels?: string;
  /** Use only the first N images of the data. */
  limit?: number;
  /** "all", or a list like "0-9,250". */
  classes?: string;
  /** Images predicted as the class, at most (default 60). */
  maxImages?: number;
  /** Images per attribution pass (part of the cache key: noise rows are numbered per batch). */
  batch?: number;
  /** An existing predictions folder to use instead of `<out>/predictions`. */
  predictions?: string;
  /** Shared attribution-map cache folder (see this file's header). */
  attributionCache?: string;
  ep?: EpChoice;
  /** How a transformer tap's tokens are positions (src/model/tokens.ts); default patches. */
  tokens?: TokenAxes;
}

/**
 * `{ tokens }` for a transformer tap (which tokens are positions: part of a run's identity, its manifest and
 * the cache key), nothing for a CNN tap, so CNN runs keep their identities and cache keys.
 */
export function tokenSetting(attributor: Attributor): { tokens?: TokenAxes } {
  return attributor.tokens ? { tokens: attributor.tokens.axes } : {};
}

/**
 * Up to `maxImages` image indices per predicted class, in data order (the reference shuffles and takes the
 * first 60; a fixed order makes runs repeatable). Unreadable images (class -1) belong to no class.
 */
export function predictedMembers(predicted: ArrayLike<number>, maxImages: number): Map<number, number[]> {
  const members = new Map<number, number[]>();
  for (let i = 0; i < predicted.length; i++) {
    const c = predicted[i];
    if (c < 0) continue;
    const list = members.get(c) ?? members.set(c, []).get(c)!;
    if (list.length < maxImages) list.push(i);
  }
  return members;
}

/**
 * The predictions a per-class stage works from: `--predictions` when given, else `<out>/predictions`, computed
 * there when missing or made from other inputs (predict/find_predictions.ts decides).
 */
export function classStagePredictions(
  opts: Omit<FindPredictionsOptions, "modelSha256" | "dataset" | "given" | "computeInto"> & {
    out: string;
    predictions?: string;
  },
  modelSha256: string,
  dataset: Dataset,
): Promise<FoundPredictions> {
  return findOrComputePredictions({
    ...opts,
    modelSha256,
    dataset,
    given: opts.predictions,
    computeInto: join(opts.out, "predictions"),
  });
}

/** Prepared pixels of scattered dataset images, read concurrently (decode workers in parallel). */
export async function readImages(
  dataset: Dataset,
  indices: number[],
): Promise<{ pixels: Uint8Array; failures: { index: number; path: string; reason: string }[] }> {
  const size = dataset.imageBytes;
  const pixels = new Uint8Array(indices.length * size);
  const reads = await Promise.all(indices.map((i) => dataset.readBatch(i, 1)));
  reads.forEach((b, i) => pixels.set(b.images.subarray(0, size), i * size));
  return { pixels, failures: reads.flatMap((b) => b.failures) };
}

export interface ClassAttribution {
  /** n x h x w: channel mean of ReLU(attribution). */
  maps: Float32Array;
  /** n x h x w: channel mean of the attribution without ReLU. */
  means: Float32Array;
  /** n x C x h x w clean activations. */
  activations: Float32Array;
  /** Images that could not be read (their pixels are zero; callers decide whether to use them). */
  failures: { index: number; path: string; reason: string }[];
  /** True when the maps came from the cache. */
  cached: boolean;
}

interface CacheEntry {
  key: string;
  class: number;
  images: { index: number; sha256: string }[];
  shape: number[];
}

/**
 * Checks `--attribution-cache` (when given) is a folder that can be created and written: the stages call this
 * before any prediction or attribution, so a bad path costs nothing.
 */
export async function checkAttributionCache(root: string | undefined): Promise<void> {
  if (root !== undefined) await checkWritableFolder(root, "--attribution-cache");
}

/** The shared per-class attribution-map cache described in this file's header. */
export class AttributionCache {
  private constructor(readonly dir: string, readonly key: string) {}

  /** The cache of `attributor`'s run under `root`; undefined when no cache folder was given. */
  static forRun(
    root: string | undefined,
    attributor: Attributor,
    modelSha256: string,
    batch: number,
  ): Promise<AttributionCache | undefined> {
    if (!root) return Promise.resolve(undefined);
    const { tapTensor, settings } = attributor;
    return AttributionCache.open(root, {
      modelSha256,
      tapTensor,
      settings,
      batch,
      ...tokenSetting(attributor),
    });
  }

  /** `tokens` only for a transformer tap, so a CNN's keys (and cached maps) stay what they were. */
  static async open(
    root: string,
    identity: { modelSha256: string; tapTensor: string; settings: object; batch: number; tokens?: string },
  ): Promise<AttributionCache> {
    await checkAttributionCache(root);
    const key = (await sha256Hex(new TextEncoder().encode(JSON.stringify(identity)))).slice(0, 16);
    const dir = join(root, key);
    await Deno.mkdir(dir, { recursive: true });
    await writeJsonAtomic(join(dir, "key.json"), identity);
    return new AttributionCache(dir, key);
  }

  async get(cls: number, images: CacheEntry["images"]): Promise<Float32Array | undefined> {
    const entry = await readJsonIfExists<CacheEntry>(join(this.dir, `${cls}.json`));
    if (!entry || entry.key !== this.key || entry.images.length !== images.length) return undefined;
    if (entry.images.some((e, i) => e.index !== images[i].index || e.sha256 !== images[i].sha256)) {
      return undefined;
    }
    const npy = await readNpy(join(this.dir, `${cls}.npy`)).catch(() => undefined);
    if (!npy || npy.dtype !== "<f4" || JSON.stringify(npy.shape) !== JSON.stringify(entry.shape)) {
      return undefined;
    }
    return npy.data as Float32Array;
  }

  async put(cls: number, images: CacheEntry["images"], both: Float32Array, shape: number[]): Promise<void> {
    await writeFileAtomic(join(this.dir, `${cls}.npy`), encodeNpy(both, shape));
    await writeJsonAtomic(join(this.dir, `${cls}.json`), { key: this.key, class: cls, images, shape });
  }
}

/**
 * Both channel-mean maps and the clean activations of `images` (dataset indices) towards `cls`, attributed
 * in batches of `batch` exactly as the concepts stage always has (so cached and fresh maps are the same
 * numbers). The Attributor must be opened `withMean`.
 */
export async function attributeClass(
  attributor: Attributor,
  dataset: Dataset,
  cls: number,
  images: number[],
  batch: number,
  cache?: AttributionCache,
): Promise<ClassAttribution> {
  const [c, h, w] = attributor.tapShape;
  const hw = h * w;
  const n = images.length;
  const maps = new Float32Array(n * hw);
  const means = new Float32Array(n * hw);
  const activations = new Float32Array(n * c * hw);
  const failures: ClassAttribution["failures"] = [];
  const batches: { ids: number[]; pixels: Uint8Array }[] = [];
  const identities: CacheEntry["images"] = [];
  for (let s = 0; s < n; s += batch) {
    const ids = images.slice(s, s + batch);
    const read = await readImages(dataset, ids);
    failures.push(...read.failures);
    batches.push({ ids, pixels: read.pixels });
    for (let i = 0; i < ids.length; i++) {
      const one = read.pixels.subarray(i * dataset.imageBytes, (i + 1) * dataset.imageBytes);
      identities.push({ index: ids[i], sha256: await sha256Hex(one) });
    }
  }
  const stored = await cache?.get(cls, identities);
  let s = 0;
  for (const { ids, pixels } of batches) {
    if (stored) {
      for (let i = 0; i < ids.length; i++) {
        const at = (s + i) * 2 * hw;
        maps.set(stored.subarray(at, at + hw), (s + i) * hw);
        means.set(stored.subarray(at + hw, at + 2 * hw), (s + i) * hw);
      }
      activations.set(await attributor.activations(pixels, ids.length), s * c * hw);
    } else {
      const r = await attributor.attribute(pixels, ids.length, ids.map(() => cls), ids[0], {
        activations: true,
      });
      if (!r.means) throw new Error("attributeClass: the Attributor was not opened withMean");
      maps.set(r.maps, s * hw);
      means.set(r.means, s * hw);
      activations.set(r.activations!, s * c * hw);
    }
    s += ids.length;
  }
  if (cache && !stored) {
    const both = new Float32Array(n * 2 * hw);
    for (let i = 0; i < n; i++) {
      both.set(maps.subarray(i * hw, (i + 1) * hw), i * 2 * hw);
      both.set(means.subarray(i * hw, (i + 1) * hw), i * 2 * hw + hw);
    }
    await cache.put(cls, identities, both, [n, 2, h, w]);
  }
  return { maps, means, activations, failures, cached: !!stored };
}
