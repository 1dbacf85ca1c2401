// What `deno task merge` checks and rewrites for every sharded task: the parts' manifests must come from one
// task with one model, layer, settings and data, and hold every shard 1..n exactly once; the shard marks
// (`shard` keys, the part's own --out in paths) are then taken out so the merged files read as one run's.
import { dirname, join } from "node:path";
import { UsageError } from "../cli/cli.ts";
import { exists, readJsonIfExists, temporaryPath, writeFileAtomic } from "./atomic.ts";
import { completeManifest, type InputRef, inputRef } from "./manifest.ts";
import type { SkippedImage } from "./skipped.ts";

export interface ShardMark {
  index: number;
  count: number;
  /** The --out the part was written to, as given to its run. */
  out: string;
}

export interface PartManifest {
  task: string;
  shard?: ShardMark;
  [key: string]: unknown;
}

export interface Part<M extends PartManifest = PartManifest> {
  /** The folder as named on the merge's command line. */
  dir: string;
  manifest: M;
  shard: ShardMark;
}

/** Fields of a manifest that legitimately differ between parts (when and where each ran). */
const PER_RUN = new Set(["created", "device", "versions", "inputs", "outputs", "complete"]);

/**
 * A copy of `value` as one run writing to `out` would have written it: every `shard` key removed and every
 * string naming `from` (a part's --out) or a path in it renamed to `out`.
 */
export function unshard<T>(value: T, from: string, out: string): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") {
      if (v === from) return out;
      return v.startsWith(`${from}/`) ? `${out}${v.slice(from.length)}` : v;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === "object") {
      return Object.fromEntries(
        Object.entries(v).filter(([k]) => k !== "shard").map(([k, x]) => [k, walk(x)]),
      );
    }
    return v;
  };
  return walk(value) as T;
}

/** The top-level manifest fields in which two parts differ (after unshard), ignoring when and where they ran. */
function differences(a: PartManifest, b: PartManifest): string[] {
  const keys = new Set(
    [...Object.keys(a), ...Object.keys(b)].filter((k) => k !== "shard" && !PER_RUN.has(k)),
  );
  const differ: string[] = [];
  for (const k of keys) {
    const [x, y] = [unshard(a[k], a.shard!.out, "<out>"), unshard(b[k], b.shard!.out, "<out>")];
    if (JSON.stringify(x) === JSON.stringify(y)) continue;
    if (k === "settings" && x && y && typeof x === "object" && typeof y === "object") {
      const s = new Set([...Object.keys(x), ...Object.keys(y)]);
      const [sx, sy] = [x as Record<string, unknown>, y as Record<string, unknown>];
      for (const n of s) {
        if (JSON.stringify(sx[n]) !== JSON.stringify(sy[n])) {
          differ.push(`setting ${n} (${JSON.stringify(sx[n])} vs ${JSON.stringify(sy[n])})`);
        }
      }
    } else differ.push(k);
  }
  return differ;
}

/**
 * Checks the parts of one sharded run: same task (`task`, when given), every part a shard, one n, every shard
 * 1..n exactly once, identical model, layer, settings and data. Returns the parts in shard order. Errors
 * name the part.
 */
export function checkParts<M extends PartManifest>(
  parts: { dir: string; manifest: M }[],
  task?: string,
): Part<M>[] {
  if (!parts.length) throw new UsageError("--parts: name the shard output folders to merge");
  const first = parts[0];
  for (const p of parts) {
    if (!p.manifest.shard) {
      throw new UsageError(
        `--parts ${p.dir}: not a shard's output (its manifest has no shard; was --shard given?)`,
      );
    }
    if (p.manifest.task !== (task ?? first.manifest.task)) {
      throw new UsageError(
        `--parts ${p.dir}: written by '${p.manifest.task}', but ${task ? "merging" : first.dir + " holds"} '${
          task ?? first.manifest.task
        }' output`,
      );
    }
  }
  const n = first.manifest.shard!.count;
  const seen = new Map<number, string>();
  for (const p of parts) {
    const s = p.manifest.shard!;
    if (s.count !== n) {
      throw new UsageError(
        `--parts ${p.dir}: shard ${s.index}/${s.count}, but ${first.dir} is one of ${n} shards`,
      );
    }
    if (seen.has(s.index)) {
      throw new UsageError(
        `--parts ${p.dir}: shard ${s.index}/${n} is given twice (also ${seen.get(s.index)})`,
      );
    }
    seen.set(s.index, p.dir);
    const differ = differences(first.manifest, p.manifest);
    if (differ.length) {
      throw new UsageError(
        `--parts ${p.dir}: not the same run as ${first.dir}: ${differ.join("; ")} differ ` +
          "(every shard must use the same model, layer, settings and data)",
      );
    }
  }
  const missing = Array.from({ length: n }, (_, i) => i + 1).filter((i) => !seen.has(i));
  if (missing.length) {
    throw new UsageError(
      `--parts: shard${missing.length > 1 ? "s" : ""} ${missing.join(", ")} of ${n} missing`,
    );
  }
  return parts.map((p) => ({ ...p, shard: p.manifest.shard! })).sort((a, b) => a.shard.index - b.shard.index);
}

