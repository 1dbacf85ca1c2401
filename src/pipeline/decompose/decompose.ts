// deno task decompose: one or more new images explained in a class's prototypes (the reference's runtime
// decomposition, core/runtime.py). The image's activations at the concepts' layer are expressed, position by
// position, as non-negative combinations of class A's k prototypes. The reference runs 500 Adam steps on
// that problem; protoscope solves it exactly (kernels/nnls, Lawson-Hanson), on the GPU with the webgpu EP and
// with the CPU twin otherwise.
//
// Outputs (O = --out): O/decompose.json, O/manifest.json, and per image O/<n>_<name>/: image.jpg (the model's
// input crop), prototype_<j>.jpg (the contribution map of prototype j over it, contributions.ts), and
// contribution.npy / coefficients.npy (k x h x w float32).
import { basename, extname, join } from "node:path";
import { UsageError } from "../../cli/cli.ts";
import { readJsonIfExists, writeFileAtomic, writeJsonAtomic } from "../../io/atomic.ts";
import { buildManifest, completeManifest, takeOverOutDir } from "../../io/manifest.ts";
import { encodeNpy } from "../../io/npy.ts";
import { withOutDir } from "../../io/out_dir.ts";
import { createProgress } from "../../io/progress.ts";
import type { SkippedImage } from "../../io/skipped.ts";
import { cropBytes, failureReason, preprocessFile } from "../../data/preprocess.ts";
import { IMAGE_SIZE } from "../../data/input_spec.ts";
import { Classifier, softmaxRows, topK } from "../../model/classifier.ts";
import { tokenLayout, tokensAsGrid } from "../../model/tokens.ts";
import { namesFor } from "../../model/model_classes.ts";
import type { EpChoice } from "../../runtime/ort.ts";
import { encodeJpeg } from "../../render/image_file.ts";
import { overlayMap } from "../../render/overlay.ts";
import { decomposeFigure } from "./decompose_figure.ts";
import { checkK, NNLS_TOLERANCE, nnlsCpu, nnlsGpu, type NnlsSolution } from "../../../kernels/nnls/mod.ts";
import { type Concepts, type ConceptsIndex, readConcepts } from "../concepts/read_concepts.ts";
import {
  coefficientMaps,
  contributionMaps,
  type ErrorSummary,
  prototypeNorms,
  type PrototypeSummary,
  summarizeError,
  summarizePrototypes,
} from "./contributions.ts";

export interface DecomposeOptions {
  model: string;
  /** Image files (any format the data path decodes). */
  images: string[];
  concepts: string;
  /** Class whose prototypes explain the images (an index). */
  cls: number;
  out: string;
  /** The layer, needed only for concepts in the reference layout (which do not record it). */
  layer?: string;
  ep?: EpChoice;
  /** Images per forward pass (default 8). */
  batch?: number;
  /** Relative KKT tolerance of the solver (default NNLS_TOLERANCE). */
  tolerance?: number;
  /**
   * An open classifier of `model` with the concepts' layer tapped, kept by the caller and not released here:
   * the explorer server (src/pipeline/serve/) loads the model once for every request.
   */
  classifier?: Classifier;
}

export interface ImageDecomposition {
  path: string;
  /** Folder of this image's files under --out. */
  folder: string;
  /** The model's five most probable classes for the image. */
  top5: { class: number; name?: string; probability: number }[];
  /** The model's probability of the class whose prototypes explain the image. */
  classProbability: number;
  /** The figure that explains itself: the image, every prototype's map with its share, the colour scale. */
  figure: string;
  /** Layer grid (h x w) the maps are on. */
  grid: { height: number; width: number };
  prototypes: (PrototypeSummary & { overlay: string })[];
  reconstruction: ErrorSummary;
}

export interface DecomposeReport {
  class: number;
  name?: string;
  layer: string;
  k: number;
  channels: number;
  solver: string;
  /** How the maps are defined (contributions.ts). */
  contribution: string;
  images: ImageDecomposition[];
  skipped: SkippedImage[];
  /** What the console warned about (e.g. concepts of another model), so the JSON says it too. */
  warnings: string[];
}

const CONTRIBUTION =
  "x_j(q) * ||H_j||: the length of prototype j's part of the reconstruction at position q; overlays share one " +
  "scale per image (its largest contribution), so a weak prototype looks weak";

