// "Why A, not B" (the paper's class contrasting, the reference's nmf_decomp_hyperplane_ood_filtered_activations):
// the images predicted as A (the concepts stage's selection), their activations at the layer, and per position
// the A-side score of the (A, B) hyperplane, ReLU'd, as a mask on the activations; NMF of the masked rows
// gives k prototypes of what makes A rather than B. Their best crops come from the prototype search
// (search/streaming_search.ts) over A's images. `--both` also computes B-not-A.
//
// The sign. The (A, B) hyperplane labels A's rows 0 and B's 1, so n . a + b < 0 on A's side and the
// consistent A-side score is -(n . a + b). The reference negates the normal but keeps the bias's sign,
// -n . a + b (example_nmf_decomp_contrasting_imagenet.py); `referenceBias` reproduces that.
import { join } from "node:path";
import { type Dataset, openDataset } from "../../../data/dataset.ts";
import { datasetSubset } from "../../../data/dataset_subset.ts";
import { classStagePredictions, predictedMembers, readImages } from "../../attribute/class_attribution.ts";
import { weightedRows } from "../../concepts/concepts.ts";
import { factorize, type NmfDeviceChoice, nmfDeviceFor } from "../../concepts/factorize.ts";
import { searchPrototypes } from "../../search/streaming_search.ts";
import { hitSource, pooledSize } from "../../../../kernels/search/hits.ts";
import type { WhyNotCrop, WhyNotDirection } from "./why_not_direction.ts";
export type { WhyNotCrop, WhyNotDirection } from "./why_not_direction.ts";
import { MAX_K, NMF_DEFAULTS } from "../../../../kernels/nmf/settings.ts";
import { acquireGpu } from "../../../runtime/gpu.ts";
import type { EpChoice } from "../../../runtime/ort.ts";
import { namesFor } from "../../../model/model_classes.ts";
import { UsageError } from "../../../cli/cli.ts";
import { buildManifest, completeManifest, startManifest, takeOverOutDir } from "../../../io/manifest.ts";
import { writeFileAtomic, writeJsonAtomic } from "../../../io/atomic.ts";
import { writeNpy } from "../../../io/npy.ts";
import { withOutDir } from "../../../io/out_dir.ts";
import { safeName } from "../../../render/canvas.ts";
import { loadImages } from "../../search/crop_images.ts";
import { checkHyperplanesFit, type HyperplaneSet } from "../hyperplanes/hyperplane_set.ts";
import { openHyperplanes } from "../hyperplanes/hyperplanes_io.ts";
import { SplitModel } from "../../../model/split_model.ts";
import { whyNotFigure } from "./why_not_figure.ts";
import {
  defaultSignedMode,
  nmfChannels,
  nonNegativeActivations,
  type SignedMode,
  signedPrototypes,
} from "../../concepts/signed_rows.ts";

export interface WhyNotOptions {
  model: string;
  data: string;
  layer: string;
  /** A hyperplane folder, or hyperplanes already in memory (tests, the demo) with a name for messages. */
  hyperplanes: string | { source: string; set: HyperplaneSet };
  /** Class A: an index, or a class name of the data. */
  classA: number | string;
  /** Class B. */
  classB: number | string;
  out: string;
  /** Prototypes (default 6). */
  k?: number;
  /** Also B, not A, drawn beside A, not B in one figure. */
  both?: boolean;
  /** The reference's score -n . a + b instead of -(n . a + b). */
  referenceBias?: boolean;
  /** Images predicted as A, at most (default 60). */
  maxImages?: number;
  /** Best crops kept per prototype (default 6). */
  crops?: number;
  labels?: string;
  limit?: number;
  ep?: EpChoice;
  predictions?: string;
  seed?: number;
  maxIter?: number;
  tol?: number;
  nmfDevice?: NmfDeviceChoice;
  /** Run the prototype search on the CPU even where WebGPU exists. */
  cpuSearch?: boolean;
  /**
   * The model at `model` with `layer` tapped, already open (the explorer keeps one per model and layer, so a
   * second contrast does not open it again); the caller releases it. Default: opened here and released.
   */
  splitModel?: SplitModel;
  /** Stops the work between NMF iterations, images batches and directions (the explorer's cancel button). */
  signal?: AbortSignal;
  /** How signed activations become NMF rows (concepts/signed_rows.ts); default split on a token tap. */
  signed?: SignedMode;
}

export interface WhyNotResult extends WhyNotDirection {
  k: number;
  channels: number;
  pooledGrid: [number, number];
  /** B, not A (with `both`). */
  reverse?: WhyNotDirection;
  /** The figure's path. */
  figure: string;
  manifest: Record<string, unknown>;
}

