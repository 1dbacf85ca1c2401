// The contrast-vector folder V: one `<class>.npy` (rows x C float32) per class that has rows, `vectors.json`
// (which images and how many rows each gave) and the manifest. The reference's own folders hold just the .npy
// files (its load_activation_vecs reads `<feature>.npy`), so reading works without vectors.json too.
import { join } from "node:path";
import { readJsonIfExists, writeJsonAtomic } from "../../../io/atomic.ts";
import { decodeNpy, writeNpy } from "../../../io/npy.ts";
import { sha256Hex } from "../../../onnx/model.ts";
import {
  type ArtifactExpectation,
  checkArtifact,
  type InputRef,
  type ManifestRecord,
} from "../../../io/manifest.ts";

/** The artifact kind a contrast-vectors folder's manifest declares. */
export const VECTORS_KIND = "contrast-vectors";

export const VECTORS_INDEX = "vectors.json";

/** One class's entry in vectors.json. */
export interface ContrastClassEntry {
  class: number;
  name?: string;
  /** Dataset indices of the images whose positions gave rows, in row order. */
  images: number[];
  /** Rows each of those images gave (same order); sums to `rows`. */
  rowsPerImage: number[];
  rows: number;
}

/** vectors.json. */
export interface ContrastVectorsIndex {
  layer?: string;
  channels: number;
  /** Classes of the classifier (the hyperplane folders' K); when absent, the largest class index + 1. */
  numClasses?: number;
  classes: ContrastClassEntry[];
  settings?: Record<string, unknown>;
}

export function classVectorsPath(dir: string, cls: number): string {
  return join(dir, `${cls}.npy`);
}

/** Writes `V/<cls>.npy` atomically: `rows` holds rows x channels float32 values, row-major. */
export async function writeClassVectors(
  dir: string,
  cls: number,
  rows: Float32Array,
  channels: number,
): Promise<void> {
  if (!Number.isInteger(cls) || cls < 0) throw new Error(`contrast vectors: bad class index ${cls}`);
  if (!Number.isInteger(channels) || channels <= 0 || rows.length % channels !== 0) {
    throw new Error(
      `contrast vectors of class ${cls}: ${rows.length} values are not whole rows of ${channels} channels`,
    );
  }
  await writeNpy(classVectorsPath(dir, cls), rows, [rows.length / channels, channels]);
}

export function writeVectorsIndex(dir: string, index: ContrastVectorsIndex): Promise<void> {
  return writeJsonAtomic(join(dir, VECTORS_INDEX), index);
}

/** A vectors folder as read: only classes with at least one row are in `classes` and `rows`. */
export interface ContrastVectors {
  dir: string;
  channels: number;
  layer?: string;
  /** Classes with rows, ascending. */
  classes: number[];
  rows: Map<number, Float32Array>;
  /** Row count per class in `classes`. */
  counts: Map<number, number>;
  /** Classes whose file holds zero rows (reported, never trained on). */
  empty: number[];
  /** Requested classes (`classes` option) that have no file at all. */
  missing: number[];
  /** K: vectors.json's numClasses, else the largest class index seen + 1. */
  numClasses: number;
  /** Hash of every class file read (class, then its bytes' sha256): a resume key that sees content. */
  sha256: string;
  index?: ContrastVectorsIndex;
  /** The folder's manifest (absent for the reference's own folders of bare .npy files). */
  manifest?: ManifestRecord;
  /** The folder as an input of a later run. */
  ref: InputRef;
}

/** Class files in `dir`: every `<non-negative integer>.npy`, ascending. */
async function listClassFiles(dir: string): Promise<number[]> {
  const classes: number[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      const m = /^(\d+)\.npy$/.exec(entry.name);
      if (entry.isFile && m) classes.push(Number(m[1]));
    }
  } catch (e) {
    throw new Error(`${dir}: cannot read the contrast-vectors folder (${(e as Error).message})`);
  }
  return classes.sort((a, b) => a - b);
}

