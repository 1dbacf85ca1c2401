// The one streaming pass that the component test, the prototype figures and the explanation figure share:
// images -> classifier trunk up to the tap -> prototype search, batch by batch, with the dataset's predicted
// classes deciding which positions count as "from another class".
import type { SkippedImage } from "../../io/skipped.ts";
import type { Dataset } from "../../data/dataset.ts";
import type { Classifier } from "../../model/classifier.ts";
import { acquireGpu, createStorageBuffer, type GpuContext, readBuffer } from "../../runtime/gpu.ts";
import { PrototypeSearch } from "../../../kernels/search/prototype_search.ts";
import { poolImage } from "../../../kernels/search/reference.ts";
import {
  pooledSize,
  ranksBefore,
  type SearchGeometry,
  type SearchHit,
  type SearchResult,
} from "../../../kernels/search/hits.ts";
import { createProgress } from "../../io/progress.ts";
import { type TokenLayout, tokenLayout, tokensAsGrid } from "../../model/tokens.ts";
import { PREPARED_IMAGE_SIZE } from "../../data/input_spec.ts";
import { checkCropPatches } from "./crop_patches.ts";

/** Stacked prototypes (P x C) and the class of each. */
export interface PrototypeSet {
  bases: Float32Array;
  prototypeClass: Int32Array;
  channels: number;
}

export interface SearchPassOptions {
  /** Positions kept per prototype over all images (1..64). */
  topK: number;
  /**
   * Keep, per prototype, its best `excludedTopK` positions among images NOT predicted as the prototype's
   * class (1..64, default 1: `bestOther`). The same pass keeps them (the top-k merge selects both lists from
   * the same scores).
   */
  excludedTopK?: number;
  /** Images per forward pass (default 16). */
  batch?: number;
  /** Use the CPU search even when a WebGPU device exists (tests of the fallback). */
  cpu?: boolean;
  /** Progress label (default "search"). */
  label?: string;
  /**
   * Patches per side of a token hit's crop (`--crop-patches`: odd, default 1 = the patch): checked against the
   * tap when its geometry is known, before anything is searched. A CNN tap refuses anything but 1 (its crop is
   * the cell of the pooled grid), a token tap anything over its grid.
   */
  cropPatches?: number;
  /** Called once with the tap's token layout (undefined: a CNN tap) before the search starts: a caller's check. */
  checkTap?: (tokens: TokenLayout | undefined) => void;
}

export type { SkippedImage };

export interface SearchPassResult extends SearchResult {
  geometry: SearchGeometry;
  pooledWidth: number;
  pooledHeight: number;
  /** Images folded into the search. */
  searched: number;
  /** Unreadable images, and images without a prediction; in no result. */
  skipped: SkippedImage[];
  seconds: number;
  imagesPerSecond: number;
  /** Where the search ran: "webgpu (<adapter>)" or "cpu". */
  searchDevice: string;
  /** Where the tap activations came from: left on the GPU by the webgpu EP, or CPU arrays. */
  activations: "gpu" | "cpu";
  /** The tap as resolved in the model. */
  tap: { layer: string; tensor: string };
  /** The classifier of the pass. */
  model: { path: string; sha256: string; device: string };
  /**
   * A transformer tap's token layout: its patch tokens were searched one by one (pool 1), so a hit's (y, x)
   * is a patch and its crop that patch's box; the class token is no position on the image and never a hit.
   */
  tokens?: TokenLayout;
  /** Cells per side of a hit's crop (crop_cells.ts cropBox): `--crop-patches` on a token tap, else 1. */
  cropPatches: number;
}

interface StreamingSearch {
  addBatch(
    activations: GPUBuffer | Float32Array,
    batchSize: number,
    firstImage: number,
    predicted: Int32Array,
  ): void;
  finish(): Promise<SearchResult>;
  destroy(): void;
}

/**
 * The search without a GPU: the same ranking (hits.ts) over float64 cosines, streamed batch by batch with a
 * sorted top-k list per prototype. Slow for ImageNet-sized prototype sets; it exists so the tool still works
 * where WebGPU does not.
 */
export class CpuPrototypeSearch implements StreamingSearch {
  private readonly units: Float64Array[];
  private readonly top: SearchHit[][];
  private readonly other: SearchHit[][];
  private readonly prototypes: number;

