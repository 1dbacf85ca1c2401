// Per-class concepts (the paper's Figure 2): for each class, up to `maxImages` images the model predicts as
// that class; their tap activations weighted by the channel-mean ReLU attribution map; all (image, y, x)
// rows factorized by NMF into k prototypes. Classes are factorized in batches on the GPU, results are written
// per class as they finish, and a rerun skips the classes already done from the same inputs (model, layer,
// settings, data: io/run_identity.ts); a folder made from other inputs is refused unless --fresh. The index
// (concepts.json) lists every finished class on disk, so runs with different --classes add up.
import { join } from "node:path";
import { openDataset } from "../../data/dataset.ts";
import { classCountNote, classNamesFor, parseClassList } from "../../data/class_names.ts";
import { readModel, sha256File } from "../../onnx/model.ts";
import { Attributor } from "../attribute/attributor.ts";
import {
  attributeClass,
  AttributionCache,
  checkAttributionCache,
  type ClassStageOptions,
  classStagePredictions,
  predictedMembers,
  tokenSetting,
} from "../attribute/class_attribution.ts";
import { acquireGpu } from "../../runtime/gpu.ts";
import { factorize, type FactorizeProblem, nmfDeviceFor } from "./factorize.ts";

export { weightedRows } from "./factorize.ts";
import { MAX_K, NMF_DEFAULTS, type NmfResult } from "../../../kernels/nmf/settings.ts";
import { buildManifest, claimResumableOutDir, completeManifest, startManifest } from "../../io/manifest.ts";
import { readJsonIfExists, readJsonOrRedo, writeJsonAtomic } from "../../io/atomic.ts";
import { writeNpy } from "../../io/npy.ts";
import { createProgress } from "../../io/progress.ts";
import { withOutDir } from "../../io/out_dir.ts";
import {
  assertSameIdentity,
  dataIdentity,
  identityChanges,
  type RunIdentity,
} from "../../io/run_identity.ts";
import type { SkippedImage } from "../../io/skipped.ts";
import { UsageError } from "../../cli/cli.ts";
import { partition, type Shard, shardSetting } from "../../cli/shard.ts";
import {
  defaultSignedMode,
  nmfChannels,
  nonNegativeActivations,
  type SignedMode,
  signedPrototypes,
} from "./signed_rows.ts";

export interface ConceptsOptions extends ClassStageOptions {
  k?: number;
  /** Classes factorized together in one batched NMF. */
  nmfBatch?: number;
  maxIter?: number;
  tol?: number;
  /** Where NMF runs: auto = the GPU unless the adapter is a software rasterizer. */
  nmfDevice?: "auto" | "gpu" | "cpu";
  /** Discard earlier results in `out` made from other inputs instead of refusing. */
  fresh?: boolean;
  /** Compute only this part of the classes (`deno task merge` joins the parts). */
  shard?: Shard;
  /** How a signed tap becomes NMF rows (signed_rows.ts); default split for a token tap, refuse otherwise. */
  signed?: SignedMode;
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
  /** How signed activations were made non-negative; with split, basis.npy holds the signed p+ - p- and
   * basis_split.npy the 2C-feature prototypes NMF found. */
  signed?: SignedMode;
  classes: ClassConcepts[];
  /** Images left out (unreadable); in the index file only. */
  skipped?: SkippedImage[];
}

interface ClassFile extends ClassConcepts {
  identity: RunIdentity;
  imagePaths: string[];
  imageIndices: number[];
}

export async function computeConcepts(opts: ConceptsOptions): Promise<ConceptsSummary> {
  const k = opts.k ?? NMF_DEFAULTS.k;
  if (!Number.isInteger(k) || k < 1 || k > MAX_K) {
    throw new UsageError(`--k ${k}: prototypes per class must be an integer in 1..${MAX_K}`);
  }
  return await withOutDir(opts.out, "concepts", () => conceptsIn(opts, k));
}

