// Per-class concepts (the paper's Figure 2): for each class, up to `maxImages` images the model predicts as
// that class; their tap activations weighted by the channel-mean ReLU attribution map; all (image, y, x)
// rows factorized by NMF into k prototypes. Classes are factorized in batches on the GPU, results are written
// per class as they finish, and a rerun skips the classes already done with the same settings.
import { join } from "node:path";
import { openDataset } from "../../data/dataset.ts";
import { classNamesFor, parseClassList } from "../../data/class_names.ts";
import { readModel, sha256File } from "../../onnx/model.ts";
import { Attributor } from "../attribute/attributor.ts";
import {
  attributeClass,
  AttributionCache,
  type ClassStageOptions,
  findOrPredict,
  predictedMembers,
} from "../attribute/class_attribution.ts";
import { acquireGpu } from "../../runtime/gpu.ts";
import { nmfBatched } from "../../../kernels/nmf/nmf.ts";
import { nmfReference } from "../../../kernels/nmf/reference.ts";
import { NMF_DEFAULTS, type NmfResult } from "../../../kernels/nmf/settings.ts";
import { buildManifest } from "../../io/manifest.ts";
import { readJsonIfExists, writeJsonAtomic } from "../../io/atomic.ts";
import { writeNpy } from "../../io/npy.ts";
import { createProgress } from "../../io/progress.ts";

export interface ConceptsOptions extends ClassStageOptions {
  k?: number;
  /** Classes factorized together in one batched NMF. */
  nmfBatch?: number;
  maxIter?: number;
  tol?: number;
  /** Where NMF runs: auto = the GPU unless the adapter is a software rasterizer. */
  nmfDevice?: "auto" | "gpu" | "cpu";
}

export interface ClassConcepts {
  class: number;
  name?: string;
  status: "done" | "no-images";
  images: number;
  rows?: number;
  relError?: number;
  iterations?: number;
  /** The attribution maps came from the shared attribution cache. */
  attributionCached?: boolean;
}

export interface ConceptsSummary {
  layer: string;
  tensor: string;
  channels: number;
  k: number;
  classes: ClassConcepts[];
}

interface ClassFile extends ClassConcepts {
  settingsKey: string;
  imagePaths: string[];
  imageIndices: number[];
}

/**
 * The NMF input of one class: row (i, y, x) is the activation vector at (y, x) of image i scaled by the
 * attribution map there. Activations n x C x h x w, maps n x h x w; returns (n*h*w) x C row-major.
 */
export function weightedRows(
  activations: Float32Array,
  maps: Float32Array,
  n: number,
  c: number,
  hw: number,
): Float32Array {
  const v = new Float32Array(n * hw * c);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const src = (i * c + ch) * hw;
      for (let p = 0; p < hw; p++) v[(i * hw + p) * c + ch] = activations[src + p] * maps[i * hw + p];
    }
  }
  return v;
}

