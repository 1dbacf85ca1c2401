// Reads a folder of per-class concept bases (NMF prototypes) into one stacked prototype matrix for the
// prototype search: the one reader of concepts folders (its manifest is checked first). Two layouts:
// - protoscope's (`deno task concepts`): concepts.json + manifest.json at the top, <class>/basis.npy (k x C
//   float32, rows = prototypes) per class;
// - the reference implementation's: <class>/nmf/nmf_basis.pt (torch.save of a k x C float64 tensor), where
//   <class> is a class index or an ImageNet wnid.
import { join } from "node:path";
import { exists, readJsonIfExists } from "../../io/atomic.ts";
import { readNpy } from "../../io/npy.ts";
import { readTorchTensor } from "../../io/torch_pt.ts";
import { IMAGENET_CLASSES } from "../../data/class_names.ts";
import { checkArtifact } from "../../io/manifest.ts";

/** The artifact kind a concepts folder's manifest declares. */
export const CONCEPTS_KIND = "concepts";

export interface ConceptsClassInfo {
  class: number;
  name?: string;
  images?: number;
  relError?: number;
  status: "done" | "no-images";
}

/** concepts.json of protoscope's layout. */
export interface ConceptsIndex {
  layer?: string;
  tensor?: string;
  channels?: number;
  k?: number;
  classes: ConceptsClassInfo[];
}

export interface Concepts {
  dir: string;
  source: "protoscope" | "reference";
  /** The tap the bases were computed at (protoscope layout only). */
  layer?: { name: string; tensor?: string };
  /** sha256 of the model the concepts came from (protoscope layout, from manifest.json). */
  modelSha256?: string;
  /** Prototypes per class. */
  k: number;
  /** Channels at the tap (columns of every basis). */
  channels: number;
  /** The classes read, ascending. */
  classes: number[];
  /** P x C float32, P = classes.length * k, class after class in `classes` order, rows in file order. */
  bases: Float32Array;
  /** Class of each prototype (length P). */
  prototypeClass: Int32Array;
  /** Classes in the folder that have no basis (protoscope status "no-images"); never in `classes`. */
  withoutBasis: number[];
}

export interface ReadConceptsOptions {
  /** Read only these classes (every one must have a basis); default: every class with a basis. */
  classes?: number[];
}

interface ClassBasis {
  cls: number;
  file: string;
  rows: number;
  cols: number;
  data: Float32Array;
}

/** Reads a concepts folder of either layout; errors name the folder or file and what was expected. */
export async function readConcepts(dir: string, opts: ReadConceptsOptions = {}): Promise<Concepts> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (e) {
    throw new Error(`--concepts ${dir}: folder not found (${(e as Error).message})`);
  }
  if (!info.isDirectory) throw new Error(`--concepts ${dir}: expected a folder, got a file`);
  // A folder of another kind, or one whose concepts run has not finished, is refused before any basis is read;
  // the reference's folders (no manifest) pass.
  await checkArtifact(dir, { flag: "--concepts", kind: CONCEPTS_KIND, allowForeign: true });
  if (opts.classes) {
    const bad = opts.classes.filter((c) => !Number.isInteger(c) || c < 0);
    if (bad.length) throw new Error(`--classes: class indices must be non-negative integers, got ${bad}`);
  }
  if (await exists(join(dir, "concepts.json"))) return await readProtoscope(dir, opts);
  return await readReference(dir, opts);
}

