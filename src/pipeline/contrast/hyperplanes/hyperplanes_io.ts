// The hyperplane folder H in the reference's shape: per class i, `<i>.npy` (K x C float32: row j is the normal
// of the pair (i, j), zero where the pair had no data, as the reference's dummies), `bias_<i>.npy` (K) and
// `accuracy_<i>.npy` (K); `hyperplanes.json` says what was trained and how. Reading also accepts the
// reference's own torch.save files `<i>.pt`, `bias_<i>.pt`, `accuracy_<i>.pt`.
import { join } from "node:path";
import { exists, readJsonIfExists, writeJsonAtomic } from "../../../io/atomic.ts";
import { parseNpyHeader, readNpy, writeNpy } from "../../../io/npy.ts";
import { readTorchTensor } from "../../../io/torch_pt.ts";
import { UsageError } from "../../../cli/cli.ts";
import { checkArtifact, type InputRef, type ManifestRecord } from "../../../io/manifest.ts";

/** The artifact kind a hyperplanes folder's manifest declares. */
export const HYPERPLANES_KIND = "hyperplanes";

export const HYPERPLANES_INDEX = "hyperplanes.json";

/** hyperplanes.json. */
export interface HyperplanesIndex {
  /** K: rows per file (the classifier's classes). */
  numClasses: number;
  /** C: the layer's channels. */
  channels: number;
  layer?: string;
  /** Classes with rows that took part in training, ascending. */
  classes: number[];
  /** Classes asked for but without rows (their pairs are zero rows with accuracy 0). */
  emptyClasses?: number[];
  settings: Record<string, unknown>;
  /** Per-pair counts: ordered pairs trained, derived by negation (`--init zeros`), skipped. */
  pairs: { trained: number; derived: number; skipped: number };
  /** Content hash of the vectors trained on. */
  vectorsSha256?: string;
  /** Hash of the vectors' content, the classes and the settings: rows written under another key are not reused. */
  resumeKey?: string;
  /** False while rows are still being written. */
  complete?: boolean;
}

export function hyperplaneRowPaths(dir: string, i: number, ext: "npy" | "pt" = "npy") {
  return {
    normals: join(dir, `${i}.${ext}`),
    bias: join(dir, `bias_${i}.${ext}`),
    accuracy: join(dir, `accuracy_${i}.${ext}`),
  };
}

/** Writes the three files of row i atomically (each); `normals` holds K x C values, row j = pair (i, j). */
export async function writeHyperplaneRow(
  dir: string,
  i: number,
  normals: Float32Array,
  bias: Float32Array,
  accuracy: Float32Array,
): Promise<void> {
  const k = bias.length;
  if (accuracy.length !== k || k === 0 || normals.length % k !== 0) {
    throw new Error(
      `hyperplane row ${i}: ${normals.length} normal values, ${bias.length} biases and ${accuracy.length} ` +
        `accuracies do not describe K rows of C channels`,
    );
  }
  const p = hyperplaneRowPaths(dir, i);
  await writeNpy(p.normals, normals, [k, normals.length / k]);
  await writeNpy(p.bias, bias, [k]);
  await writeNpy(p.accuracy, accuracy, [k]);
}

export function writeHyperplanesIndex(dir: string, index: HyperplanesIndex): Promise<void> {
  return writeJsonAtomic(join(dir, HYPERPLANES_INDEX), index);
}

/**
 * Entries (j, i) for each i of `is` from row j's files, reading only those normals (C floats each) from
 * `<j>.npy`: what `--init zeros` negates instead of training (j, i) again.
 */
export async function readHyperplaneEntries(
  dir: string,
  j: number,
  is: readonly number[],
  channels: number,
): Promise<{ normals: Float32Array[]; bias: number[]; accuracy: number[] }> {
  const p = hyperplaneRowPaths(dir, j);
  const file = await Deno.open(p.normals, { read: true });
  try {
    const head = new Uint8Array(4096);
    const got = await file.read(head);
    const layout = parseNpyHeader(head.subarray(0, got ?? 0), p.normals);
    if (layout.dtype !== "<f4" || layout.shape.length !== 2 || layout.shape[1] !== channels) {
      throw new Error(
        `${p.normals}: expected K x ${channels} float32, found ${layout.dtype} [${layout.shape}]`,
      );
    }
    const normals: Float32Array[] = [];
    for (const i of is) {
      const bytes = new Uint8Array(channels * 4);
      await file.seek(layout.offset + i * channels * 4, Deno.SeekMode.Start);
      let off = 0;
      while (off < bytes.length) {
        const n = await file.read(bytes.subarray(off));
        if (n === null) throw new Error(`${p.normals}: truncated (row ${i} missing)`);
        off += n;
      }
      normals.push(new Float32Array(bytes.buffer));
    }
    const bias = (await readNpy(p.bias)).data as Float32Array;
    const accuracy = (await readNpy(p.accuracy)).data as Float32Array;
    return { normals, bias: is.map((i) => bias[i]), accuracy: is.map((i) => accuracy[i]) };
  } finally {
    file.close();
  }
}