/**
 * The `from`-side score of every position: per image i and position p, ReLU(-(n . a + b)) (or the
 * reference's ReLU(-n . a + b)). `acts` n x C x hw.
 */
export function sideMasks(
  acts: Float32Array,
  n: number,
  c: number,
  hw: number,
  normal: Float32Array,
  bias: number,
  referenceBias = false,
): Float32Array {
  const masks = new Float32Array(n * hw);
  const dot = new Float64Array(hw);
  for (let i = 0; i < n; i++) {
    dot.fill(0);
    for (let ch = 0; ch < c; ch++) {
      const w = normal[ch];
      if (w === 0) continue;
      const base = (i * c + ch) * hw;
      for (let p = 0; p < hw; p++) dot[p] += w * acts[base + p];
    }
    for (let p = 0; p < hw; p++) {
      const s = referenceBias ? -dot[p] + bias : -(dot[p] + bias);
      masks[i * hw + p] = s > 0 ? s : 0;
    }
  }
  return masks;
}

/** A class given as an index or a class name, checked against the model's K classes. */
export function resolveClass(
  value: number | string,
  flag: string,
  numClasses: number,
  names: readonly string[] | undefined,
): number {
  const text = String(value).trim();
  let cls = /^\d+$/.test(text) ? Number(text) : names ? names.indexOf(text) : -1;
  if (cls < 0 && names && !/^\d+$/.test(text)) {
    const lower = text.toLowerCase();
    cls = names.findIndex((n) => n.toLowerCase() === lower);
  }
  if (!Number.isInteger(cls) || cls < 0 || cls >= numClasses) {
    throw new UsageError(
      `${flag} ${value}: expected a class index in 0..${numClasses - 1}${names ? " or a class name" : ""}`,
    );
  }
  return cls;
}

export async function whyNot(opts: WhyNotOptions): Promise<WhyNotResult> {
  const k = opts.k ?? NMF_DEFAULTS.k;
  if (!Number.isInteger(k) || k < 1 || k > MAX_K) {
    throw new UsageError(`--k ${k}: prototypes must be an integer in 1..${MAX_K}`);
  }
  const crops = opts.crops ?? 6;
  if (!Number.isInteger(crops) || crops < 1 || crops > 64) {
    throw new UsageError(`--crops ${crops}: crops per prototype must be an integer in 1..64`);
  }
  return await withOutDir(opts.out, "contrast", () => whyNotIn(opts, k, crops));
}