/**
 * Refuses a part whose run has not finished: its manifest.json (read here unless given; predict and
 * component-test also keep a copy in their JSON output) says `complete: false`.
 */
export async function refuseUnfinishedPart(
  dir: string,
  task: string,
  manifest?: PartManifest,
): Promise<void> {
  manifest ??= await readJsonIfExists<PartManifest>(join(dir, "manifest.json"));
  if (manifest?.complete === false) {
    throw new UsageError(
      `--parts ${dir}: expected a finished ${task} shard, found one whose run has not finished ` +
        "(manifest.json complete: false; still running or killed): rerun that shard, it resumes",
    );
  }
}

/** Reads and checks the parts whose manifest is `<dir>/manifest.json` (see checkParts). */
export async function readParts(dirs: string[], task: string): Promise<Part[]> {
  const parts: { dir: string; manifest: PartManifest }[] = [];
  for (const dir of dirs) {
    const manifest = await readJsonIfExists<PartManifest>(join(dir, "manifest.json"));
    if (!manifest) throw new UsageError(`--parts ${dir}: no manifest.json (not a ${task} output folder)`);
    await refuseUnfinishedPart(dir, task, manifest);
    parts.push({ dir, manifest });
  }
  return checkParts(parts, task);
}

/**
 * Each part's `file` (a JSON output, in the parts' order) as one run writing to `out` would have written it
 * (unshard); refuses a part without it, which has not finished.
 */
export async function readPartOutputs<T>(parts: Part[], file: string, out: string): Promise<T[]> {
  const outputs: T[] = [];
  for (const p of parts) {
    const value = await readJsonIfExists<T>(join(p.dir, file));
    if (!value) throw new Error(`--parts ${p.dir}: no ${file} (did that shard finish?)`);
    outputs.push(unshard(value, p.shard.out, out));
  }
  return outputs;
}

/**
 * Puts `name` (a path relative to the folders) from `from` into `to`, atomically; false when absent. A hard
 * link where the filesystem allows, so a merge needs no second copy of the parts on disk (8 GB of hyperplane
 * rows at K = 1000, C = 1024), else a copy. Sharing the file is safe: every writer replaces a file by rename
 * (writeFileAtomic, NpyStreamWriter), never in place, so a later run on a part never changes the merged
 * folder, or the other way round.
 */
export async function copyPartFile(from: string, to: string, name: string): Promise<boolean> {
  const source = join(from, name), target = join(to, name);
  if (!(await exists(source))) return false;
  await Deno.mkdir(dirname(target), { recursive: true });
  const tmp = temporaryPath(target);
  try {
    await Deno.link(source, tmp);
  } catch {
    // Another filesystem, or one without hard links: copy.
    await writeFileAtomic(target, await Deno.readFile(source));
    return true;
  }
  try {
    await Deno.rename(tmp, target);
  } finally {
    // Gone after a rename, except when target was already this very file (a merge done again): then rename
    // does nothing and leaves tmp.
    await Deno.remove(tmp).catch(() => {});
  }
  return true;
}

/**
 * The skipped images of all parts in one list, in shard order, each once: images skipped before the work was
 * split (e.g. unreadable when predicted) are in every part's list and appear once, where the first part has
 * them.
 */
export function mergeSkipped(lists: SkippedImage[][]): SkippedImage[] {
  const seen = new Set<string>();
  return lists.flat().filter((s) => {
    const key = JSON.stringify([s.index, s.path, s.reason]);
    return !seen.has(key) && seen.add(key);
  });
}

/** The merged folder's manifest, written last: the first part's, unsharded, listing the merged folder's files. */
export async function writeMergedManifest(parts: Part[], out: string): Promise<void> {
  const { outputs: _o, complete: _c, ...manifest } = unshard(
    parts[0].manifest,
    parts[0].shard.out,
    out,
  );
  // An input inside the merged folder (the predictions the shards computed) is referenced as merged.
  const inputs = manifest.inputs as Record<string, InputRef> | undefined;
  for (const [flag, ref] of Object.entries(inputs ?? {})) {
    if (ref.path.startsWith(`${out}/`)) inputs![flag] = await inputRef(ref.path, ref.kind);
  }
  await completeManifest(out, manifest);
}
