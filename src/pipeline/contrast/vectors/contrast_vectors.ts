// Attribution-filtered contrast vectors (the paper's step 5 input, the reference's
// extract_attribution_filtered_activation_vectors): per class, its predicted images (the concepts stage's
// selection), the channel mean of the class's DeepLift noise-tunnel attribution at the layer, the positions
// where that map exceeds `cutoff` x the image's maximum, and the clean activation vectors there. The
// reference computes ReLU of the attribution and then overwrites it with the plain mean, so its mask is the
// mean WITHOUT ReLU; that is the default here (`map: "mean"`), and the mean of ReLU, as the concepts stage
// uses, is offered as `map: "relu-mean"` and recorded in vectors.json so its results are told apart.
// The attribution goes through class_attribution.ts: given the same cache folder as `concepts`, each class's
// attribution is computed once for both stages. Classes are written one by one (npy, then vectors.json), so a
// rerun with the same settings skips the finished ones.
import { withOutDir } from "../../../io/out_dir.ts";
import { join } from "node:path";
import { openDataset } from "../../../data/dataset.ts";
import { classNamesFor, parseClassList } from "../../../data/class_names.ts";
import { readModel, sha256File, sha256Hex } from "../../../onnx/model.ts";
import {
  buildManifest,
  claimResumableOutDir,
  completeManifest,
  inputRef,
  startManifest,
} from "../../../io/manifest.ts";
import { dataIdentity, type RunIdentity } from "../../../io/run_identity.ts";
import { exists, readJsonIfExists } from "../../../io/atomic.ts";
import { createProgress } from "../../../io/progress.ts";
import { Attributor } from "../../attribute/attributor.ts";
import {
  attributeClass,
  AttributionCache,
  checkAttributionCache,
  type ClassStageOptions,
  classStagePredictions,
  predictedMembers,
  tokenSetting,
} from "../../attribute/class_attribution.ts";
import {
  classVectorsPath,
  type ContrastClassEntry,
  type ContrastVectorsIndex,
  VECTORS_INDEX,
  writeClassVectors,
  writeVectorsIndex,
} from "./vectors_io.ts";
import { partition, type Shard, shardSetting } from "../../../cli/shard.ts";

export type ContrastMap = "mean" | "relu-mean";
export const CONTRAST_MAPS: readonly ContrastMap[] = ["mean", "relu-mean"];

export interface ContrastVectorsOptions extends ClassStageOptions {
  /** A position is kept where the map exceeds cutoff x the image's maximum (the reference: 0.25). */
  cutoff?: number;
  /** "mean": channel mean without ReLU (the reference); "relu-mean": mean of ReLU (the concepts' map). */
  map?: ContrastMap;
  /** Compute only this part of the classes (`deno task merge` joins the parts). */
  shard?: Shard;
  /** Discard earlier results in --out made from other inputs (otherwise such a folder is refused). */
  fresh?: boolean;
}

/** One class in vectors.json: the shared entry plus status, skipped images and the resume key. */
export interface ContrastClassRecord extends ContrastClassEntry {
  status: "done" | "no-images" | "no-rows";
  imagePaths: string[];
  skipped: { index: number; path: string; reason: string }[];
  /** The maps came from the attribution cache. */
  cached: boolean;
  settingsKey: string;
}

export interface ContrastVectorsSummary {
  layer: string;
  tensor: string;
  channels: number;
  map: ContrastMap;
  classes: ContrastClassRecord[];
}

/** A class entry's resume key in vectors.json: the hash of the run's identity (model, layer, settings, data). */
export async function vectorsResumeKey(identity: RunIdentity): Promise<string> {
  return await sha256Hex(new TextEncoder().encode(JSON.stringify(identity)));
}

/** What a contrast-vectors run writes, for --fresh when the earlier run was killed before listing its files. */
async function removeVectorFiles(out: string): Promise<void> {
  for await (const entry of Deno.readDir(out)) {
    if (entry.isFile && (/^\d+\.npy$/.test(entry.name) || entry.name === VECTORS_INDEX)) {
      await Deno.remove(join(out, entry.name));
    }
  }
}