/** What V holds without reading its rows: K, the classes that have a file, and their names where known. */
export async function contrastVectorsInfo(
  dir: string,
  flag = "--vectors",
): Promise<{ numClasses: number; present: number[]; names?: string[]; index?: ContrastVectorsIndex }> {
  await checkArtifact(dir, { flag, kind: VECTORS_KIND, allowForeign: true });
  const index = await readJsonIfExists<ContrastVectorsIndex>(join(dir, VECTORS_INDEX));
  const present = await listClassFiles(dir);
  const numClasses = index?.numClasses ??
    Math.max(-1, ...present, ...(index?.classes.map((e) => e.class) ?? [])) + 1;
  let names: string[] | undefined;
  if (index?.classes.some((e) => e.name)) {
    names = Array.from({ length: numClasses }, (_, c) => String(c));
    for (const e of index.classes) if (e.name && e.class < numClasses) names[e.class] = e.name;
  }
  return { numClasses, present, names, index };
}

/**
 * Reads V (all classes, or `classes`), the one reader of contrast-vectors folders. First the manifest: a folder
 * of another kind, one whose run has not finished, or (when asked) of another model or layer is refused before
 * anything is read (io/manifest.ts checkArtifact); the reference's bare .npy folders have none and pass.
 * Vectors of different widths are an error that names both files; a class with zero rows is listed in `empty`.
 */
export async function readContrastVectors(
  dir: string,
  opts: { classes?: readonly number[] } & Partial<Omit<ArtifactExpectation, "kind" | "allowForeign">> = {},
): Promise<ContrastVectors> {
  const checked = await checkArtifact(dir, {
    flag: opts.flag ?? "--vectors",
    kind: VECTORS_KIND,
    model: opts.model,
    layer: opts.layer,
    allowForeign: true,
  });
  const index = await readJsonIfExists<ContrastVectorsIndex>(join(dir, VECTORS_INDEX));
  const present = await listClassFiles(dir);
  const presentSet = new Set(present);
  const wanted = opts.classes ? [...new Set(opts.classes)].sort((a, b) => a - b) : present;
  const missing = wanted.filter((c) => !presentSet.has(c));
  const toRead = wanted.filter((c) => presentSet.has(c));
  if (toRead.length === 0) {
    throw new Error(
      `${dir}: no contrast vectors (<class>.npy) ${
        opts.classes ? `for classes ${wanted.join(",")}` : "found"
      }`,
    );
  }
  const rows = new Map<number, Float32Array>();
  const counts = new Map<number, number>();
  const empty: number[] = [];
  const hashes: string[] = [];
  let channels: number | undefined;
  let widthFile = "";
  for (const cls of toRead) {
    const path = classVectorsPath(dir, cls);
    const bytes = await Deno.readFile(path);
    const npy = decodeNpy(bytes, path);
    if (npy.shape.length !== 2) {
      throw new Error(`${path}: expected a rows x channels matrix, found shape [${npy.shape}]`);
    }
    const [n, c] = npy.shape;
    if (channels === undefined) {
      channels = c;
      widthFile = path;
    } else if (c !== channels) {
      throw new Error(
        `contrast vectors of different widths: ${widthFile} has ${channels} channels, ${path} has ${c}`,
      );
    }
    hashes.push(`${cls}:${await sha256Hex(bytes)}`);
    if (n === 0) {
      empty.push(cls);
      continue;
    }
    rows.set(cls, npy.data instanceof Float32Array ? npy.data : Float32Array.from(npy.data as Float64Array));
    counts.set(cls, n);
  }
  if (index && channels !== undefined && index.channels !== channels) {
    throw new Error(
      `${join(dir, VECTORS_INDEX)} says ${index.channels} channels, but ${widthFile} has ${channels}`,
    );
  }
  const classes = [...rows.keys()];
  const largest = Math.max(...toRead, ...(index?.classes.map((e) => e.class) ?? []));
  const numClasses = index?.numClasses ?? largest + 1;
  if (largest >= numClasses) {
    throw new Error(`${dir}: class ${largest} is outside the ${numClasses} classes vectors.json declares`);
  }
  return {
    dir,
    channels: channels!,
    layer: index?.layer,
    classes,
    rows,
    counts,
    empty,
    missing,
    numClasses,
    sha256: await sha256Hex(new TextEncoder().encode(hashes.join("\n"))),
    index,
    manifest: checked.manifest,
    ref: checked.ref,
  };
}
