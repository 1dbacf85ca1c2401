// What each image file holds, as the SHA-256 of its bytes: the data identity (io/run_identity.ts) is keyed on
// content, so a copied data folder is the same data and an edited file is other data even with its size and
// time restored. Hashing reads every byte once; the hashes are kept per data folder in the user's cache
// (PROTOSCOPE_HASH_CACHE, else $XDG_CACHE_HOME/protoscope/content-hashes, else ~/.cache/...), keyed by each
// file's size, modification time and change time, so a later run only stats the files. The change time is
// set by the system on every write and cannot be restored by the user (unlike the modification time), so an
// edit is never hidden by the cache. Deno reports the change time in whole seconds: as git does with its
// "racy" index entries, a hash taken in the same second as the file's last change is not trusted (an edit
// later in that second would leave every stamp equal) and is taken again next time. A cache that cannot be
// written (read-only home) only costs the rehash.
import { join, relative, resolve } from "node:path";
import { sha256Hex } from "../onnx/model.ts";
import { writeJsonAtomic } from "./atomic.ts";

/** Files hashed at once: enough to keep a disk busy, few enough to bound the memory held. */
const CONCURRENCY = 8;
const FORMAT = 2;

interface HashCacheFile {
  format: number;
  /** Relative path -> [size, mtime ms, ctime ms, sha256, when it was hashed (ms)]. */
  files: Record<string, [number, number, number, string, number]>;
}

/** Where the hashes of the data folder `root` are kept. */
export async function hashCachePath(root: string): Promise<string | undefined> {
  // Without permission to read the environment (the library embedded elsewhere) nothing is cached.
  const env = (name: string) => {
    try {
      return Deno.env.get(name) || undefined;
    } catch {
      return undefined;
    }
  };
  const home = env("HOME");
  const userCache = env("XDG_CACHE_HOME") ?? (home && join(home, ".cache"));
  const dir = env("PROTOSCOPE_HASH_CACHE") ??
    (userCache && join(userCache, "protoscope", "content-hashes"));
  if (!dir) return undefined;
  const key = await sha256Hex(new TextEncoder().encode(resolve(root)));
  return join(dir, `${key.slice(0, 32)}.json`);
}

async function readCache(path: string | undefined): Promise<HashCacheFile> {
  if (path) {
    try {
      const file = JSON.parse(await Deno.readTextFile(path)) as HashCacheFile;
      if (file.format === FORMAT && file.files && typeof file.files === "object") return file;
    } catch {
      // absent or unreadable: rebuilt below
    }
  }
  return { format: FORMAT, files: {} };
}

/**
 * `sha256:<hex>` of each file's bytes (`missing` for a file that cannot be read), in the order given; files
 * under `root` are looked up in and added to the folder's hash cache.
 */
export async function contentHashes(root: string, paths: readonly string[]): Promise<string[]> {
  const cachePath = await hashCachePath(root);
  const cache = await readCache(cachePath);
  let added = 0;
  const out = new Array<string>(paths.length);
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const i = next++;
      const path = paths[i];
      const key = relative(resolve(root), resolve(path));
      try {
        const info = await Deno.stat(path);
        const stamp: [number, number, number] = [
          info.size,
          info.mtime?.getTime() ?? 0,
          info.ctime?.getTime() ?? 0,
        ];
        const hit = cache.files[key];
        const second = (ms: number) => Math.floor(ms / 1000);
        if (
          hit && hit[0] === stamp[0] && hit[1] === stamp[1] && hit[2] === stamp[2] &&
          second(hit[2]) < second(hit[4])
        ) {
          out[i] = `sha256:${hit[3]}`;
          continue;
        }
        const hashedAt = Date.now();
        const sha = await sha256Hex(await Deno.readFile(path));
        cache.files[key] = [...stamp, sha, hashedAt];
        added++;
        out[i] = `sha256:${sha}`;
      } catch {
        out[i] = "missing";
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, paths.length) }, worker));
  if (added && cachePath) await writeJsonAtomic(cachePath, cache).catch(() => {});
  return out;
}