  constructor(
    bases: Float32Array,
    private readonly prototypeClass: Int32Array,
    private readonly geometry: SearchGeometry,
    private readonly topK: number,
    private readonly excludedTopK = 1,
  ) {
    const C = geometry.channels;
    this.prototypes = bases.length / C;
    this.units = Array.from({ length: this.prototypes }, (_, p) => {
      const v = Float64Array.from(bases.subarray(p * C, (p + 1) * C));
      let sum = 0;
      for (const x of v) sum += x * x;
      const inv = sum > 0 ? 1 / Math.sqrt(sum) : 0;
      return v.map((x) => x * inv);
    });
    this.top = Array.from({ length: this.prototypes }, () => []);
    this.other = Array.from({ length: this.prototypes }, () => []);
  }

  addBatch(
    activations: GPUBuffer | Float32Array,
    batchSize: number,
    firstImage: number,
    predicted: Int32Array,
  ) {
    if (!(activations instanceof Float32Array)) {
      throw new Error("CpuPrototypeSearch.addBatch: activations must be a CPU array");
    }
    const { channels: C } = this.geometry;
    const { height: ph, width: pw } = pooledSize(
      this.geometry.height,
      this.geometry.width,
      this.geometry.pool,
    );
    for (let i = 0; i < batchSize; i++) {
      const pooled = poolImage(activations, i, this.geometry);
      for (let s = 0; s < ph * pw; s++) {
        const v = pooled.subarray(s * C, (s + 1) * C);
        let sum = 0;
        for (let c = 0; c < C; c++) sum += v[c] * v[c];
        const inv = sum > 0 ? 1 / Math.sqrt(sum) : 0;
        for (let p = 0; p < this.prototypes; p++) {
          const u = this.units[p];
          let dot = 0;
          for (let c = 0; c < C; c++) dot += u[c] * v[c];
          const hit = {
            score: Math.fround(dot * inv),
            image: firstImage + i,
            y: Math.floor(s / pw),
            x: s % pw,
          };
          this.offer(p, hit, predicted[i]);
        }
      }
    }
  }

  private offer(p: number, hit: SearchHit, predicted: number) {
    insertRanked(this.top[p], hit, this.topK);
    if (predicted !== this.prototypeClass[p]) insertRanked(this.other[p], hit, this.excludedTopK);
  }

  finish(): Promise<SearchResult> {
    return Promise.resolve({
      topK: this.top.map((l) => [...l]),
      bestOther: this.other.map((l) => l[0] ?? null),
      excludedTopK: this.other.map((l) => [...l]),
    });
  }

  destroy() {}
}

/** Puts `hit` into the ranked `list` (best first) if it is among the best `keep`. */
function insertRanked(list: SearchHit[], hit: SearchHit, keep: number) {
  if (list.length >= keep && !ranksBefore(hit, list[list.length - 1])) return;
  let at = list.length;
  while (at > 0 && ranksBefore(hit, list[at - 1])) at--;
  list.splice(at, 0, hit);
  if (list.length > keep) list.pop();
}

/** The prototypes of `classes` only (rows in the set's order). */
export function prototypesOf(set: PrototypeSet, classes: number[]): PrototypeSet {
  const keep = new Set(classes);
  const rows = [...set.prototypeClass.keys()].filter((p) => keep.has(set.prototypeClass[p]));
  const C = set.channels;
  const bases = new Float32Array(rows.length * C);
  rows.forEach((p, i) => bases.set(set.bases.subarray(p * C, (p + 1) * C), i * C));
  return { bases, prototypeClass: Int32Array.from(rows, (p) => set.prototypeClass[p]), channels: C };
}

/** Copies chosen images of a batch into a scratch buffer on the GPU (queue order keeps reuse safe). */
class GpuGather {
  private scratch?: GPUBuffer;
  constructor(
    private readonly device: GPUDevice,
    private readonly imageBytes: number,
    private readonly batch: number,
  ) {}

  /** Images `indices` (ascending) of `source`, packed from image 0 of the returned buffer. */
  gather(source: GPUBuffer, indices: number[]): GPUBuffer {
    this.scratch ??= createStorageBuffer(this.device, this.batch * this.imageBytes, 0, "pass.gather");
    const enc = this.device.createCommandEncoder({ label: "pass.gather" });
    for (const [first, length, to] of runsOf(indices)) {
      enc.copyBufferToBuffer(
        source,
        first * this.imageBytes,
        this.scratch,
        to * this.imageBytes,
        length * this.imageBytes,
      );
    }
    this.device.queue.submit([enc.finish()]);
    return this.scratch;
  }

