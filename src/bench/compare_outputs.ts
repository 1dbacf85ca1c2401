// Whether two output folders of the same work hold the same results: the same files, .npy and other binary
// files byte for byte, .json after dropping the keys that differ between any two runs (timestamps,
// throughputs, cache hits) and after writing each folder's own path as one token. What tests/shard_merge_test.ts asserts
// on the 8-class fixture, as a count that the scale rehearsal can report at K = 1000.
import { join, relative } from "node:path";

/** Keys whose values differ between two runs of the same work. */
export const PER_RUN_KEYS: ReadonlySet<string> = new Set([
  "created",
  "imagesPerSecond",
  "searchSeconds",
  "compositeSeconds",
  "compositesPerSecond",
  // Whether a class's attribution came from the shared cache: how it ran, not what it found.
  "attributionCached",
]);

export interface OutputComparison {
  same: boolean;
  files: number;
  /** Relative paths present in only one folder, or whose content differs (the first 20). */
  differing: string[];
}

async function filesUnder(root: string, dir = root, found: string[] = []): Promise<string[]> {
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) await filesUnder(root, p, found);
    else found.push(relative(root, p));
  }
  return found;
}

export function withoutPerRunKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutPerRunKeys);
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.entries(v).filter(([k]) => !PER_RUN_KEYS.has(k)).map(([k, x]) => [k, withoutPerRunKeys(x)]),
    );
  }
  return v;
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

export async function compareOutputs(one: string, other: string): Promise<OutputComparison> {
  const [fa, fb] = [(await filesUnder(one)).sort(), (await filesUnder(other)).sort()];
  const inB = new Set(fb);
  const differing = [...fa.filter((f) => !inB.has(f)), ...fb.filter((f) => !fa.includes(f))];
  const json = (s: string, root: string) =>
    JSON.stringify(withoutPerRunKeys(JSON.parse(s.replaceAll(root, "<out>"))), null, 2);
  for (const f of fa.filter((f) => inB.has(f))) {
    const [a, b] = [await Deno.readFile(join(one, f)), await Deno.readFile(join(other, f))];
    const dec = new TextDecoder();
    const same = f.endsWith(".json")
      ? json(dec.decode(a), one) === json(dec.decode(b), other)
      : sameBytes(a, b);
    if (!same) differing.push(f);
  }
  return { same: differing.length === 0, files: fa.length, differing: differing.slice(0, 20) };
}
