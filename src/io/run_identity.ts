// What a resumable result was computed from: the model's hash, the layer, the settings and the data's
// identity. Every task that resumes or reuses earlier work (predict's checkpoint, predictions found by later
// stages, concepts' finished classes) stores one and compares it with the current run's, so work from other
// inputs of the same size is never mixed in; a mismatch is refused naming what changed and how to start over.
import { join } from "node:path";
import { sha256Hex } from "../onnx/model.ts";
import { UsageError } from "../cli/cli.ts";
import { contentHashes } from "./content_hashes.ts";

export interface RunIdentity {
  /** SHA-256 of the model file. */
  model: string;
  layer?: string;
  /** Settings that change the result (not batch sizes or worker counts). */
  settings: Record<string, unknown>;
  data: DataIdentity;
}

export interface DataIdentity {
  /** Images used (after --limit). */
  count: number;
  /** SHA-256 over every used image's label and content hash, in order (dataIdentity). */
  sha256: string;
}

/** What a dataset must offer for its identity: its source, its images in order, and a prepared cache's folder. */
export interface IdentifiableData {
  readonly source: "cache" | "raw";
  readonly root: string;
  readonly entries: readonly { path: string; label?: number | null }[];
  /** The cache folder (index.json + images.npy), for a prepared cache. */
  readonly cacheDir?: string;
}

/**
 * One stamp per image, from what it holds, never where it is: for a raw folder the SHA-256 of its file's bytes
 * (io/content_hashes.ts, cached by size and times); for a prepared cache the hash of the cache's index (whose
 * fingerprint covers every source file's content hash) and the size of its images.npy, since the pixels read
 * come from there.
 */
export async function dataStamps(data: IdentifiableData): Promise<string[]> {
  if (data.source === "cache" && data.cacheDir) {
    const index = await Deno.readFile(join(data.cacheDir, "index.json"));
    const images = await Deno.stat(join(data.cacheDir, "images.npy"));
    const stamp = `cache:${(await sha256Hex(index)).slice(0, 16)}:${images.size}`;
    return data.entries.map(() => stamp);
  }
  return await contentHashes(data.root, data.entries.map((e) => e.path));
}

/** Whether a stamp says what a file holds (dataStamps), so that it identifies the image wherever it lies. */
export function isContentStamp(stamp: string | undefined): boolean {
  return stamp?.startsWith("sha256:") ?? false;
}

/**
 * The identity of the images a run uses, from their labels (a changed label file counts) and stamps, in order:
 * a copied data folder is the same data. A cache's stamps do not tell its images apart, so there the paths
 * count too.
 */
export async function dataIdentity(data: IdentifiableData, stamps?: string[]): Promise<DataIdentity> {
  stamps ??= await dataStamps(data);
  const lines = data.entries.map((e, i) =>
    `${isContentStamp(stamps![i]) ? "" : e.path}\t${e.label ?? ""}\t${stamps![i]}`
  ).join("\n");
  return { count: data.entries.length, sha256: await sha256Hex(new TextEncoder().encode(lines)) };
}

const short = (v: unknown) => {
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return s && s.length > 16 && /^[0-9a-f]+$/.test(s) ? `${s.slice(0, 12)}…` : s;
};

/** What differs between a saved identity and the current one, as phrases for a message; empty when equal. */
export function identityChanges(saved: Partial<RunIdentity> | undefined, current: RunIdentity): string[] {
  if (!saved || typeof saved !== "object" || !saved.data) {
    return ["it records no input identity (made by an older protoscope)"];
  }
  const changes: string[] = [];
  if (saved.model !== current.model) {
    changes.push(`model changed (sha256 ${short(saved.model)} then, ${short(current.model)} now)`);
  }
  if ((saved.layer ?? null) !== (current.layer ?? null)) {
    changes.push(`layer changed (${saved.layer} then, ${current.layer} now)`);
  }
  const keys = new Set([...Object.keys(saved.settings ?? {}), ...Object.keys(current.settings)]);
  for (const k of keys) {
    const [a, b] = [saved.settings?.[k], current.settings[k]];
    if (JSON.stringify(a) !== JSON.stringify(b)) {
      changes.push(`setting ${k} changed (${short(a)} then, ${short(b)} now)`);
    }
  }
  if (saved.data.count !== current.data.count) {
    changes.push(`data changed (${saved.data.count} images then, ${current.data.count} now)`);
  } else if (saved.data.sha256 !== current.data.sha256) {
    changes.push(
      "data changed (same number of images, but other file contents or labels)",
    );
  }
  return changes;
}

/** Thrown when earlier work in --out was made from other inputs: a refusal (exit 2), not a failure. */
export class IdentityMismatch extends UsageError {
  constructor(readonly where: string, readonly changes: string[]) {
    super(
      `${where} was made from other inputs: ${changes.join("; ")}. ` +
        "Refusing to mix them: pass --fresh to discard it and start over, or choose another --out",
    );
    this.name = "IdentityMismatch";
  }
}

/** Throws IdentityMismatch unless `saved` equals `current`. */
export function assertSameIdentity(
  saved: Partial<RunIdentity> | undefined,
  current: RunIdentity,
  where: string,
): void {
  const changes = identityChanges(saved, current);
  if (changes.length) throw new IdentityMismatch(where, changes);
}