async function conceptsIn(opts: ConceptsOptions, k: number): Promise<ConceptsSummary> {
  const maxImages = opts.maxImages ?? 60;
  const batch = opts.batch ?? 4;
  await checkAttributionCache(opts.attributionCache);
  const model = await readModel(opts.model);
  const sha256 = await sha256File(opts.model);
  const dataset = await openDataset(opts.data, { labels: opts.labels, limit: opts.limit });
  const settings = { method: opts.method, samples: opts.samples, sigma: opts.sigma, seed: opts.seed };
  const attributor = await Attributor.open(model, { path: opts.model, sha256 }, opts.layer, settings, {
    ep: opts.ep,
    withMean: true,
    tokenAxes: opts.tokens,
  }).catch((e) => {
    dataset.close();
    throw e;
  });
  try {
    const [channels, h, w] = attributor.tapShape;
    const hw = h * w;
    // Every argument is checked before the first image is read.
    const names = classNamesFor(attributor.numClasses, dataset.classNames);
    let classes: number[];
    try {
      classes = partition(parseClassList(opts.classes, attributor.numClasses, names), opts.shard);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const signed = opts.signed ?? defaultSignedMode(!!attributor.tokens);
    const features = nmfChannels(signed, channels);
    if (k > features) {
      throw new UsageError(
        `--k ${k}: ${opts.layer} has only ${features} NMF features, so at most ${features} prototypes`,
      );
    }
    const note = classCountNote(attributor.numClasses, dataset.classNames);
    if (note) console.error(`note: ${note}`);
    const nmfSettings = {
      k,
      maxIter: opts.maxIter ?? NMF_DEFAULTS.maxIter,
      tol: opts.tol ?? NMF_DEFAULTS.tol,
      seed: opts.seed,
    };
    const identity: RunIdentity = {
      model: sha256,
      layer: attributor.tapTensor,
      settings: {
        ...settings,
        ...nmfSettings,
        maxImages,
        ...shardSetting(opts.shard),
        ...tokenSettings(attributor, signed),
      },
      data: await dataIdentity(dataset),
    };
    await claimFolder(opts.out, identity, !!opts.fresh);

    const found = await classStagePredictions(opts, sha256, dataset);
    const predicted = found.predicted;
    const skipped = [...found.skipped];
    const gpu = await acquireGpu();
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
        predictions: found.from,
        attributionCache: opts.attributionCache ?? null,
        ...shardSetting(opts.shard),
        ...tokenSettings(attributor, signed),
      },
      identity,
      ...(opts.shard ? { shard: { ...opts.shard, out: opts.out } } : {}),
    });
    // complete: false until every class and the summary are written.
    await startManifest(opts.out, manifest);

    const members = predictedMembers(predicted, maxImages);
    const cache = await AttributionCache.forRun(opts.attributionCache, attributor, sha256, batch);

    const results = new Map<number, ClassConcepts>();
    const pending: number[] = [];
    for (const c of classes) {
      const where = join(opts.out, String(c), "concepts.json");
      const previous = await readJsonOrRedo<ClassFile>(where, `class ${c} result`);
      if (previous && !opts.fresh) assertSameIdentity(previous.identity, identity, where);
      if (previous && !opts.fresh) results.set(c, strip(previous));
      else pending.push(c);
    }
    if (results.size) {
      console.error(`concepts: ${results.size} classes already done, ${pending.length} to go`);
    }
    const progress = createProgress("concepts", classes.length, "classes");
    progress.resumeFrom(results.size);
    const writeSummary = async () =>
      writeJsonAtomic(
        join(opts.out, "concepts.json"),
        {
          layer: opts.layer,
          tensor: attributor.tapTensor,
          channels,
          k,
          signed,
          classes: await finishedOnDisk(opts.out, identity),
          skipped,
        } satisfies ConceptsSummary,
      );

    const group = Math.max(1, opts.nmfBatch ?? 16);
    for (let g = 0; g < pending.length; g += group) {
      const chunk = pending.slice(g, g + group);
      const problems: (FactorizeProblem & { cls: number; images: number[]; cached: boolean })[] = [];
      for (const cls of chunk) {
        const wanted = members.get(cls) ?? [];
        const r = wanted.length
          ? await attributeClass(attributor, dataset, cls, wanted, batch, cache)
          : undefined;
        skipped.push(...(r?.failures ?? []));
        const failed = new Set(r?.failures.map((f) => f.index));
        const images = wanted.filter((i) => !failed.has(i));
        if (!images.length) {
          const entry: ClassFile = {
            class: cls,
            ...(names ? { name: names[cls] } : {}),
            status: "no-images",
            images: 0,
            identity,
            imagePaths: [],
            imageIndices: [],
          };
          await writeJsonAtomic(join(opts.out, String(cls), "concepts.json"), entry);
          results.set(cls, strip(entry));
          progress.tick();
          continue;
        }
        // Unreadable images (zero pixels in the attribution) leave no rows. V itself is built where NMF
        // runs (on the GPU from the activations as they are, or transposed here for the CPU).
        const activations = nonNegativeActivations(r!.activations, r!.maps, channels, hw, signed, opts.layer);
        const keep = wanted.flatMap((img, i) => (failed.has(img) ? [] : [i]));
        const v = { activations, maps: r!.maps, keep, hw };
        problems.push({ cls, images, v, n: images.length * hw, cached: r!.cached });
      }
      if (!problems.length) continue;
      const factors: NmfResult[] = await factorize(
        nmfDeviceFor(opts.nmfDevice, gpu),
        problems,
        features,
        nmfSettings,
      );
      for (let i = 0; i < problems.length; i++) {
        const { cls, images, n, cached } = problems[i];
        const f = factors[i];
        if (signed === "split") {
          await writeNpy(join(opts.out, String(cls), "basis_split.npy"), f.h, [k, features]);
          await writeNpy(join(opts.out, String(cls), "basis.npy"), signedPrototypes(f.h, k, channels), [
            k,
            channels,
          ]);
        } else {
          await writeNpy(join(opts.out, String(cls), "basis.npy"), f.h, [k, channels]);
        }
        const entry: ClassFile = {
          class: cls,
          ...(names ? { name: names[cls] } : {}),
          status: "done",
          images: images.length,
          rows: n,
          relError: f.relError,
          iterations: f.iterations,
          attributionCached: cached,
          identity,
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
    await completeManifest(opts.out, manifest);
    return {
      layer: opts.layer,
      tensor: attributor.tapTensor,
      channels,
      k,
      signed,
      classes: classes.map((c) => results.get(c)!),
      skipped,
    };
  } finally {
    await attributor.release();
    dataset.close();
  }
}

/** Class folders of `out` (numeric names) with a concepts.json. */
export async function classFolders(out: string): Promise<number[]> {
  const found: number[] = [];
  for await (const e of Deno.readDir(out)) {
    if (e.isDirectory && /^\d+$/.test(e.name)) found.push(Number(e.name));
  }
  return found.sort((a, b) => a - b);
}

/**
 * The folder must hold results of these inputs only: refused (naming what changed) when its manifest says
 * otherwise; with `fresh`, the earlier results are removed first (io/manifest.ts claimResumableOutDir).
 */
async function claimFolder(out: string, identity: RunIdentity, fresh: boolean): Promise<void> {
  await claimResumableOutDir(out, "concepts", identity, fresh, async () => {
    for (const c of await classFolders(out)) await Deno.remove(join(out, String(c)), { recursive: true });
    await Deno.remove(join(out, "concepts.json")).catch(() => {});
  });
}

/** Every finished class in `out` computed from `identity`, in class order: the index of the folder. */
async function finishedOnDisk(out: string, identity: RunIdentity): Promise<ClassConcepts[]> {
  const entries: ClassConcepts[] = [];
  for (const c of await classFolders(out)) {
    const file = await readJsonIfExists<ClassFile>(join(out, String(c), "concepts.json")).catch(() =>
      undefined
    );
    if (file && !identityChanges(file.identity, identity).length) entries.push(strip(file));
  }
  return entries;
}

function strip(entry: ClassFile): ClassConcepts {
  const { identity: _s, imagePaths: _p, imageIndices: _i, ...rest } = entry;
  return rest;
}

/**
 * What a transformer tap adds to the settings (the run identity and the manifest): which tokens are positions
 * and how the signed stream became NMF rows. Empty for a CNN tap with the default mode, so CNN runs keep their
 * identities.
 */
function tokenSettings(attributor: Attributor, signed: SignedMode): Record<string, string> {
  const tokens = tokenSetting(attributor);
  return { ...tokens, ...(tokens.tokens || signed !== defaultSignedMode(false) ? { signed } : {}) };
}
