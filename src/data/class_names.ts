// Class names for outputs: ImageNet's when the model has 1000 outputs, else the dataset's when they match.
import imagenetIndex from "./imagenet_class_index.json" with { type: "json" };

export const IMAGENET_CLASSES: { wnid: string; name: string }[] = Object.entries(
  imagenetIndex as unknown as Record<string, [string, string]>,
).sort((a, b) => Number(a[0]) - Number(b[0])).map(([, [wnid, name]]) => ({ wnid, name }));

export function classNamesFor(numClasses: number, datasetNames?: string[]): string[] | undefined {
  if (numClasses === IMAGENET_CLASSES.length) return IMAGENET_CLASSES.map((c) => c.name);
  if (datasetNames?.length === numClasses) return datasetNames;
  return undefined;
}

/** A remark when the data's labelled classes are not the model's (labels are then compared by index). */
export function classCountNote(numClasses: number, datasetNames?: string[]): string | undefined {
  if (!datasetNames || datasetNames.length === numClasses) return undefined;
  const shown = datasetNames.slice(0, 4).join(", ") + (datasetNames.length > 4 ? ", ..." : "");
  return `the data has ${datasetNames.length} classes (${shown}) but the model scores ${numClasses}: ` +
    "labels are compared with the model's outputs by index, check that they mean the same classes";
}

/**
 * A `--class` argument as a class index: an index, a class name (exact, case-insensitive, spaces or
 * underscores), or an ImageNet wnid. Fails naming the argument and close matches.
 */
export function resolveClassArg(arg: string, numClasses: number, names?: string[]): number {
  const trimmed = arg.trim();
  if (/^\d+$/.test(trimmed)) {
    const index = Number(trimmed);
    if (index < numClasses) return index;
    throw new Error(`--class ${arg}: the model has ${numClasses} classes (0..${numClasses - 1})`);
  }
  const norm = (s: string) => s.toLowerCase().replace(/[\s_-]+/g, "_");
  const wanted = norm(trimmed);
  if (names) {
    const hit = names.findIndex((n) => norm(n) === wanted);
    if (hit >= 0) return hit;
  }
  if (numClasses === IMAGENET_CLASSES.length) {
    const byWnid = IMAGENET_CLASSES.findIndex((c) => c.wnid === trimmed);
    if (byWnid >= 0) return byWnid;
  }
  const near = (names ?? []).filter((n) => norm(n).includes(wanted)).slice(0, 8);
  throw new Error(
    `--class ${arg}: not a class index (0..${numClasses - 1}) or a known class name` +
      (near.length ? `; did you mean ${near.map((n) => `'${n}'`).join(", ")}?` : ""),
  );
}

/** A `--classes` list: "all", or comma-separated indices, ranges ("0-9") and names. Sorted, unique. */
export function parseClassList(arg: string | undefined, numClasses: number, names?: string[]): number[] {
  if (arg !== undefined && arg.trim() === "") {
    throw new Error(`--classes is empty: pass 'all' or a list like 0-9,250,malamute`);
  }
  if (arg === undefined || arg.trim() === "all") {
    return Array.from({ length: numClasses }, (_, i) => i);
  }
  const out = new Set<number>();
  for (const part of arg.split(",").map((p) => p.trim()).filter((p) => p)) {
    const range = /^(\d+)-(\d+)$/.exec(part);
    if (range) {
      const [a, b] = [Number(range[1]), Number(range[2])];
      if (a > b || b >= numClasses) {
        throw new Error(`--classes ${arg}: range '${part}' is not within 0..${numClasses - 1}`);
      }
      for (let c = a; c <= b; c++) out.add(c);
    } else {
      try {
        out.add(resolveClassArg(part, numClasses, names));
      } catch (e) {
        throw new Error(`--classes ${arg}: ${(e as Error).message.replace(/^--class [^:]*: /, "")}`);
      }
    }
  }
  return [...out].sort((a, b) => a - b);
}
