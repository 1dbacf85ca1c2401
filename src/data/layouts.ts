// Finds the images of a raw data folder and their labels. Three layouts:
// - imagenet-val: flat folder of images labelled by a LOC_val_solution.csv (`ImageId,PredictionString`,
//   wnid = first token), given explicitly or found beside/above the images;
// - imagefolder: torchvision ImageFolder, one subfolder per class, classes sorted by name (ImageNet indices
//   when every subfolder is an ImageNet wnid);
// - plain: flat folder, no labels.
// File order is sorted and deterministic (ImageFolder: torchvision's order), so indices are stable.
import { basename, dirname, extname, join, resolve } from "node:path";
import { IMAGENET_CLASSES } from "./class_names.ts";

export type LayoutKind = "imagenet-val" | "imagefolder" | "plain";

export interface ImageEntry {
  /** Absolute path of the image file. */
  path: string;
  /** Class index, or null when the layout has no labels. */
  label: number | null;
}

export interface Listing {
  layout: LayoutKind;
  /** Absolute path of the data folder. */
  root: string;
  entries: ImageEntry[];
  /** Name of each class index, when labelled (ImageNet: the 1000 class names). */
  classNames?: string[];
  /** The label file used (imagenet-val). */
  labelsFile?: string;
  /** Things a user should know (ignored files, missing labels); empty when all is as expected. */
  notes: string[];
}

export interface ListOptions {
  /** LOC_val_solution.csv-style label file for a flat folder. */
  labels?: string;
  /** Keep only the first `limit` files of the sorted list. */
  limit?: number;
}

export interface ImageNetClasses {
  wnids: string[];
  names: string[];
  indexOfWnid: Map<string, number>;
}

let imagenet: ImageNetClasses | undefined;

/** The 1000 ImageNet-1k classes in torchvision's index order, with a wnid -> index map. */
export function imagenetClasses(): ImageNetClasses {
  if (imagenet) return imagenet;
  const wnids = IMAGENET_CLASSES.map((c) => c.wnid), names = IMAGENET_CLASSES.map((c) => c.name);
  imagenet = { wnids, names, indexOfWnid: new Map(wnids.map((w, i) => [w, i])) };
  return imagenet;
}

const IMAGE_EXTENSION = /\.(jpe?g|png)$/i;
const IMAGENET_VAL_NAME = /^ILSVRC2012_val_\d+\.jpe?g$/i;
const LABEL_FILE_NAME = "LOC_val_solution.csv";
/** The Kaggle download keeps the CSV 4 levels above ILSVRC/Data/CLS-LOC/val. */
const LABEL_SEARCH_DEPTH = 4;

export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSION.test(name) && !name.startsWith(".");
}

/** Code-unit order, as Python's sorted() on str (for BMP names) and independent of locale. */
const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

interface DirContents {
  files: string[];
  dirs: string[];
}

/** Entries of `dir`, sorted; hidden folders are kept, as torchvision's os.scandir / os.walk keep them. */
async function readDirSorted(dir: string): Promise<DirContents> {
  const files: string[] = [], dirs: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    let isFile = entry.isFile, isDir = entry.isDirectory;
    if (entry.isSymlink) {
      // Follow links, like torchvision's os.walk(followlinks=True); a dangling link is skipped.
      try {
        const info = await Deno.stat(join(dir, entry.name));
        isFile = info.isFile;
        isDir = info.isDirectory;
      } catch {
        continue;
      }
    }
    if (isFile) files.push(entry.name);
    else if (isDir) dirs.push(entry.name);
  }
  files.sort(byCodeUnit);
  dirs.sort(byCodeUnit);
  return { files, dirs };
}

/** Image files under `dir`, in the order of torchvision's `sorted(os.walk(dir))` + `sorted(files)`. */
async function walkImages(dir: string): Promise<string[]> {
  const groups: { dir: string; files: string[] }[] = [];
  const visit = async (d: string, seen: Set<string>) => {
    const real = await Deno.realPath(d);
    if (seen.has(real)) return; // a link cycle
    seen.add(real);
    const { files, dirs } = await readDirSorted(d);
    // torchvision keeps hidden files with an image extension too; unreadable ones are skipped when read.
    groups.push({ dir: d, files: files.filter((f) => IMAGE_EXTENSION.test(f)).map((f) => join(d, f)) });
    for (const sub of dirs) await visit(join(d, sub), seen);
  };
  await visit(dir, new Set());
  groups.sort((a, b) => byCodeUnit(a.dir, b.dir));
  return groups.flatMap((g) => g.files);
}

const CLASS_INDEX_FILE = "classes.json";

/**
 * The class index for a label CSV: a `classes.json` beside it (imagenet_class_index.json's format,
 * {"0": [wnid, name], ...}) declares another label set, e.g. a subset or the generated fixture; otherwise
 * ImageNet-1k.
 */
export async function classIndexFor(csvPath: string): Promise<ImageNetClasses> {
  const path = join(dirname(csvPath), CLASS_INDEX_FILE);
  let raw: Record<string, [string, string]>;
  try {
    raw = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return imagenetClasses();
    throw new Error(`${path}: expected {"0": [wnid, name], ...} (${(e as Error).message})`);
  }
  const rows = Object.entries(raw).sort((a, b) => Number(a[0]) - Number(b[0]));
  rows.forEach(([k, v], i) => {
    if (Number(k) !== i || !Array.isArray(v) || v.length < 2) {
      throw new Error(`${path}: entry '${k}' must be [wnid, name] with keys 0..N-1`);
    }
  });
  const wnids = rows.map(([, v]) => String(v[0])), names = rows.map(([, v]) => String(v[1]));
  return { wnids, names, indexOfWnid: new Map(wnids.map((w, i) => [w, i])) };
}

