// Claims a task's output folder before any compute: checks that --out is (or can become) a writable folder,
// takes a lock file naming the owning process so two runs never interleave their outputs, and removes the
// temporaries that killed runs left behind. A lock whose owner is gone (SIGKILL, power loss, a pod on another
// host) is taken over (out_lock.ts).
import { join } from "node:path";
import { UsageError } from "../cli/cli.ts";
import { isStrayTemporary } from "./atomic.ts";
import { processAlive, takeOutLock } from "./out_lock.ts";

export interface OutDir {
  path: string;
  /** Removes the lock (idempotent). */
  release(): Promise<void>;
}

/** Checks that `out` is a writable folder (creating it), without leaving anything behind. */
export async function checkWritableFolder(out: string, flag = "--out"): Promise<void> {
  try {
    const info = await Deno.stat(out);
    if (!info.isDirectory) {
      throw new UsageError(`${flag} ${out} is a file, not a folder: choose a folder path`);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  try {
    await Deno.mkdir(out, { recursive: true });
    const probe = join(out, `.protoscope-write-probe-${Deno.pid}`);
    await Deno.writeTextFile(probe, "");
    await Deno.remove(probe);
  } catch (e) {
    throw new UsageError(`${flag} ${out} is not a writable folder (${(e as Error).message})`);
  }
}

/** Removes the temporary files of runs that are no longer alive, in `dir` and one level of subfolders. */
export async function removeStrayTemporaries(dir: string): Promise<string[]> {
  const removed: string[] = [];
  const visit = async (d: string, depth: number) => {
    for await (const entry of Deno.readDir(d)) {
      const path = join(d, entry.name);
      if (entry.isDirectory && depth > 0) await visit(path, depth - 1);
      const pid = entry.isFile ? isStrayTemporary(entry.name) : undefined;
      if (pid !== undefined && !(pid === Deno.pid || processAlive(pid))) {
        await Deno.remove(path).catch(() => {});
        removed.push(path);
      }
    }
  };
  await visit(dir, 1);
  return removed;
}

/**
 * Validates and locks `out` for `task` (out_lock.ts: refused while a live owner holds it, a stale lock taken
 * over). Call release() when done (runs that die leave a lock that goes stale).
 */
export async function claimOutDir(out: string, task: string, flag = "--out"): Promise<OutDir> {
  await checkWritableFolder(out, flag);
  const lock = await takeOutLock(out, task, flag);
  const removed = await removeStrayTemporaries(out);
  if (removed.length) console.error(`${out}: removed ${removed.length} temporary files of interrupted runs`);
  return { path: out, release: lock.release };
}

/**
 * Runs `fn` with `out` claimed for `task`, releasing it however `fn` ends. A folder this run created and left
 * empty (it failed before writing anything, e.g. on a bad argument) is removed again.
 */
export async function withOutDir<T>(out: string, task: string, fn: () => Promise<T>): Promise<T> {
  const existed = await Deno.stat(out).then(() => true, () => false);
  const dir = await claimOutDir(out, task);
  try {
    return await fn();
  } finally {
    await dir.release();
    // Deno.remove of a non-empty folder fails: only an empty one goes.
    if (!existed) await Deno.remove(out).catch(() => {});
  }
}