/**
 * The contrast rows of n images: activations n x C x hw, mask maps n x hw; a position p of image i is kept
 * where map[i, p] > cutoff * max_p map[i, p] (strictly, as the reference). Rows are image-major, positions in
 * row-major (y, x) order, each the C activations there.
 */
export function selectContrastRows(
  activations: Float32Array,
  maps: Float32Array,
  n: number,
  c: number,
  hw: number,
  cutoff: number,
  skip: (image: number) => boolean = () => false,
): { rows: Float32Array; rowsPerImage: number[] } {
  const keep: number[][] = [];
  let total = 0;
  for (let i = 0; i < n; i++) {
    const kept: number[] = [];
    if (!skip(i)) {
      const map = maps.subarray(i * hw, (i + 1) * hw);
      let max = -Infinity;
      for (let p = 0; p < hw; p++) max = Math.max(max, map[p]);
      const threshold = max * cutoff;
      for (let p = 0; p < hw; p++) if (map[p] > threshold) kept.push(p);
    }
    keep.push(kept);
    total += kept.length;
  }
  const rows = new Float32Array(total * c);
  let r = 0;
  for (let i = 0; i < n; i++) {
    for (const p of keep[i]) {
      const base = i * c * hw + p;
      for (let ch = 0; ch < c; ch++) rows[r * c + ch] = activations[base + ch * hw];
      r++;
    }
  }
  return { rows, rowsPerImage: keep.map((k) => k.length) };
}

export function computeContrastVectors(opts: ContrastVectorsOptions): ReturnType<typeof contrastVectorsIn> {
  return withOutDir(opts.out, "contrast-vectors", () => contrastVectorsIn(opts));
}