/** Parses LOC_val_solution.csv into ImageId -> class index (ImageNet-1k unless classes.json says otherwise). */
export async function readImageNetValLabels(csvPath: string): Promise<Map<string, number>> {
  let text: string;
  try {
    text = await Deno.readTextFile(csvPath);
  } catch (e) {
    throw new Error(`${csvPath}: cannot read labels (${(e as Error).message})`);
  }
  const { indexOfWnid } = await classIndexFor(csvPath);
  const labels = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    const comma = line.indexOf(",");
    if (comma < 0) throw new Error(`${csvPath}:${i + 1}: expected 'ImageId,PredictionString', got '${line}'`);
    const id = line.slice(0, comma).trim();
    if (i === 0 && id === "ImageId") continue;
    const wnid = line.slice(comma + 1).trim().split(/\s+/)[0];
    const index = indexOfWnid.get(wnid);
    if (index === undefined) {
      throw new Error(
        `${csvPath}:${i + 1}: '${wnid}' is not an ImageNet-1k wnid (expected e.g. n01440764), ` +
          `and no ${CLASS_INDEX_FILE} beside the file declares it`,
      );
    }
    labels.set(id, index);
  }
  if (labels.size === 0) {
    throw new Error(`${csvPath}: no label rows (expected 'ImageId,PredictionString' lines)`);
  }
  return labels;
}

async function findLabelFile(dir: string): Promise<string | undefined> {
  let d = dir;
  for (let level = 0; level <= LABEL_SEARCH_DEPTH; level++) {
    const candidate = join(d, LABEL_FILE_NAME);
    try {
      if ((await Deno.stat(candidate)).isFile) return candidate;
    } catch {
      // not here; look one level up
    }
    const parent = dirname(d);
    if (parent === d) break;
    d = parent;
  }
  return undefined;
}

function applyLimit<T>(items: T[], limit: number | undefined): T[] {
  if (limit === undefined) return items;
  if (!(Number.isInteger(limit) && limit > 0)) {
    throw new Error(`limit must be a positive integer, got ${limit}`);
  }
  return items.slice(0, limit);
}

/** Lists the images of a raw data folder in any supported layout. */
export async function listImages(dataDir: string, options: ListOptions = {}): Promise<Listing> {
  const root = resolve(dataDir);
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(root);
  } catch (e) {
    throw new Error(`${dataDir}: data folder not found (${(e as Error).message})`);
  }
  if (!info.isDirectory) throw new Error(`${dataDir}: expected a folder of images, got a file`);

  const top = await readDirSorted(root);
  const topImages = top.files.filter(isImageFile);
  const notes: string[] = [];

  // ImageFolder: images live in class subfolders (torchvision ignores files at the top level).
  if (top.dirs.length && !options.labels) {
    const perClass = await Promise.all(top.dirs.map((d) => walkImages(join(root, d))));
    if (perClass.some((files) => files.length)) {
      const { indexOfWnid, names } = imagenetClasses();
      const byWnid = top.dirs.every((d) => indexOfWnid.has(d));
      const entries: ImageEntry[] = [];
      top.dirs.forEach((d, i) => {
        const label = byWnid ? indexOfWnid.get(d)! : i;
        for (const path of perClass[i]) entries.push({ path, label });
      });
      const empty = top.dirs.filter((_, i) => perClass[i].length === 0);
      if (empty.length) notes.push(`class folders without images: ${empty.join(", ")}`);
      if (topImages.length) {
        notes.push(
          `${topImages.length} image files at the top of ${root} are not in a class folder and are ignored`,
        );
      }
      return {
        layout: "imagefolder",
        root,
        entries: applyLimit(entries, options.limit),
        classNames: byWnid ? [...names] : [...top.dirs],
        notes,
      };
    }
  }

  if (!topImages.length) {
    throw new Error(
      `${dataDir}: no .jpg/.jpeg/.png files found (expected images, or one subfolder of images per class)`,
    );
  }
  const paths = applyLimit(topImages, options.limit).map((f) => join(root, f));
  const looksLikeImageNetVal = topImages.every((f) => IMAGENET_VAL_NAME.test(f));
  const labelsFile = options.labels
    ? resolve(options.labels)
    : looksLikeImageNetVal
    ? await findLabelFile(root)
    : undefined;
  if (!labelsFile) {
    if (looksLikeImageNetVal) {
      notes.push(
        `ImageNet validation file names but no ${LABEL_FILE_NAME} in ${root} or above it: pass --labels`,
      );
    }
    return { layout: "plain", root, entries: paths.map((path) => ({ path, label: null })), notes };
  }
  const labels = await readImageNetValLabels(labelsFile);
  let missing = 0;
  const entries = paths.map((path) => {
    const label = labels.get(basename(path, extname(path))) ?? null;
    if (label === null) missing++;
    return { path, label };
  });
  if (missing) notes.push(`${missing} images have no row in ${labelsFile}; their label is null`);
  return {
    layout: "imagenet-val",
    root,
    entries,
    classNames: [...(await classIndexFor(labelsFile)).names],
    labelsFile,
    notes,
  };
}