  destroy() {
    this.scratch?.destroy();
  }
}

/** Ascending indices as runs [first, length, position of first in the packed output]. */
function runsOf(indices: number[]): [number, number, number][] {
  const runs: [number, number, number][] = [];
  indices.forEach((index, at) => {
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === index) last[1]++;
    else runs.push([index, 1, at]);
  });
  return runs;
}

function gatherCpu(data: Float32Array, indices: number[], imageFloats: number): Float32Array {
  if (indices.length && indices.every((v, i) => v === indices[0] + i)) {
    return data.subarray(indices[0] * imageFloats, (indices[0] + indices.length) * imageFloats);
  }
  const out = new Float32Array(indices.length * imageFloats);
  indices.forEach((index, at) =>
    out.set(data.subarray(index * imageFloats, (index + 1) * imageFloats), at * imageFloats)
  );
  return out;
}

/**
 * Streams the dataset through the classifier (opened with one tap: `Classifier.open(model, {layers: [layer],
 * withLogits: false, tapsOnGpu})`) and folds every batch's tap activations into the prototype search.
 * `predicted[i]` is image i's predicted class (-1: unreadable, skipped). Runs the search on the shared WebGPU
 * device when there is one (tap activations stay on the GPU with the webgpu EP), else on the CPU.
 */
export async function searchPrototypes(
  dataset: Dataset,
  classifier: Classifier,
  prototypes: PrototypeSet,
  predicted: Int32Array,
  opts: SearchPassOptions,
): Promise<SearchPassResult> {
  if (classifier.taps.length !== 1) {
    throw new Error(
      `searchPrototypes: the classifier must have exactly one tap, it has ${classifier.taps.length}`,
    );
  }
  if (predicted.length < dataset.size) {
    throw new Error(`searchPrototypes: ${predicted.length} predictions for ${dataset.size} images`);
  }
  for (const [name, v] of [["topK", opts.topK], ["excludedTopK", opts.excludedTopK ?? 1]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 64) {
      throw new Error(`searchPrototypes: ${name} must be in 1..64, got ${v}`);
    }
  }
  const tap = classifier.taps[0];
  const batch = opts.batch ?? 16;
  const gpu: GpuContext | undefined = opts.cpu ? undefined : await acquireGpu();
  const device = gpu?.device;
  let geometry: SearchGeometry | undefined;
  let main: StreamingSearch | undefined;
  let gather: GpuGather | undefined;
  const skipped: SkippedImage[] = [];
  const progress = createProgress(opts.label ?? "search", dataset.size);
  const started = performance.now();
  let searched = 0;
  let activationsOnGpu = false;
  let tokens: TokenLayout | undefined;

  const create = async (g: SearchGeometry) => {
    const { bases, prototypeClass } = prototypes;
    const excludedTopK = opts.excludedTopK ?? 1;
    main = device
      ? await PrototypeSearch.create(device, bases, prototypeClass, {
        ...g,
        topK: opts.topK,
        excludedTopK,
        maxBatch: batch,
      })
      : new CpuPrototypeSearch(bases, prototypeClass, g, opts.topK, excludedTopK);
    if (device) gather = new GpuGather(device, g.channels * g.height * g.width * 4, batch);
  };

  try {
    let pending = dataset.size > 0 ? dataset.readBatch(0, Math.min(batch, dataset.size)) : undefined;
    for (let start = 0; start < dataset.size; start += batch) {
      const count = Math.min(batch, dataset.size - start);
      const read = await pending!;
      const nextStart = start + batch;
      // Decode the next batch while this one runs through the model.
      pending = nextStart < dataset.size
        ? dataset.readBatch(nextStart, Math.min(batch, dataset.size - nextStart))
        : undefined;
      const usable: number[] = [];
      for (let i = 0; i < count; i++) {
        const index = start + i;
        if (!read.ok[i]) {
          const f = read.failures.find((x) => x.index === index);
          skipped.push({ index, path: dataset.entries[index].path, reason: f?.reason ?? "unreadable" });
        } else if (predicted[index] < 0) {
          skipped.push({
            index,
            path: dataset.entries[index].path,
            reason: "no prediction (unreadable when predicted)",
          });
        } else usable.push(i);
      }
      if (usable.length === 0) {
        progress.tick(count);
        continue;
      }
      const out = await classifier.forward(read.images, count);
      const act = out.taps.get(tap.layer)!;
      try {
        if (act.dims.length === 3 && !tokens) tokens = searchedTokens(classifier, tap.layer, act.dims);
        const [n, C, h, w] = tokens ? [act.dims[0], tokens.channels, tokens.gridH, tokens.gridW] : act.dims;
        if ((act.dims.length !== 4 && !tokens) || n !== count) {
          throw new Error(
            `--layer ${tap.layer}: tap output has shape [${act.dims}], expected [${count}, C, H, W] or [${count}, T, C]`,
          );
        }
        if (!geometry) {
          checkCropPatches(opts.cropPatches ?? 1, tap.layer, tokens);
          opts.checkTap?.(tokens);
          if (C !== prototypes.channels) {
            throw new Error(
              `--layer ${tap.layer} (${tap.tensor}) has ${C} channels but the concepts have ${prototypes.channels}; ` +
                "were they computed at another layer?",
            );
          }
          if (!tokens && (h < 2 || w < 2)) {
            throw new Error(`--layer ${tap.layer}: its ${h}x${w} grid is too small to pool 2x2`);
          }
          geometry = { channels: C, height: h, width: w, ...(tokens ? { pool: 1 as const } : {}) };
          await create(geometry);
        }
        const imageFloats = C * h * w;
        const batchPred = predicted.subarray(start, start + count);
        const source: GPUBuffer | Float32Array = tokens
          ? tokensAsGrid(await tapOnCpu(act, device), count, tokens)
          : act.buffer ?? act.data!;
        // A transformer's tokens were gathered into the patch grid on the CPU, wherever the EP left them.
        activationsOnGpu = !tokens && act.buffer !== undefined;
        // Main search: contiguous runs of usable images keep their dataset indices.
        for (const [first, length] of runsOf(usable)) {
          const indices = Array.from({ length }, (_, j) => first + j);
          const part = source instanceof Float32Array
            ? gatherCpu(source, indices, imageFloats)
            : length === count
            ? source
            : gather!.gather(source, indices);
          main!.addBatch(part, length, start + first, batchPred.subarray(first, first + length));
        }
        searched += usable.length;
      } finally {
        act.dispose();
      }
      progress.tick(count);
    }
    progress.stop();
    if (!main || !geometry) throw new Error(`${dataset.root}: no readable image with a prediction to search`);
    const result = await main.finish();
    const seconds = (performance.now() - started) / 1000;
    const pooled = pooledSize(geometry.height, geometry.width, geometry.pool);
    return {
      ...result,
      geometry,
      pooledWidth: pooled.width,
      pooledHeight: pooled.height,
      searched,
      skipped,
      seconds,
      imagesPerSecond: searched / Math.max(seconds, 1e-9),
      searchDevice: gpu ? `webgpu (${gpu.description})` : "cpu",
      activations: activationsOnGpu ? "gpu" : "cpu",
      tap: { layer: tap.layer, tensor: tap.tensor },
      model: { path: classifier.path, sha256: classifier.sha256, device: classifier.device },
      ...(tokens ? { tokens } : {}),
      cropPatches: opts.cropPatches ?? 1,
    };
  } finally {
    main?.destroy();
    gather?.destroy();
  }
}

