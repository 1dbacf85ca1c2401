// The one way tasks read images: a raw folder (any layout, decoded on demand in Workers) or a prepared cache
// (rows read from images.npy by byte offset). Either way a batch is count x crop x crop x 3 uint8 (HWC RGB).
import { join, resolve } from "node:path";
import { CACHE_IMAGES, CacheImages, isCacheDir, readCacheIndex } from "./cache.ts";
import { type LayoutKind, listImages } from "./layouts.ts";
import { PreprocessPool } from "./pool.ts";
import { cropBytes } from "./preprocess.ts";
import { DEFAULT_PREPROCESS, type PreprocessSettings } from "./resize.ts";

export { preprocessBytes, preprocessFile } from "./preprocess.ts";
export { benchPreprocess } from "./pool.ts";
export type { PreprocessSettings } from "./resize.ts";

export interface DatasetEntry {
  path: string;
  label: number | null;
}

export interface BatchFailure {
  /** Dataset index of the failed image. */
  index: number;
  path: string;
  reason: string;
}

export interface Batch {
  /** count x crop x crop x 3 uint8, HWC RGB; failed slots are zero. */
  images: Uint8Array;
  ok: boolean[];
  failures: BatchFailure[];
  /** Images that decoded but deserve a remark (e.g. 16-bit gray PNGs that PIL turns white). */
  warnings?: { index: number; path: string; warning: string }[];
}

export interface Dataset {
  /** "cache": a prepared folder; "raw": images decoded on demand. */
  readonly source: "cache" | "raw";
  readonly layout: LayoutKind;
  /** Absolute data folder of the images. */
  readonly root: string;
  /** The prepared cache's folder (source "cache"). */
  readonly cacheDir?: string;
  /** Usable images: raw folders count every listed file (failures show up only when read). */
  readonly size: number;
  readonly entries: DatasetEntry[];
  readonly classNames?: string[];
  /** Resize/crop geometry; `settings.crop` is the image side. */
  readonly settings: PreprocessSettings;
  /** Bytes per image (crop * crop * 3). */
  readonly imageBytes: number;
  /** Listing remarks for the user (ignored files, missing labels). */
  readonly notes: string[];
  readBatch(start: number, count: number): Promise<Batch>;
  close(): void;
}

export interface OpenDatasetOptions {
  /** LOC_val_solution.csv for a flat ImageNet-val folder (raw folders only). */
  labels?: string;
  /** Preprocessing workers for raw folders (default: CPU cores; 0 = in-process). */
  workers?: number;
  /** Use only the first `limit` images. */
  limit?: number;
}

function checkRange(name: string, size: number, start: number, count: number): void {
  if (
    !(Number.isInteger(start) && Number.isInteger(count) && start >= 0 && count >= 0 && start + count <= size)
  ) {
    throw new Error(`${name}: readBatch(${start}, ${count}) is outside the dataset's ${size} images`);
  }
}

function checkLimit(limit: number | undefined): void {
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
    throw new Error(`openDataset: limit must be a positive integer, got ${limit}`);
  }
}

async function openCache(dir: string, options: OpenDatasetOptions): Promise<Dataset> {
  const index = await readCacheIndex(dir);
  const settings = index.manifest.settings;
  if (options.labels && resolve(options.labels) !== settings.labels) {
    throw new Error(
      `${dir}: labels are fixed when a cache is prepared (this one used ${settings.labels ?? "none"}); ` +
        `re-run prepare with --labels ${options.labels} or omit --labels`,
    );
  }
  const images = await CacheImages.open(join(dir, CACHE_IMAGES), index.files.length);
  const all = index.files.map((f) => ({ path: resolve(index.root, f.path), label: f.label }));
  const entries = options.limit !== undefined ? all.slice(0, options.limit) : all;
  const geometry = { resize: settings.resize, crop: settings.crop };
  return {
    source: "cache",
    layout: index.layout,
    root: index.root,
    cacheDir: resolve(dir),
    size: entries.length,
    entries,
    ...(index.classNames ? { classNames: index.classNames } : {}),
    settings: geometry,
    imageBytes: cropBytes(geometry),
    notes: index.failures.length
      ? [`${index.failures.length} files failed to decode when the cache was prepared`]
      : [],
    async readBatch(start, count) {
      checkRange(dir, entries.length, start, count);
      return { images: await images.read(start, count), ok: new Array(count).fill(true), failures: [] };
    },
    close: () => images.close(),
  };
}

async function openRaw(dir: string, options: OpenDatasetOptions): Promise<Dataset> {
  const listing = await listImages(dir, { labels: options.labels, limit: options.limit });
  const settings = DEFAULT_PREPROCESS;
  const imageBytes = cropBytes(settings);
  let pool: PreprocessPool | undefined;
  const entries = listing.entries;
  return {
    source: "raw",
    layout: listing.layout,
    root: listing.root,
    size: entries.length,
    entries,
    ...(listing.classNames ? { classNames: listing.classNames } : {}),
    settings,
    imageBytes,
    notes: listing.notes,
    async readBatch(start, count) {
      checkRange(dir, entries.length, start, count);
      pool ??= new PreprocessPool({ workers: options.workers, settings });
      const outcomes = await Promise.all(
        entries.slice(start, start + count).map((e) => pool!.preprocess(e.path)),
      );
      const images = new Uint8Array(count * imageBytes);
      const ok: boolean[] = [];
      const failures: BatchFailure[] = [];
      const warnings: NonNullable<Batch["warnings"]> = [];
      outcomes.forEach((o, i) => {
        ok.push(o.ok);
        const path = entries[start + i].path;
        if (o.ok) images.set(o.pixels, i * imageBytes);
        else failures.push({ index: start + i, path, reason: o.reason });
        if (o.ok && o.warning) warnings.push({ index: start + i, path, warning: o.warning });
      });
      return { images, ok, failures, warnings };
    },
    close: () => pool?.close(),
  };
}

/**
 * Opens a prepared cache folder (index.json + images.npy) or a raw image folder (imagenet-val, ImageFolder
 * or plain layout). Close it to stop its workers / file handle.
 */
export async function openDataset(path: string, options: OpenDatasetOptions = {}): Promise<Dataset> {
  checkLimit(options.limit);
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    throw new Error(`${path}: dataset folder not found (${(e as Error).message})`);
  }
  if (!info.isDirectory) {
    throw new Error(
      `${path}: expected a folder (raw images, or a cache made by 'deno task prepare'), got a file`,
    );
  }
  if (await isCacheDir(path)) return await openCache(path, options);
  return await openRaw(path, options);
}