/** One class's row of hyperplanes. */
export interface HyperplaneRow {
  normals: Float32Array;
  bias: Float32Array;
  accuracy: Float32Array;
}

/**
 * A hyperplane folder as read. Rows are loaded for the `classes` asked (all by default), or by `loadRow`, into
 * a cache of at most `cacheBytes` (least recently loaded rows go first; the two most recent always stay, so a
 * pair's both directions can be held): at K = 1000, C = 1024 all rows are 4.1 GB. Load a row before reading
 * its pairs, and walk many rows in row order.
 */
export interface Hyperplanes {
  dir: string;
  format: "npy" | "pt";
  numClasses: number;
  channels: number;
  layer?: string;
  /** Classes i that have a row file, ascending. */
  rowClasses: number[];
  index?: HyperplanesIndex;
  /** The folder's manifest: the model and layer of the vectors it was trained on (absent for the reference's
   * .pt folders). */
  manifest?: ManifestRecord;
  /** The folder as an input of a later run. */
  ref: InputRef;
  /** Loads row i if not in the cache (an error when H has no row i); makes it the most recently used. */
  loadRow(i: number): Promise<HyperplaneRow>;
  /** The cache: its budget, the bytes of the rows it holds now, and rows read from disk so far. */
  cacheStats(): { budgetBytes: number; heldBytes: number; heldRows: number; rowsRead: number };
  /** The normal of (i, j): a view of C values (zero when the pair had no data). Row i must be in the cache. */
  normal(i: number, j: number): Float32Array;
  bias(i: number, j: number): number;
  accuracy(i: number, j: number): number;
}

async function listRowClasses(dir: string): Promise<{ npy: number[]; pt: number[] }> {
  const npy: number[] = [];
  const pt: number[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      const m = /^(\d+)\.(npy|pt)$/.exec(entry.name);
      if (entry.isFile && m) (m[2] === "npy" ? npy : pt).push(Number(m[1]));
    }
  } catch (e) {
    throw new Error(`${dir}: cannot read the hyperplane folder (${(e as Error).message})`);
  }
  const asc = (a: number, b: number) => a - b;
  return { npy: npy.sort(asc), pt: pt.sort(asc) };
}

async function readFloats(
  path: string,
  format: "npy" | "pt",
): Promise<{ shape: number[]; data: Float32Array }> {
  if (!(await exists(path))) throw new Error(`${path}: missing (every hyperplane row needs its three files)`);
  const t = format === "npy" ? await readNpy(path) : await readTorchTensor(path);
  if (!(t.data instanceof Float32Array || t.data instanceof Float64Array)) {
    throw new Error(`${path}: expected float values, found ${t.data.constructor.name}`);
  }
  return { shape: t.shape, data: t.data instanceof Float32Array ? t.data : Float32Array.from(t.data) };
}

/** The row cache's budget unless a caller says otherwise: 256 MiB, or PROTOSCOPE_HYPERPLANE_CACHE_MIB. */
export const HYPERPLANE_CACHE_ENV = "PROTOSCOPE_HYPERPLANE_CACHE_MIB";
const DEFAULT_CACHE_MIB = 256;

export function hyperplaneCacheBytes(): number {
  const raw = Deno.env.get(HYPERPLANE_CACHE_ENV);
  if (raw === undefined || raw === "") return DEFAULT_CACHE_MIB * 2 ** 20;
  const mib = Number(raw);
  if (!(mib >= 0) || !Number.isFinite(mib)) {
    throw new UsageError(`${HYPERPLANE_CACHE_ENV}=${raw}: expected a number of MiB >= 0`);
  }
  return Math.round(mib * 2 ** 20);
}

/** A row's bytes as the cache counts them (its three arrays). */
function rowBytes(row: HyperplaneRow): number {
  return row.normals.byteLength + row.bias.byteLength + row.accuracy.byteLength;
}

/**
 * Reads H, the one reader of hyperplane folders. First the manifest: a folder of another kind or whose run has
 * not finished is refused before any row is read (the reference's .pt folders have none and pass); the
 * model and layer are checked by the consumer, which knows them (hyperplane_set.ts checkHyperplanesFit).
 * `expectChannels` (the layer's width): a folder of another width is an error naming both widths.
 * `classes`: the rows to load now (default: every row file; beyond the cache's budget only the last stay).
 * `cacheBytes`: the row cache's budget (default `hyperplaneCacheBytes()`).
 */
