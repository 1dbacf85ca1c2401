// Prepared-image cache: C/images.npy (uint8 N x crop x crop x 3, successfully decoded images only, in listing
// order) + C/index.json (which files they are, labels, failures, how they were made).
//
// images.npy can be tens of GB, so it is streamed: rows are appended to C/images.npy.partial behind a
// placeholder header sized for the full listing; a journal (C/prepare.partial.json) records progress after
// the rows it counts are flushed, so an interrupted run resumes where the journal says. At the end the real
// header (padded to the placeholder's length, which npy allows) is written in place and the file renamed;
// the final name never holds a partial array.
import { join, relative, resolve } from "node:path";
import { exists, readJsonIfExists, writeAll, writeJsonAtomic } from "../io/atomic.ts";
import { npyHeader, parseNpyHeader } from "../io/npy.ts";
import { DECODER_VERSIONS } from "./decode.ts";
import { type LayoutKind, listImages, type Listing } from "./layouts.ts";
import { defaultWorkerCount, preprocessInOrder, PreprocessPool } from "./pool.ts";
import { cropBytes } from "./preprocess.ts";
import { DEFAULT_PREPROCESS, type PreprocessSettings } from "./resize.ts";
import denoConfig from "../../deno.json" with { type: "json" };
import { dataStamps } from "../io/run_identity.ts";
import { completeManifest, readManifest, refuseOtherKind, startManifest } from "../io/manifest.ts";
import { withOutDir } from "../io/out_dir.ts";

export const CACHE_INDEX = "index.json";
export const CACHE_IMAGES = "images.npy";
const PARTIAL_IMAGES = "images.npy.partial";
const JOURNAL = "prepare.partial.json";
const FORMAT = "protoscope-image-cache/1";

export interface CacheIndex {
  format: typeof FORMAT;
  /** Absolute data folder the paths are relative to. */
  root: string;
  /** One per row of images.npy; `path` is relative to `root`. */
  files: { path: string; label: number | null }[];
  failures: { path: string; reason: string }[];
  classNames?: string[];
  layout: LayoutKind;
  manifest: {
    created: string;
    settings: PreprocessSettings & { data: string; labels: string | null; limit: number | null };
    versions: Record<string, string>;
    /**
     * SHA-256 of the listing (paths, labels, each file's size and time) and settings; equal fingerprints mean
     * an identical cache, so a rewritten file makes a new one.
     */
    fingerprint: string;
    /** Files listed (decoded + failed). */
    listed: number;
  };
}

export interface PrepareProgress {
  /** Listed files handled so far (decoded or failed), including those of a resumed earlier run. */
  done: number;
  /** Files an interrupted earlier run had handled (not counted in the rate). */
  resumedFrom: number;
  total: number;
  failed: number;
  /** Throughput of this run. */
  imagesPerSecond: number;
  /** Seconds left at this run's rate; undefined before the first image. */
  etaSeconds?: number;
}

export interface PrepareOptions {
  data: string;
  labels?: string;
  out: string;
  /** Worker count (default: CPU cores; 0 = in-process). */
  workers?: number;
  limit?: number;
  settings?: PreprocessSettings;
  onProgress?: (progress: PrepareProgress) => void;
  /** Minimum time between onProgress calls (default 1000 ms; the last image is always reported). */
  progressIntervalMs?: number;
  /** How often the resume journal is saved (default 5000 ms; each save flushes images.npy.partial). */
  journalIntervalMs?: number;
  /** Called once with the listing, before any decoding. */
  onListing?: (listing: Listing) => void;
}

export interface PrepareSummary {
  out: string;
  images: number;
  failures: { path: string; reason: string }[];
  seconds: number;
  /** Files a previous interrupted run had already handled. */
  resumedFrom: number;
  /** True when an identical cache already existed and nothing was done. */
  upToDate: boolean;
}

interface Journal {
  fingerprint: string;
  done: number;
  rows: number;
  failures: { index: number; reason: string }[];
}