async function contrastVectorsIn(opts: ContrastVectorsOptions): Promise<ContrastVectorsSummary> {
  const cutoff = opts.cutoff ?? 0.25;
  const mapKind = opts.map ?? "mean";
  const maxImages = opts.maxImages ?? 60;
  const batch = opts.batch ?? 4;
  if (!(cutoff >= 0 && cutoff < 1)) {
    throw new Error(`--cutoff ${cutoff}: expected a fraction of the image's maximum in [0, 1)`);
  }
  if (!CONTRAST_MAPS.includes(mapKind)) {
    throw new Error(`--map ${mapKind}: expected one of ${CONTRAST_MAPS.join(", ")}`);
  }
  await checkAttributionCache(opts.attributionCache);
  const model = await readModel(opts.model);
  const sha256 = await sha256File(opts.model);
  const dataset = await openDataset(opts.data, { labels: opts.labels, limit: opts.limit });
  let attributor: Attributor | undefined;
  try {
    const settings = { method: opts.method, samples: opts.samples, sigma: opts.sigma, seed: opts.seed };
    // The layer and the class list are checked before predictions or attributions are computed.
    attributor = await Attributor.open(model, { path: opts.model, sha256 }, opts.layer, settings, {
      ep: opts.ep,
      withMean: true,
      tokenAxes: opts.tokens,
    });
    const [channels, h, w] = attributor.tapShape;
    const hw = h * w;
    const names = classNamesFor(attributor.numClasses, dataset.classNames);
    const classes = partition(parseClassList(opts.classes, attributor.numClasses, names), opts.shard);
    const identity: RunIdentity = {
      model: sha256,
      layer: attributor.tapTensor,
      settings: {
        ...settings,
        cutoff,
        map: mapKind,
        maxImages,
        batch,
        ...shardSetting(opts.shard),
        ...tokenSetting(attributor),
      },
      data: await dataIdentity(dataset),
    };
    // Before predictions are looked for (they may be computed into <out>/predictions): a folder of other
    // inputs is refused, or emptied with --fresh.
    await Deno.mkdir(opts.out, { recursive: true });
    await claimResumableOutDir(
      opts.out,
      "contrast-vectors",
      identity,
      !!opts.fresh,
      () => removeVectorFiles(opts.out),
    );
    const found = await classStagePredictions(opts, sha256, dataset);
    const { from: predictionsDir, predicted } = found;
    const members = predictedMembers(predicted, maxImages);
    // The identity is the resume key: a class entry of other inputs (model, layer, settings, data) is redone.
    const settingsKey = await vectorsResumeKey(identity);
    const cache = await AttributionCache.forRun(opts.attributionCache, attributor, sha256, batch);
    const runSettings = {
      ...settings,
      cutoff,
      map: mapKind,
      maxImages,
      batch,
      predictions: predictionsDir,
      attributionCache: opts.attributionCache ?? null,
      ...shardSetting(opts.shard),
      ...tokenSetting(attributor),
    };
    const manifest = await buildManifest({
      task: "contrast-vectors",
      model: { path: opts.model, sha256 },
      layer: { name: opts.layer, tensor: attributor.tapTensor },
      data: { path: opts.data, count: dataset.size, files: dataset.entries.map((e) => e.path) },
      device: attributor.trunk.device,
      settings: runSettings,
      identity,
      inputs: { predictions: await inputRef(predictionsDir, "predict") },
      ...(opts.shard ? { shard: { ...opts.shard, out: opts.out } } : {}),
    });
    // complete: false until every class is written, so no reader takes a running or killed run's folder.
    await startManifest(opts.out, manifest);

    // Resume: a class is done when vectors.json records it with these settings and its file (if any) exists.
    const previous = await readJsonIfExists<ContrastVectorsIndex & { classes: ContrastClassRecord[] }>(
      join(opts.out, VECTORS_INDEX),
    );
    const results = new Map<number, ContrastClassRecord>();
    for (const e of previous?.classes ?? []) {
      if (e.settingsKey !== settingsKey) continue;
      if (e.status === "done" && !(await exists(classVectorsPath(opts.out, e.class)))) continue;
      results.set(e.class, e);
    }
    const pending = classes.filter((c) => !results.has(c));
    if (results.size) {
      console.error(`contrast-vectors: ${results.size} classes already done, ${pending.length} to go`);
    }
    const writeIndex = () =>
      writeVectorsIndex(opts.out, {
        layer: opts.layer,
        channels,
        numClasses: attributor!.numClasses,
        settings: runSettings,
        classes: [...results.values()].sort((a, b) => a.class - b.class),
      });

    const progress = createProgress("contrast-vectors", classes.length, "classes");
    progress.resumeFrom(classes.length - pending.length);
    for (const cls of pending) {
      const images = members.get(cls) ?? [];
      const record: ContrastClassRecord = {
        class: cls,
        ...(names ? { name: names[cls] } : {}),
        status: "no-images",
        images: [],
        rowsPerImage: [],
        rows: 0,
        imagePaths: [],
        skipped: [],
        cached: false,
        settingsKey,
      };
      if (images.length) {
        const r = await attributeClass(attributor, dataset, cls, images, batch, cache);
        const failed = new Set(r.failures.map((f) => f.index));
        const sel = selectContrastRows(
          r.activations,
          mapKind === "mean" ? r.means : r.maps,
          images.length,
          channels,
          hw,
          cutoff,
          (i) => failed.has(images[i]),
        );
        record.images = images;
        record.imagePaths = images.map((i) => dataset.entries[i].path);
        record.rowsPerImage = sel.rowsPerImage;
        record.rows = sel.rowsPerImage.reduce((a, b) => a + b, 0);
        record.skipped = r.failures;
        record.cached = r.cached;
        record.status = record.rows ? "done" : "no-rows";
        if (record.rows) await writeClassVectors(opts.out, cls, sel.rows, channels);
        for (const f of r.failures) {
          console.error(`contrast-vectors: class ${cls}: skipped ${f.path}: ${f.reason}`);
        }
      }
      // A file left by a run with other settings must not pass for this class's vectors.
      if (!record.rows) await Deno.remove(classVectorsPath(opts.out, cls)).catch(() => {});
      results.set(cls, record);
      // Written after the class's file: its entry marks the class as done for a resumed run.
      await writeIndex();
      progress.tick();
    }
    progress.stop();
    await writeIndex();
    await completeManifest(opts.out, manifest);
    return {
      layer: opts.layer,
      tensor: attributor.tapTensor,
      channels,
      map: mapKind,
      classes: classes.map((c) => results.get(c)!),
    };
  } finally {
    await attributor?.release();
    dataset.close();
  }
}