export async function computeConcepts(opts: ConceptsOptions): Promise<ConceptsSummary> {
  const k = opts.k ?? NMF_DEFAULTS.k;
  const maxImages = opts.maxImages ?? 60;
  const batch = opts.batch ?? 4;
  const model = await readModel(opts.model);
  const sha256 = await sha256File(opts.model);

  const dataset = await openDataset(opts.data, { labels: opts.labels, limit: opts.limit });
  const { dir: predictionsDir, predicted } = await findOrPredict({ ...opts, dataset });
  const settings = { method: opts.method, samples: opts.samples, sigma: opts.sigma, seed: opts.seed };
  const attributor = await Attributor.open(model, { path: opts.model, sha256 }, opts.layer, settings, {
    ep: opts.ep,
    withMean: true,
  });
  const gpu = await acquireGpu();
  try {
    const [channels, h, w] = attributor.tapShape;
    const hw = h * w;
    const names = classNamesFor(attributor.numClasses, dataset.classNames);
    const classes = parseClassList(opts.classes, attributor.numClasses, names);
    const nmfSettings = {
      k,
      maxIter: opts.maxIter ?? NMF_DEFAULTS.maxIter,
      tol: opts.tol ?? NMF_DEFAULTS.tol,
      seed: opts.seed,
    };
    const settingsKey = JSON.stringify([sha256, attributor.tapTensor, settings, nmfSettings, maxImages]);
    const manifest = await buildManifest({
      task: "concepts",
      model: { path: opts.model, sha256 },
      layer: { name: opts.layer, tensor: attributor.tapTensor },
      data: { path: opts.data, count: dataset.size, files: dataset.entries.map((e) => e.path) },
      device: `${attributor.trunk.device}; kernels: ${gpu?.description ?? "CPU"}`,
      settings: {
        ...settings,
        ...nmfSettings,
        maxImages,
        batch,
        predictions: predictionsDir,
        attributionCache: opts.attributionCache ?? null,
      },
    });
    await writeJsonAtomic(join(opts.out, "manifest.json"), manifest);

    const members = predictedMembers(predicted, maxImages);
    const cache = await AttributionCache.forRun(opts.attributionCache, attributor, sha256, batch);

    const results = new Map<number, ClassConcepts>();
    const pending: number[] = [];
    for (const c of classes) {
      const previous = await readJsonIfExists<ClassFile>(join(opts.out, String(c), "concepts.json"));
      if (previous?.settingsKey === settingsKey) results.set(c, strip(previous));
      else pending.push(c);
    }
    if (results.size) {
      console.error(`concepts: ${results.size} classes already done, ${pending.length} to go`);
    }
    const progress = createProgress("concepts", classes.length, "classes");
    progress.resumeFrom(results.size);
    const writeSummary = () =>
      writeJsonAtomic(
        join(opts.out, "concepts.json"),
        {
          layer: opts.layer,
          tensor: attributor.tapTensor,
          channels,
          k,
          classes: classes.filter((c) => results.has(c)).map((c) => results.get(c)!),
        } satisfies ConceptsSummary,
      );

    const group = Math.max(1, opts.nmfBatch ?? 16);
    for (let g = 0; g < pending.length; g += group) {
      const chunk = pending.slice(g, g + group);
      const problems: { cls: number; images: number[]; v: Float32Array; n: number; cached: boolean }[] = [];
      for (const cls of chunk) {
        const images = members.get(cls) ?? [];
        if (!images.length) {
          const entry: ClassFile = {
            class: cls,
            ...(names ? { name: names[cls] } : {}),
            status: "no-images",
            images: 0,
            settingsKey,
            imagePaths: [],
            imageIndices: [],
          };
          await writeJsonAtomic(join(opts.out, String(cls), "concepts.json"), entry);
          results.set(cls, strip(entry));
          progress.tick();
          continue;
        }
        const r = await attributeClass(attributor, dataset, cls, images, batch, cache);
        const v = weightedRows(r.activations, r.maps, images.length, channels, hw);
        problems.push({ cls, images, v, n: images.length * hw, cached: r.cached });
      }
      if (!problems.length) continue;
      const nmfDevice = opts.nmfDevice === "cpu" || (opts.nmfDevice !== "gpu" && gpu?.software)
        ? undefined
        : gpu?.device;
      const factors: NmfResult[] = await factorize(nmfDevice, problems, channels, nmfSettings);
      for (let i = 0; i < problems.length; i++) {
        const { cls, images, n, cached } = problems[i];
        const f = factors[i];
        await writeNpy(join(opts.out, String(cls), "basis.npy"), f.h, [k, channels]);
        const entry: ClassFile = {
          class: cls,
          ...(names ? { name: names[cls] } : {}),
          status: "done",
          images: images.length,
          rows: n,
          relError: f.relError,
          iterations: f.iterations,
          attributionCached: cached,
          settingsKey,
          imagePaths: images.map((j) => dataset.entries[j].path),
          imageIndices: images,
        };
        // Written last: its presence marks the class as done for a resumed run.
        await writeJsonAtomic(join(opts.out, String(cls), "concepts.json"), entry);
        results.set(cls, strip(entry));
        progress.tick();
      }
      await writeSummary();
    }
    progress.stop();
    await writeSummary();
    return {
      layer: opts.layer,
      tensor: attributor.tapTensor,
      channels,
      k,
      classes: classes.map((c) => results.get(c)!),
    };
  } finally {
    await attributor.release();
    dataset.close();
  }
}

function strip(entry: ClassFile): ClassConcepts {
  const { settingsKey: _s, imagePaths: _p, imageIndices: _i, ...rest } = entry;
  return rest;
}

/**
 * Batched NMF on the GPU; the CPU reference (same algorithm, same stopping rule) where no adapter exists or
 * the adapter is a software rasterizer, on which the WGSL kernels run slower than plain TypeScript.
 */
async function factorize(
  device: GPUDevice | undefined,
  problems: { v: Float32Array; n: number }[],
  c: number,
  settings: { k: number; maxIter: number; tol: number; seed: number },
): Promise<NmfResult[]> {
  if (!device) return problems.map((p) => nmfReference(p.v, p.n, c, settings));
  // Problems of one shape advance together; classes with fewer images form their own batches.
  const byShape = new Map<number, number[]>();
  problems.forEach((p, i) => (byShape.get(p.n) ?? byShape.set(p.n, []).get(p.n)!).push(i));
  const out = new Array<NmfResult>(problems.length);
  for (const indices of byShape.values()) {
    const res = await nmfBatched(
      device,
      indices.map((i) => ({ v: problems[i].v, n: problems[i].n, c })),
      settings,
    );
    indices.forEach((i, j) => (out[i] = res[j]));
  }
  return out;
}