/**
 * The layout of a [N, T, C] tap searched as positions: its patch grid, which must tile the prepared image so
 * that a token's crop is exactly its patch (the crop side is the image side over the grid, kernels/composite).
 */
function searchedTokens(classifier: Classifier, layer: string, dims: readonly number[]): TokenLayout {
  const layout = tokenLayout(classifier.model, layer, [...dims]);
  if (layout.patch * layout.gridW !== PREPARED_IMAGE_SIZE) {
    throw new Error(
      `--layer ${layer}: ${layout.gridW} patches of ${layout.patch} px do not tile the ${PREPARED_IMAGE_SIZE} px ` +
        "input, so a token's crop could not be its patch",
    );
  }
  return layout;
}

/** A tap's values on the CPU: the token grid is gathered there (a transformer tap is small next to a CNN's). */
async function tapOnCpu(
  act: { dims: number[]; data?: Float32Array; buffer?: GPUBuffer },
  device: GPUDevice | undefined,
): Promise<Float32Array> {
  if (act.data) return act.data;
  if (!device || !act.buffer) {
    throw new Error("searchPrototypes: the tap's activations are neither on the CPU nor on the GPU");
  }
  const floats = act.dims.reduce((a, b) => a * b, 1);
  return new Float32Array(await readBuffer(device, act.buffer, floats * 4));
}