async function whyNotIn(opts: WhyNotOptions, k: number, crops: number): Promise<WhyNotResult> {
  const maxImages = opts.maxImages ?? 60;
  // A transformer's split model needs every token as a position (its head takes them all back, and the
  // explorer shares one model between this and the shifting test); the class token is dropped below.
  const model = opts.splitModel ?? await SplitModel.open(opts.model, opts.layer, opts.ep, "patches+cls");
  let dataset: Dataset | undefined;
  try {
    const [C] = model.tapShape;
    const grid = model.positionGrid;
    if (!grid) {
      throw new UsageError(
        `--layer ${opts.layer}: the reference's axes make the channels the positions, no place on the image; ` +
          "why A, not B needs tokens as positions",
      );
    }
    // The positions on the image: a CNN's h x w, a transformer's patch grid after `prefix` class tokens.
    const { h, w, prefix } = grid;
    const K = model.numClasses;
    const source = typeof opts.hyperplanes === "string" ? opts.hyperplanes : opts.hyperplanes.source;
    const planes = typeof opts.hyperplanes === "string"
      ? await openHyperplanes(opts.hyperplanes)
      : opts.hyperplanes.set;
    checkHyperplanesFit(planes, source, opts.layer, {
      channels: C,
      tapTensor: model.tapTensor,
      sha256: model.sha256,
      path: opts.model,
    });
    if (planes.numClasses !== K) {
      throw new UsageError(
        `--hyperplanes ${source}: ${planes.numClasses} classes, but --model ${opts.model} has ${K}`,
      );
    }
    const signed = opts.signed ?? defaultSignedMode(!!model.tokens);
    const features = nmfChannels(signed, C);
    if (k > features) throw new UsageError(`--k ${k}: ${opts.layer} has only ${features} NMF features`);
    dataset = await openDataset(opts.data, { labels: opts.labels, limit: opts.limit });
    const names = namesFor(K, dataset);
    const a = resolveClass(opts.classA, "--class", K, names);
    const b = resolveClass(opts.classB, "--not", K, names);
    if (a === b) {
      throw new UsageError(
        `--class ${opts.classA} and --not ${opts.classB} name the same class; give two classes`,
      );
    }
    const directions = opts.both ? [[a, b], [b, a]] : [[a, b]];
    for (const [from, to] of directions) {
      if (!planes.rowClasses.includes(from)) {
        throw new UsageError(`--hyperplanes ${source}: no hyperplane row for class ${from}`);
      }
      await planes.loadRow(from);
      if (planes.normal(from, to).every((v) => v === 0)) {
        throw new UsageError(
          `--hyperplanes ${source}: the normal of (${from}, ${to}) is all zeros (no contrast vectors for one class)`,
        );
      }
    }
    const found = await classStagePredictions(opts, model.sha256, dataset);
    const members = predictedMembers(found.predicted, maxImages);
    for (const [from] of directions) {
      if (!members.get(from)?.length) {
        const flag = from === a ? `--class ${opts.classA}` : `--not ${opts.classB}`;
        throw new UsageError(`${flag}: no image of ${opts.data} is predicted as class ${from}`);
      }
    }
    const gpu = await acquireGpu();
    const nmfSettings = {
      k,
      maxIter: opts.maxIter ?? NMF_DEFAULTS.maxIter,
      tol: opts.tol ?? NMF_DEFAULTS.tol,
      seed: opts.seed ?? 0,
    };
    const settings = {
      ...nmfSettings,
      classA: a,
      classB: b,
      both: !!opts.both,
      score: opts.referenceBias ? "reference: -n.a + b" : "consistent: -(n.a + b)",
      maxImages,
      crops,
      hyperplanes: source,
      predictions: found.from,
      ...(model.tokens || signed !== defaultSignedMode(false) ? { signed } : {}),
    };
    const manifest = await buildManifest({
      task: "contrast",
      model: { path: opts.model, sha256: model.sha256 },
      layer: { name: opts.layer, tensor: model.tapTensor },
      data: { path: opts.data, count: dataset.size, files: dataset.entries.map((e) => e.path) },
      device: `${model.device}; kernels: ${gpu?.description ?? "CPU"}`,
      settings,
      ...(planes.ref ? { inputs: { hyperplanes: planes.ref } } : {}),
    });
    // Everything validated: the earlier run's files (another pair's reverse/, its figure) go now.
    await takeOverOutDir(opts.out, "contrast");
    await startManifest(opts.out, manifest);

    const nameOf = (c: number) => names?.[c];
    const pool = model.tokens ? 1 : 2;
    const one = async ([from, to]: number[]): Promise<WhyNotDirection> => {
      opts.signal?.throwIfAborted();
      const images = members.get(from)!;
      const { pixels } = await readImages(dataset!, images);
      const n = images.length, hw = h * w;
      const acts = onImage(await model.activations(pixels, n, undefined, opts.signal), n, C, prefix);
      const masks = sideMasks(
        acts,
        n,
        C,
        hw,
        planes.normal(from, to),
        planes.bias(from, to),
        opts.referenceBias,
      );
      const kept = masks.reduce((t, v) => t + (v > 0 ? 1 : 0), 0);
      const common = {
        from,
        to,
        ...(nameOf(from) ? { fromName: nameOf(from) } : {}),
        ...(nameOf(to) ? { toName: nameOf(to) } : {}),
        images,
        imagePaths: images.map((i) => dataset!.entries[i].path),
        masks,
        maskShape: [n, h, w] as [number, number, number],
        keptShare: kept / (n * hw),
      };
      if (kept === 0) {
        // Every position lies on B's side: nothing to factorize (NMF of zeros is undefined). Reported, not fatal.
        console.error(
          `why ${from}, not ${to}: the mask keeps no position of ${n} images (all on ${to}'s side of the ` +
            `hyperplane); no prototypes`,
        );
        return {
          ...common,
          basis: new Float32Array(k * C),
          relError: 1,
          iterations: 0,
          topCrops: Array.from({ length: k }, () => []),
          noPositions: true,
        };
      }
      const nonNegative = nonNegativeActivations(acts, masks, C, hw, signed, opts.layer);
      const rows = weightedRows(nonNegative, masks, n, features, hw);
      const [f] = await factorize(
        nmfDeviceFor(opts.nmfDevice, gpu),
        [{ v: rows, n: n * hw }],
        features,
        nmfSettings,
        opts.signal,
      );
      const basis = signed === "split" ? signedPrototypes(f.h, k, C) : f.h;
      // The search streams A's images only: the crops must show A's evidence against B, and a pass over the
      // whole dataset would cost a forward pass of every image for crops mostly from other classes.
      const view = datasetSubset(dataset!, images);
      const pass = await searchPrototypes(
        view,
        model.trunk,
        { bases: basis, prototypeClass: new Int32Array(k).fill(from), channels: C },
        Int32Array.from(images, (i) => found.predicted[i]),
        { topK: crops, cpu: opts.cpuSearch, label: `why ${from} not ${to}: search` },
      );
      // A pooled cell is the 2 x 2 tap positions the search averaged (an odd last row/column is dropped); a
      // transformer's cell is one patch token.
      const cellMask = (i: number, y: number, x: number) => {
        if (pool === 1) return masks[i * hw + y * w + x];
        const at = i * hw + 2 * y * w + 2 * x;
        return (masks[at] + masks[at + 1] + masks[at + w] + masks[at + w + 1]) / 4;
      };
      const topCrops = pass.topK.map((hits) =>
        hits.map((hit): WhyNotCrop => {
          const source = hitSource({ ...hit, image: images[hit.image] }, dataset!.entries, found.predicted);
          return {
            ...source,
            ...(nameOf(source.predicted) ? { predictedName: nameOf(source.predicted) } : {}),
            maskAtCell: cellMask(hit.image, hit.y, hit.x),
          };
        })
      );
      return {
        ...common,
        basis,
        ...(signed === "split" ? { basisSplit: f.h } : {}),
        relError: f.relError,
        iterations: f.iterations,
        topCrops,
      };
    };
    const main = await one(directions[0]);
    const reverse = opts.both ? await one(directions[1]) : undefined;
    const pooled = pooledSize(h, w, pool);
    const pooledGrid: [number, number] = [pooled.height, pooled.width];

    await writeNpy(join(opts.out, "basis.npy"), main.basis, [k, C]);
    if (main.basisSplit) await writeNpy(join(opts.out, "basis_split.npy"), main.basisSplit, [k, features]);
    await writeNpy(join(opts.out, "masks.npy"), main.masks, main.maskShape);
    if (reverse) {
      await writeNpy(join(opts.out, "reverse", "basis.npy"), reverse.basis, [k, C]);
      if (reverse.basisSplit) {
        await writeNpy(join(opts.out, "reverse", "basis_split.npy"), reverse.basisSplit, [k, features]);
      }
      await writeNpy(join(opts.out, "reverse", "masks.npy"), reverse.masks, reverse.maskShape);
    }
    const label = (c: number) => safeName(nameOf(c) ? `${c}_${nameOf(c)}` : String(c));
    const figure = `why_${label(a)}_not_${label(b)}.jpg`;
    const lookup = await loadImages(dataset, [...main.images, ...(reverse?.images ?? [])]);
    const canvas = whyNotFigure({
      layer: opts.layer,
      directions: [main, ...(reverse ? [reverse] : [])],
      images: lookup,
      pooledWidth: pooledGrid[1],
    });
    await writeFileAtomic(join(opts.out, figure), await canvas.toJpeg());
    const record = (d: WhyNotDirection, dir: string) => ({
      from: d.from,
      to: d.to,
      fromName: d.fromName,
      toName: d.toName,
      basis: join(dir, "basis.npy"),
      masks: join(dir, "masks.npy"),
      images: d.images.length,
      imageIndices: d.images,
      keptShare: d.keptShare,
      relError: d.relError,
      iterations: d.iterations,
      ...(d.noPositions ? { noPositions: true } : {}),
      prototypes: d.topCrops.map((c, p) => ({ prototype: p, crops: c })),
    });
    await writeJsonAtomic(join(opts.out, "contrast.json"), {
      layer: opts.layer,
      tensor: model.tapTensor,
      channels: C,
      k,
      score: settings.score,
      search: "the prototype search over the images predicted as the first class (A's images) only",
      figure,
      ...record(main, "."),
      ...(reverse ? { reverse: record(reverse, "reverse") } : {}),
      skipped: found.skipped,
    });
    await completeManifest(opts.out, manifest);
    return { ...main, k, channels: C, pooledGrid, reverse, figure: join(opts.out, figure), manifest };
  } finally {
    dataset?.close();
    if (!opts.splitModel) await model.release();
  }
}

/**
 * Tap rows [n, C, prefix + positions] without their first `prefix` positions (a transformer's class token,
 * which is no place on the image): [n, C, positions]. Unchanged when there is no prefix.
 */
function onImage(acts: Float32Array, n: number, c: number, prefix: number): Float32Array {
  if (prefix === 0) return acts;
  const per = acts.length / (n * c), kept = per - prefix;
  const out = new Float32Array(n * c * kept);
  for (let row = 0; row < n * c; row++) {
    out.set(acts.subarray(row * per + prefix, (row + 1) * per), row * kept);
  }
  return out;
}
