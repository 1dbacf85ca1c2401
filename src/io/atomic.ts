// Outputs are written to a temporary sibling and renamed, so a crash never leaves half a file. Temporaries are
// named `.<name>.protoscope-tmp-<pid>-<random>`, so a later run can recognise and remove those of dead runs.
import { basename, dirname, join } from "node:path";

const TEMPORARY = /\.protoscope-tmp-(\d+)-[0-9a-f]{8}$/;
/** The naming of temporaries before they were marked (`<name>.tmp-<pid>-<random>`). */
const OLD_TEMPORARY = /\.tmp-(\d+)-[0-9a-f]{8}$/;

/** The temporary sibling that an atomic write of `path` by this process uses. */
export function temporaryPath(path: string): string {
  return join(
    dirname(path),
    `.${basename(path)}.protoscope-tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`,
  );
}

/** The writer's PID when `name` is a temporary of an atomic write, else undefined. */
export function isStrayTemporary(name: string): number | undefined {
  const m = TEMPORARY.exec(name) ?? OLD_TEMPORARY.exec(name);
  return m ? Number(m[1]) : undefined;
}

export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = temporaryPath(path);
  if (typeof data === "string") await Deno.writeTextFile(tmp, data);
  else await Deno.writeFile(tmp, data);
  await Deno.rename(tmp, path);
}

export function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  return writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

export async function readJsonIfExists<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`${path}: cannot read JSON (${(e as Error).message})`);
  }
}

/**
 * Like readJsonIfExists, but a file that is not valid JSON (a run killed mid-write before writes were atomic,
 * a disk error) is reported on stderr and treated as absent, so the work it recorded is redone.
 */
export async function readJsonOrRedo<T>(path: string, what: string): Promise<T | undefined> {
  try {
    return await readJsonIfExists<T>(path);
  } catch (e) {
    console.error(`warning: ${(e as Error).message}: the ${what} is corrupt; redoing that part`);
    await Deno.remove(path).catch(() => {});
    return undefined;
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Writes every byte (a single write may take only part of the buffer). */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await file.write(bytes.subarray(off));
}