export async function readHyperplanes(
  dir: string,
  opts: { expectChannels?: number; classes?: readonly number[]; flag?: string; cacheBytes?: number } = {},
): Promise<Hyperplanes> {
  const checked = await checkArtifact(dir, {
    flag: opts.flag ?? "--hyperplanes",
    kind: HYPERPLANES_KIND,
    allowForeign: true,
  });
  const index = await readJsonIfExists<HyperplanesIndex>(join(dir, HYPERPLANES_INDEX));
  const listed = await listRowClasses(dir);
  const format = listed.npy.length > 0 ? "npy" : "pt";
  const rowClasses = format === "npy" ? listed.npy : listed.pt;
  if (rowClasses.length === 0) {
    throw new Error(`${dir}: no hyperplane rows (<i>.npy or the reference's <i>.pt) found`);
  }
  // A Map iterates in insertion order: re-inserting a row on use keeps the least recently used first.
  const rows = new Map<number, HyperplaneRow>();
  const budgetBytes = opts.cacheBytes ?? hyperplaneCacheBytes();
  let heldBytes = 0, rowsRead = 0;
  let numClasses = index?.numClasses ?? 0;
  let channels = index?.channels ?? 0;
  const available = new Set(rowClasses);

  const loadRow = async (i: number): Promise<HyperplaneRow> => {
    const have = rows.get(i);
    if (have) {
      rows.delete(i);
      rows.set(i, have);
      return have;
    }
    if (!available.has(i)) {
      throw new Error(
        `${dir}: no hyperplanes for class ${i} (rows exist for ${describeClasses(rowClasses)})`,
      );
    }
    const p = hyperplaneRowPaths(dir, i, format);
    const normals = await readFloats(p.normals, format);
    if (normals.shape.length !== 2) {
      throw new Error(`${p.normals}: expected K x C normals, found shape [${normals.shape}]`);
    }
    const [k, c] = normals.shape;
    if (numClasses === 0) [numClasses, channels] = [k, c];
    if (c !== channels) {
      throw new Error(
        `${p.normals}: hyperplanes ${c} channels wide, but ${
          index ? HYPERPLANES_INDEX : "the first row read"
        } says ${channels}`,
      );
    }
    if (k !== numClasses) throw new Error(`${p.normals}: ${k} rows, expected K = ${numClasses}`);
    if (opts.expectChannels !== undefined && c !== opts.expectChannels) {
      throw new Error(
        `${dir}: the hyperplanes are ${c} channels wide, but the layer has ${opts.expectChannels} ` +
          `(a folder trained at another layer?)`,
      );
    }
    const bias = await readFloats(p.bias, format);
    const accuracy = await readFloats(p.accuracy, format);
    for (const [name, t] of [[p.bias, bias], [p.accuracy, accuracy]] as const) {
      if (t.data.length !== k) throw new Error(`${name}: ${t.data.length} values, expected K = ${k}`);
    }
    const row = { normals: normals.data, bias: bias.data, accuracy: accuracy.data };
    rows.set(i, row);
    heldBytes += rowBytes(row);
    rowsRead++;
    for (const [old, held] of rows) {
      if (heldBytes <= budgetBytes || rows.size <= 2) break;
      rows.delete(old);
      heldBytes -= rowBytes(held);
    }
    return row;
  };

  // The first row fixes (or checks) the width before anything else is read, so a wrong folder fails fast.
  await loadRow(rowClasses[0]);
  for (const i of opts.classes ?? rowClasses) await loadRow(i);

  const rowOf = (i: number, j: number): HyperplaneRow => {
    const row = rows.get(i);
    if (!row) {
      throw new Error(
        `${dir}: hyperplane row ${i} is not in the cache (load it with loadRow(${i}) before reading its pairs)`,
      );
    }
    if (!Number.isInteger(j) || j < 0 || j >= numClasses) {
      throw new Error(`${dir}: class ${j} is outside 0..${numClasses - 1}`);
    }
    return row;
  };
  return {
    dir,
    format,
    numClasses,
    channels,
    layer: index?.layer,
    rowClasses,
    index,
    manifest: checked.manifest,
    ref: checked.ref,
    loadRow,
    cacheStats: () => ({ budgetBytes, heldBytes, heldRows: rows.size, rowsRead }),
    normal: (i, j) => rowOf(i, j).normals.subarray(j * channels, (j + 1) * channels),
    bias: (i, j) => rowOf(i, j).bias[j],
    accuracy: (i, j) => rowOf(i, j).accuracy[j],
  };
}

/**
 * A consumer's `--hyperplanes` folder with no row loaded yet (rows load per source class): refusals from the
 * manifest check pass unchanged, other read errors are prefixed with the flag.
 */
export async function openHyperplanes(dir: string, flag = "--hyperplanes"): Promise<Hyperplanes> {
  try {
    return await readHyperplanes(dir, { classes: [], flag });
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${flag} ${dir}: ${(e as Error).message}`);
  }
}

function describeClasses(classes: number[]): string {
  return classes.length > 8
    ? `${classes.slice(0, 8).join(", ")}, ... (${classes.length})`
    : classes.join(", ");
}