async function fingerprintOf(listing: Listing, settings: PreprocessSettings): Promise<string> {
  const stamps = await dataStamps({ source: "raw", root: listing.root, entries: listing.entries });
  const text = JSON.stringify({
    format: FORMAT,
    settings: { resize: settings.resize, crop: settings.crop },
    layout: listing.layout,
    entries: listing.entries.map((e, i) => [e.path, e.label, stamps[i]]),
  });
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** npy header for `rows` images, padded with spaces to exactly `length` bytes. */
function paddedHeader(rows: number, crop: number, length: number): Uint8Array {
  const header = npyHeader("|u1", [rows, crop, crop, 3]);
  if (header.length === length) return header;
  if (header.length > length) throw new Error(`npy header of ${header.length} bytes does not fit ${length}`);
  const out = new Uint8Array(length);
  out.set(header.subarray(0, header.length - 1)); // all but the closing newline
  out.fill(0x20, header.length - 1, length - 1);
  out[length - 1] = 0x0a;
  new DataView(out.buffer).setUint16(8, length - 10, true);
  return out;
}

async function readAll(file: Deno.FsFile, into: Uint8Array, source: string): Promise<void> {
  let filled = 0;
  while (filled < into.length) {
    const n = await file.read(into.subarray(filled));
    if (n === null) throw new Error(`${source}: unexpected end of file (truncated cache?)`);
    filled += n;
  }
}

async function removeIfExists(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** The files of a finished cache (besides its manifest.json). */
const CACHE_OUTPUTS = [CACHE_INDEX, CACHE_IMAGES];

/** True when `dir` holds a prepared cache (index.json and images.npy). */
export async function isCacheDir(dir: string): Promise<boolean> {
  return await exists(join(dir, CACHE_INDEX)) && await exists(join(dir, CACHE_IMAGES));
}

export async function readCacheIndex(dir: string): Promise<CacheIndex> {
  const path = join(dir, CACHE_INDEX);
  const index = await readJsonIfExists<CacheIndex>(path);
  if (!index) throw new Error(`${path}: not found (prepare the cache with 'deno task prepare')`);
  if (index.format !== FORMAT || !Array.isArray(index.files) || !index.manifest?.settings) {
    throw new Error(`${path}: not a protoscope image cache index (expected format '${FORMAT}')`);
  }
  return index;
}

/** Decodes every listed image once and stores the crops; see the file comment for the on-disk protocol. */
export async function prepareCache(options: PrepareOptions): Promise<PrepareSummary> {
  return await withOutDir(resolve(options.out), "prepare", () => prepareIn(options));
}

async function prepareIn(options: PrepareOptions): Promise<PrepareSummary> {
  const settings = options.settings ?? DEFAULT_PREPROCESS;
  const out = resolve(options.out);
  const listing = await listImages(options.data, { labels: options.labels, limit: options.limit });
  options.onListing?.(listing);
  const fingerprint = await fingerprintOf(listing, settings);
  const started = performance.now();
  const total = listing.entries.length;

  await Deno.mkdir(out, { recursive: true });
  const indexPath = join(out, CACHE_INDEX), imagesPath = join(out, CACHE_IMAGES);
  const partialPath = join(out, PARTIAL_IMAGES), journalPath = join(out, JOURNAL);

  // The folder's manifest.json (io/manifest.ts) says what made the cache and, last, that it is complete; the
  // resume journal and fingerprint below decide what is reused.
  await refuseOtherKind(out, "prepare");
  const manifest = {
    task: "prepare",
    kind: "prepare",
    created: new Date().toISOString(),
    data: { path: listing.root, count: total },
    settings: { ...settings, labels: listing.labelsFile ?? null, limit: options.limit ?? null },
    fingerprint,
  };
  const existing = await readJsonIfExists<CacheIndex>(indexPath).catch(() => undefined);
  if (existing?.manifest?.fingerprint === fingerprint && await exists(imagesPath)) {
    if ((await readManifest(out))?.manifest.complete !== true) {
      await completeManifest(out, manifest, CACHE_OUTPUTS);
    }
    return {
      out,
      images: existing.files.length,
      failures: existing.failures,
      seconds: 0,
      resumedFrom: total,
      upToDate: true,
    };
  }

  await startManifest(out, manifest);
  const rowBytes = cropBytes(settings);
  const headerLength = npyHeader("|u1", [total, settings.crop, settings.crop, 3]).length;
  let journal: Journal = { fingerprint, done: 0, rows: 0, failures: [] };
  const previous = await readJsonIfExists<Journal>(journalPath).catch(() => undefined);
  let resumable = false;
  if (previous?.fingerprint === fingerprint && await exists(partialPath)) {
    const size = (await Deno.stat(partialPath)).size;
    resumable = size >= headerLength + previous.rows * rowBytes;
  }
  if (resumable) journal = previous!;
  const resumedFrom = journal.done;

  const file = await Deno.open(partialPath, { read: true, write: true, create: true, truncate: !resumable });
  const pool = new PreprocessPool({ workers: options.workers ?? defaultWorkerCount(), settings });
  try {
    if (resumable) await file.truncate(headerLength + journal.rows * rowBytes);
    else await writeAll(file, paddedHeader(0, settings.crop, headerLength));
    await file.seek(headerLength + journal.rows * rowBytes, Deno.SeekMode.Start);

    const remaining = listing.entries.slice(journal.done).map((e) => e.path);
    const journalInterval = options.journalIntervalMs ?? 5000;
    const progressInterval = options.progressIntervalMs ?? 1000;
    let lastSave = performance.now(), lastReport = -Infinity, handled = 0;
    const saveJournal = async () => {
      await file.syncData(); // the journal must never count rows that are not on disk
      await writeJsonAtomic(journalPath, journal);
      lastSave = performance.now();
    };
    for await (const { index, outcome } of preprocessInOrder(pool, remaining)) {
      const listed = journal.done; // == resumedFrom + index
      if (outcome.ok) {
        await writeAll(file, outcome.pixels);
        journal.rows++;
      } else {
        journal.failures.push({ index: listed, reason: outcome.reason });
      }
      journal.done++;
      handled = index + 1;
      const now = performance.now();
      if (now - lastSave >= journalInterval) await saveJournal();
      if (options.onProgress && (now - lastReport >= progressInterval || journal.done === total)) {
        lastReport = now;
        const rate = handled / ((now - started) / 1000);
        options.onProgress({
          done: journal.done,
          resumedFrom,
          total,
          failed: journal.failures.length,
          imagesPerSecond: rate,
          etaSeconds: rate > 0 ? (total - journal.done) / rate : undefined,
        });
      }
    }
    await file.seek(0, Deno.SeekMode.Start);
    await writeAll(file, paddedHeader(journal.rows, settings.crop, headerLength));
    await file.syncData();
  } finally {
    pool.close();
    file.close();
  }

  const failed = new Set(journal.failures.map((f) => f.index));
  const rel = (p: string) => relative(listing.root, p);
  const index: CacheIndex = {
    format: FORMAT,
    root: listing.root,
    files: listing.entries.filter((_, i) => !failed.has(i)).map((e) => ({
      path: rel(e.path),
      label: e.label,
    })),
    failures: journal.failures.map((f) => ({ path: rel(listing.entries[f.index].path), reason: f.reason })),
    ...(listing.classNames ? { classNames: listing.classNames } : {}),
    layout: listing.layout,
    manifest: {
      created: new Date().toISOString(),
      settings: {
        ...settings,
        data: listing.root,
        labels: listing.labelsFile ?? null,
        limit: options.limit ?? null,
      },
      versions: { protoscope: denoConfig.version, deno: Deno.version.deno, ...DECODER_VERSIONS },
      fingerprint,
      listed: total,
    },
  };
  // An old index must not describe the new images for even a moment.
  await removeIfExists(indexPath);
  await Deno.rename(partialPath, imagesPath);
  await writeJsonAtomic(indexPath, index);
  await removeIfExists(journalPath);
  await completeManifest(out, manifest, CACHE_OUTPUTS);
  return {
    out,
    images: index.files.length,
    failures: index.failures,
    seconds: (performance.now() - started) / 1000,
    resumedFrom,
    upToDate: false,
  };
}

/** Random access to the rows of a cache's images.npy, without loading it. */
export class CacheImages {
  #file: Deno.FsFile;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(
    file: Deno.FsFile,
    readonly path: string,
    readonly rows: number,
    readonly crop: number,
    readonly offset: number,
  ) {
    this.#file = file;
  }

  get rowBytes(): number {
    return this.crop * this.crop * 3;
  }

  /** Opens and validates `images.npy` (uint8, rows x crop x crop x 3, fully present). */
  static async open(path: string, expectedRows: number): Promise<CacheImages> {
    const file = await Deno.open(path, { read: true });
    try {
      const head = new Uint8Array(4096);
      const n = (await file.read(head)) ?? 0;
      const { dtype, shape, offset, fortranOrder } = parseNpyHeader(head.subarray(0, n), path);
      if (dtype !== "|u1" || shape.length !== 4 || shape[1] !== shape[2] || shape[3] !== 3 || fortranOrder) {
        const got = `${fortranOrder ? "Fortran-ordered " : ""}${dtype} [${shape}]`;
        throw new Error(`${path}: expected C-ordered uint8 [N, S, S, 3] images, got ${got}`);
      }
      if (shape[0] !== expectedRows) {
        throw new Error(
          `${path}: holds ${shape[0]} images but index.json lists ${expectedRows}; re-run prepare`,
        );
      }
      const size = (await file.stat()).size;
      const need = offset + shape[0] * shape[1] * shape[2] * 3;
      if (size < need) {
        throw new Error(`${path}: truncated (${size} bytes, expected ${need}); re-run prepare`);
      }
      return new CacheImages(file, path, shape[0], shape[1], offset);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /** Copies rows [start, start + count) into `out` (allocated when omitted). */
  read(start: number, count: number, out = new Uint8Array(count * this.rowBytes)): Promise<Uint8Array> {
    if (start < 0 || count < 0 || start + count > this.rows) {
      throw new Error(`${this.path}: rows [${start}, ${start + count}) outside [0, ${this.rows})`);
    }
    // seek + read is one logical operation: serialise concurrent reads.
    const run = this.#queue.then(async () => {
      await this.#file.seek(this.offset + start * this.rowBytes, Deno.SeekMode.Start);
      await readAll(this.#file, out.subarray(0, count * this.rowBytes), this.path);
      return out;
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  close(): void {
    this.#file.close();
  }
}