/** Everything that can be checked before compute: images exist, the concepts have class A with a usable k. */
export async function validateDecompose(
  opts: DecomposeOptions,
): Promise<{ concepts: Concepts; layer: string }> {
  if (opts.images.length === 0) throw new UsageError("--image or --images: no image given");
  for (const path of opts.images) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch {
      throw new UsageError(`--image ${path}: file not found`);
    }
    if (!info.isFile) throw new UsageError(`--image ${path}: expected an image file, got a folder`);
  }
  const concepts = await readConcepts(opts.concepts, { classes: [opts.cls] });
  checkK(concepts.k, `--concepts ${opts.concepts} class ${opts.cls}`);
  const recorded = concepts.layer?.name;
  if (recorded && opts.layer && opts.layer !== recorded) {
    throw new UsageError(
      `--layer ${opts.layer}: the concepts in ${opts.concepts} were computed at ${recorded}`,
    );
  }
  const layer = recorded ?? opts.layer;
  if (!layer) {
    throw new UsageError(
      `--concepts ${opts.concepts}: this folder (${concepts.source} layout) does not record its layer: pass --layer`,
    );
  }
  return { concepts, layer };
}

/** Class names from a concepts folder's concepts.json (undefined if it has none). */
async function conceptNames(dir: string): Promise<string[] | undefined> {
  const index = await readJsonIfExists<ConceptsIndex>(join(dir, "concepts.json")).catch(() => undefined);
  const named = index?.classes?.filter((c) => c.name) ?? [];
  if (!named.length) return undefined;
  const names: string[] = [];
  for (const c of named) names[c.class] = c.name!;
  return names;
}

/** A file-system-safe folder name for image `index` of the list. */
function imageFolder(index: number, path: string): string {
  const stem = basename(path, extname(path)).replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 60);
  return `${index}_${stem}`;
}

export async function runDecompose(opts: DecomposeOptions): Promise<DecomposeReport> {
  const { concepts, layer } = await validateDecompose(opts);
  return await withOutDir(opts.out, "decompose", async () => {
    await takeOverOutDir(opts.out, "decompose");
    return await decompose(opts, concepts, layer);
  });
}

async function decompose(
  opts: DecomposeOptions,
  concepts: Concepts,
  layer: string,
): Promise<DecomposeReport> {
  const { k, channels } = concepts;
  const basis = concepts.bases.subarray(0, k * channels);
  const norms = prototypeNorms(basis, k, channels);
  const tolerance = opts.tolerance ?? NNLS_TOLERANCE;
  const classifier = opts.classifier ??
    await Classifier.open(opts.model, { ep: opts.ep ?? "auto", layers: [layer] });
  if (!classifier.taps.some((t) => t.layer === layer)) {
    throw new Error(`the open classifier of ${opts.model} does not tap ${layer}, the concepts' layer`);
  }
  try {
    const warnings: string[] = [];
    if (concepts.modelSha256 && concepts.modelSha256 !== classifier.sha256) {
      warnings.push(
        `--concepts ${opts.concepts} were computed with another model (sha256 ${
          concepts.modelSha256.slice(0, 12)
        }) than --model ${opts.model} (${classifier.sha256.slice(0, 12)})`,
      );
      console.error(`warning: ${warnings.at(-1)}`);
    }
    // The model's names where it has the ImageNet classes, else the ones the concepts recorded from their data.
    const names = namesFor(classifier.numClasses, {}) ?? await conceptNames(opts.concepts);
    const device = classifier.handle.gpu?.device;
    const solver = classifier.ep === "webgpu" && device
      ? `GPU (kernels/nnls, ${classifier.device})`
      : "CPU twin (kernels/nnls/reference.ts)";
    const batch = Math.max(1, opts.batch ?? 8);
    const images: ImageDecomposition[] = [];
    const skipped: SkippedImage[] = [];
    const progress = createProgress("decompose", opts.images.length);
    for (let start = 0; start < opts.images.length; start += batch) {
      const paths = opts.images.slice(start, start + batch);
      const size = cropBytes();
      const pixels = new Uint8Array(paths.length * size);
      const kept: number[] = [];
      for (let i = 0; i < paths.length; i++) {
        try {
          await preprocessFile(
            paths[i],
            undefined,
            pixels.subarray(kept.length * size, (kept.length + 1) * size),
          );
          kept.push(start + i);
        } catch (e) {
          skipped.push({ index: start + i, path: paths[i], reason: failureReason(e) });
        }
      }
      if (kept.length) {
        const result = await classifier.forward(pixels.subarray(0, kept.length * size), kept.length);
        const tap = result.taps.get(layer)!;
        try {
          // A transformer's patch tokens are its positions (the class token is no place on the image); the
          // signed residual stream needs no clip, NNLS keeps only the coefficients non-negative.
          const tokens = tap.dims.length === 3 ? tokenLayout(classifier.model, layer, tap.dims) : undefined;
          const [n, c, h, w] = tokens ? [tap.dims[0], tokens.channels, tokens.gridH, tokens.gridW] : tap.dims;
          if (c !== channels) {
            throw new Error(
              `layer ${layer} of ${opts.model} has ${c} channels, but the prototypes in ${opts.concepts} have ${channels}`,
            );
          }
          const activations = tokens ? tokensAsGrid(tap.data!, n, tokens) : tap.data!;
          const problem = { activations, basis, n, channels, hw: h * w, k, tolerance };
          const solution = device && classifier.ep === "webgpu"
            ? await nnlsGpu(device, problem)
            : nnlsCpu(problem);
          const probs = softmaxRows(result.logits!, classifier.numClasses);
          for (let i = 0; i < kept.length; i++) {
            const index = kept[i];
            const row = probs.subarray(i * classifier.numClasses, (i + 1) * classifier.numClasses);
            images.push(
              await writeImage(opts, index, pixels.subarray(i * size, (i + 1) * size), solution, i, {
                norms,
                h,
                w,
                className: names?.[opts.cls],
                classProbability: row[opts.cls],
                top5: topK(row, 5).map((cls) => ({
                  class: cls,
                  ...(names?.[cls] ? { name: names[cls] } : {}),
                  probability: row[cls],
                })),
              }),
            );
          }
        } finally {
          tap.dispose();
        }
      }
      progress.tick(paths.length);
    }
    progress.stop();
    if (images.length === 0) {
      throw new Error(`no image could be read: ${skipped.map((s) => `${s.path} (${s.reason})`).join("; ")}`);
    }
    const report: DecomposeReport = {
      class: opts.cls,
      ...(names?.[opts.cls] ? { name: names[opts.cls] } : {}),
      layer,
      k,
      channels,
      solver,
      contribution: CONTRIBUTION,
      images,
      skipped,
      warnings,
    };
    const manifest = await buildManifest({
      task: "decompose",
      model: { path: opts.model, sha256: classifier.sha256 },
      layer: { name: layer, tensor: classifier.taps.find((t) => t.layer === layer)!.tensor },
      data: { path: "--images", count: opts.images.length, files: opts.images },
      device: classifier.device,
      settings: { class: opts.cls, concepts: opts.concepts, k, tolerance, solver, batch },
    });
    await writeJsonAtomic(join(opts.out, "decompose.json"), report);
    await completeManifest(opts.out, manifest);
    return report;
  } finally {
    if (!opts.classifier) await classifier.release();
  }
}