async function readProtoscope(dir: string, opts: ReadConceptsOptions): Promise<Concepts> {
  const indexPath = join(dir, "concepts.json");
  let index: ConceptsIndex;
  try {
    index = JSON.parse(await Deno.readTextFile(indexPath));
  } catch (e) {
    throw new Error(`${indexPath}: cannot read it as JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(index.classes)) {
    throw new Error(`${indexPath}: expected a "classes" array of {class, status}`);
  }
  const manifest = await readJsonIfExists<{
    model?: { sha256?: string };
    layer?: { name?: string; tensor?: string };
    settings?: { k?: number };
  }>(join(dir, "manifest.json"));
  const done = new Set(index.classes.filter((c) => c.status === "done").map((c) => c.class));
  const listed = new Set(index.classes.map((c) => c.class));
  const wanted = opts.classes
    ? [...new Set(opts.classes)].sort((a, b) => a - b)
    : [...done].sort((a, b) => a - b);
  const missing = wanted.filter((c) => !listed.has(c));
  const empty = wanted.filter((c) => listed.has(c) && !done.has(c));
  if (missing.length || empty.length) {
    throw new Error(
      `${dir}: no basis for class${missing.length + empty.length > 1 ? "es" : ""} ` +
        [
          missing.length ? `${missing.join(", ")} (not in concepts.json)` : "",
          empty.length ? `${empty.join(", ")} (status "no-images": no images were predicted as it)` : "",
        ].filter(Boolean).join("; "),
    );
  }
  if (wanted.length === 0) throw new Error(`${indexPath}: no class has status "done"`);
  const bases: ClassBasis[] = [];
  for (const cls of wanted) {
    const file = join(dir, String(cls), "basis.npy");
    let arr;
    try {
      arr = await readNpy(file);
    } catch (e) {
      throw new Error(`${file}: cannot read the basis of class ${cls} (${(e as Error).message})`);
    }
    if (arr.shape.length !== 2 || !(arr.data instanceof Float32Array || arr.data instanceof Float64Array)) {
      throw new Error(`${file}: expected a 2-D float array k x C, got ${arr.dtype} [${arr.shape}]`);
    }
    bases.push({ cls, file, rows: arr.shape[0], cols: arr.shape[1], data: Float32Array.from(arr.data) });
  }
  const stacked = stack(bases, index.k ?? manifest?.settings?.k, index.channels);
  return {
    dir,
    source: "protoscope",
    ...(index.layer || manifest?.layer?.name
      ? {
        layer: {
          name: (index.layer ?? manifest?.layer?.name)!,
          ...(index.tensor ?? manifest?.layer?.tensor
            ? { tensor: index.tensor ?? manifest?.layer?.tensor }
            : {}),
        },
      }
      : {}),
    ...(manifest?.model?.sha256 ? { modelSha256: manifest.model.sha256 } : {}),
    ...stacked,
    withoutBasis: index.classes.filter((c) => c.status !== "done").map((c) => c.class).sort((a, b) => a - b),
  };
}

const WNID = /^n\d{8}$/;

/** Class index of a reference folder name: an integer, or an ImageNet wnid. */
function referenceClass(name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  if (WNID.test(name)) {
    const i = IMAGENET_CLASSES.findIndex((c) => c.wnid === name);
    return i >= 0 ? i : undefined;
  }
  return undefined;
}

async function readReference(dir: string, opts: ReadConceptsOptions): Promise<Concepts> {
  const found = new Map<number, string>();
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isDirectory) continue;
    const cls = referenceClass(entry.name);
    const file = join(dir, entry.name, "nmf", "nmf_basis.pt");
    if (cls === undefined || !(await exists(file))) continue;
    const other = found.get(cls);
    if (other) throw new Error(`${dir}: class ${cls} has two bases, ${other} and ${file}`);
    found.set(cls, file);
  }
  if (found.size === 0) {
    throw new Error(
      `--concepts ${dir}: neither protoscope's layout (concepts.json, <class>/basis.npy) nor the reference's ` +
        "(<class index or wnid>/nmf/nmf_basis.pt) was found",
    );
  }
  const wanted = opts.classes
    ? [...new Set(opts.classes)].sort((a, b) => a - b)
    : [...found.keys()].sort((a, b) => a - b);
  const missing = wanted.filter((c) => !found.has(c));
  if (missing.length) {
    throw new Error(
      `${dir}: no <class>/nmf/nmf_basis.pt for class${missing.length > 1 ? "es" : ""} ${missing.join(", ")}`,
    );
  }
  const bases: ClassBasis[] = [];
  for (const cls of wanted) {
    const file = found.get(cls)!;
    const t = await readTorchTensor(file);
    if (t.shape.length !== 2 || !(t.data instanceof Float64Array || t.data instanceof Float32Array)) {
      throw new Error(`${file}: expected a 2-D float tensor k x C, got ${t.dtype} [${t.shape}]`);
    }
    bases.push({ cls, file, rows: t.shape[0], cols: t.shape[1], data: Float32Array.from(t.data) });
  }
  return { dir, source: "reference", ...stack(bases), withoutBasis: [] };
}

/** Stacks the per-class bases, checking that every class has the same k and C (and the expected ones). */
function stack(
  bases: ClassBasis[],
  expectedK?: number,
  expectedC?: number,
): Pick<Concepts, "k" | "channels" | "classes" | "bases" | "prototypeClass"> {
  const first = bases[0];
  const k = expectedK ?? first.rows;
  const channels = expectedC ?? first.cols;
  for (const b of bases) {
    if (b.rows !== k) {
      throw new Error(
        `${b.file}: ${b.rows} prototypes, but ${
          expectedK !== undefined ? "concepts.json (or manifest.json) says k =" : `${first.file} has`
        } ${k}`,
      );
    }
    if (b.cols !== channels) {
      throw new Error(
        `${b.file}: ${b.cols} channels, but ${
          expectedC !== undefined ? "concepts.json says" : `${first.file} has`
        } ${channels}`,
      );
    }
    for (let i = 0; i < b.data.length; i++) {
      if (!Number.isFinite(b.data[i])) {
        throw new Error(`${b.file}: value ${i} (prototype ${Math.floor(i / channels)}) is not finite`);
      }
    }
  }
  const out = new Float32Array(bases.length * k * channels);
  const prototypeClass = new Int32Array(bases.length * k);
  bases.forEach((b, i) => {
    out.set(b.data, i * k * channels);
    prototypeClass.fill(b.cls, i * k, (i + 1) * k);
  });
  return { k, channels, classes: bases.map((b) => b.cls), bases: out, prototypeClass };
}
