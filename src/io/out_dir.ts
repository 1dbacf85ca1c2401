// Claims a task's output folder before any compute: checks that --out is (or can become) a writable folder,
// takes a lock file naming the owning process so two runs never interleave their outputs, and removes the
// temporaries that killed runs left behind. A lock whose process is gone (SIGKILL, power loss) is taken over.
import { join } from "node:path";
import { UsageError } from "../cli/cli.ts";
import { isStrayTemporary } from "./atomic.ts";

export const LOCK_FILE = ".protoscope.lock";

interface LockRecord {
  pid: number;
  task: string;
  host: string;
  started: string;
}

export interface OutDir {
  path: string;
  /** Removes the lock (idempotent). */
  release(): Promise<void>;
}

/** Locks held by this process, so that a lock file with our own PID from a crashed earlier use is stale. */
const held = new Set<string>();

/** Whether a process with this PID is running on this machine. */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    // Signal 0 delivers nothing; it only asks whether the process exists.
    Deno.kill(pid, 0 as unknown as Deno.Signal);
    return true;
  } catch (e) {
    return !(e instanceof Deno.errors.NotFound);
  }
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

async function readLock(path: string): Promise<LockRecord | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as LockRecord;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    // Half-written by a run killed while taking it: nobody owns it.
    return { pid: -1, task: "?", host: Deno.hostname(), started: "?" };
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
 * Validates and locks `out` for `task`. Refuses (naming the owner) when a live process holds the lock; takes
 * over a lock whose process has exited. Call release() when done (runs that die leave a stale lock).
 */
export async function claimOutDir(out: string, task: string, flag = "--out"): Promise<OutDir> {
  await checkWritableFolder(out, flag);
  const path = join(out, LOCK_FILE);
  const record: LockRecord = {
    pid: Deno.pid,
    task,
    host: Deno.hostname(),
    started: new Date().toISOString(),
  };
  const inUse = (owner: LockRecord) =>
    new UsageError(
      `${flag} ${out} is in use by '${owner.task}' (PID ${owner.pid} on ${owner.host}, since ${owner.started}); ` +
        `wait for it or choose another ${flag}. If that process is gone, delete ${path}`,
    );
  let tookOver = false;
  for (let attempt = 0;; attempt++) {
    if (attempt === 3) throw new Error(`${path}: could not take the lock (other runs keep taking it)`);
    try {
      await Deno.writeTextFile(path, JSON.stringify(record), { createNew: true });
      break;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
    const owner = await readLock(path);
    if (!owner) continue;
    const ours = owner.pid === Deno.pid && owner.host === record.host;
    const stale = owner.host === record.host && (ours ? !held.has(path) : !processAlive(owner.pid));
    if (!stale) throw inUse(owner);
    console.error(`${out}: taking over the lock of '${owner.task}' (PID ${owner.pid}, no longer running)`);
    await Deno.remove(path).catch(() => {});
    tookOver = true;
  }
  if (tookOver) {
    // Two runs that found the same stale lock may both remove it; the one whose lock is not on disk a moment
    // later yields.
    await new Promise((r) => setTimeout(r, 100));
    const owner = await readLock(path);
    if (owner && (owner.pid !== record.pid || owner.started !== record.started)) throw inUse(owner);
  }
  held.add(path);
  const removed = await removeStrayTemporaries(out);
  if (removed.length) console.error(`${out}: removed ${removed.length} temporary files of interrupted runs`);
  return {
    path: out,
    async release() {
      if (!held.delete(path)) return;
      await Deno.remove(path).catch(() => {});
    },
  };
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