async function writeImage(
  opts: DecomposeOptions,
  index: number,
  rgb: Uint8Array,
  solution: NnlsSolution,
  inBatch: number,
  at: {
    norms: Float64Array;
    h: number;
    w: number;
    top5: ImageDecomposition["top5"];
    className?: string;
    classProbability: number;
  },
): Promise<ImageDecomposition> {
  const { norms, h, w } = at;
  const k = norms.length;
  const hw = h * w;
  const path = opts.images[index];
  const folder = imageFolder(index, path);
  const dir = join(opts.out, folder);
  const maps = contributionMaps(solution, norms, inBatch, hw);
  const scale = maps.reduce((m, v) => Math.max(m, v), 0);
  await writeFileAtomic(join(dir, "image.jpg"), await encodeJpeg(rgb, IMAGE_SIZE, IMAGE_SIZE));
  await writeFileAtomic(join(dir, "contribution.npy"), encodeNpy(maps, [k, h, w]));
  await writeFileAtomic(
    join(dir, "coefficients.npy"),
    encodeNpy(coefficientMaps(solution, k, inBatch, hw), [k, h, w]),
  );
  const prototypes = [];
  const overlays = [];
  for (const summary of summarizePrototypes(maps, k, w)) {
    const overlay = join(folder, `prototype_${summary.prototype}.jpg`);
    const map = maps.subarray(summary.prototype * hw, (summary.prototype + 1) * hw);
    const drawn = overlayMap(rgb, IMAGE_SIZE, map, h, w, scale);
    await writeFileAtomic(join(opts.out, overlay), await encodeJpeg(drawn, IMAGE_SIZE, IMAGE_SIZE));
    prototypes.push({ ...summary, overlay });
    overlays.push({ prototype: summary.prototype, share: summary.share, rgb: drawn });
  }
  const reconstruction = summarizeError(solution, inBatch, hw);
  const figure = join(folder, "figure.jpg");
  const canvas = decomposeFigure({
    image: basename(path),
    rgb,
    cls: opts.cls,
    className: at.className,
    classProbability: at.classProbability,
    top1: at.top5[0],
    relativeError: reconstruction.relative,
    overlays,
    scale,
  });
  await writeFileAtomic(join(opts.out, figure), await canvas.toJpeg());
  return {
    path,
    folder,
    top5: at.top5,
    classProbability: at.classProbability,
    figure,
    grid: { height: h, width: w },
    prototypes,
    reconstruction,
  };
}
