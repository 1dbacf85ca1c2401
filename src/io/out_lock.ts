// The lock file that makes one run the owner of an output folder, on one machine or across the hosts of a
// cluster that share the folder. The owner rewrites the lock's `heartbeat` every quarter lease, from a worker
// thread so that long synchronous work cannot silence it. On the owner's own host its process table decides: a
// live PID keeps the lock, an exited one loses it at once. From another host (a retried Kubernetes pod has a new
// hostname, a requeued Slurm job another node) a lock whose heartbeat is older than the lease is taken over; one
// with a fresh heartbeat is watched until the owner's next heartbeat (a live owner: refused) or for up to a
// lease (a dead one: taken over), so a pod retried seconds after its predecessor died waits instead of failing.
//
// Heartbeats are wall-clock times written by the owner and read by another host, so hosts' clocks must agree to
// well within the lease (NTP does); the watch itself is timed on the reader's clock.
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { UsageError } from "../cli/cli.ts";
import { temporaryPath } from "./atomic.ts";

export const LOCK_FILE = ".protoscope.lock";
/** How long a lock outlives its owner's last heartbeat, unless PROTOSCOPE_LOCK_LEASE_S says otherwise. */
export const DEFAULT_LOCK_LEASE_S = 120;
export const LOCK_LEASE_ENV = "PROTOSCOPE_LOCK_LEASE_S";

export interface LockRecord {
  pid: number;
  task: string;
  host: string;
  started: string;
  /** When the owner last said it is alive (ISO time); locks of older versions have none (their mtime counts). */
  heartbeat?: string;
  /** The lease the owner promised to refresh within, in seconds. */
  leaseSeconds?: number;
}

export interface OutLock {
  path: string;
  /** Stops the heartbeat and removes the lock if it is still ours (idempotent). */
  release(): Promise<void>;
}

/** Locks held by this process, so that a lock file with our own PID from a crashed earlier use is stale. */
const held = new Set<string>();

/** The lease in seconds: PROTOSCOPE_LOCK_LEASE_S if set (tests use a fraction of a second), else 120. */
export function lockLeaseSeconds(): number {
  const raw = Deno.env.get(LOCK_LEASE_ENV);
  if (raw === undefined || raw === "") return DEFAULT_LOCK_LEASE_S;
  const value = Number(raw);
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new UsageError(`${LOCK_LEASE_ENV}=${raw}: expected a number of seconds > 0`);
  }
  return value;
}

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

/** The lock on disk with the time of its last heartbeat (ms), or undefined when there is none. */
async function readLock(path: string): Promise<{ owner: LockRecord; beat: number } | undefined> {
  let text: string, mtime: number;
  try {
    [text, mtime] = await Promise.all([
      Deno.readTextFile(path),
      Deno.stat(path).then((s) => s.mtime?.getTime() ?? 0),
    ]);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  try {
    const owner = JSON.parse(text) as LockRecord;
    const beat = Date.parse(owner.heartbeat ?? "");
    return { owner, beat: Number.isFinite(beat) ? beat : mtime };
  } catch {
    // Half-written by a run killed while creating it (created empty, then written): nobody owns it once the
    // moment of writing has passed.
    return { owner: { pid: -1, task: "?", host: "?", started: "?" }, beat: mtime };
  }
}

/**
 * Why `owner`'s lock may be taken over by this process on `host`, or undefined while its owner counts as alive:
 * on this host when its process is gone, from another host when its heartbeat is older than the lease, and an
 * unreadable lock (a run killed while creating it) a few seconds after it was written.
 */
export function staleReason(
  owner: LockRecord,
  beat: number,
  now: number,
  host: string,
  leaseSeconds: number,
  ownedHere: boolean,
): string | undefined {
  const age = (now - beat) / 1000;
  if (owner.pid === -1) return age > Math.min(5, leaseSeconds) ? "an unreadable lock" : undefined;
  // On the owner's own host its process table is the better witness: a live PID keeps the lock whatever the
  // heartbeat, a dead one loses it at once.
  if (owner.host === host) {
    if (owner.pid === Deno.pid) return ownedHere ? undefined : "left by an earlier use in this process";
    return processAlive(owner.pid) ? undefined : "no longer running";
  }
  return age > leaseSeconds ? `no heartbeat for ${age.toFixed(0)} s, lease ${leaseSeconds} s` : undefined;
}

type Watched =
  | { state: "alive"; owner: LockRecord }
  | { state: "released" }
  | { state: "stale"; reason: string };

/**
 * Watches another host's lock whose heartbeat is within the lease: a new heartbeat (due every quarter lease)
 * or a new owner shows it alive; one that stays the same until it is a lease old, or for a whole lease
 * measured here (so that a clock difference between the hosts cannot keep a dead lock alive), shows it stale.
 */
async function watchForeignLock(
  path: string,
  seen: { owner: LockRecord; beat: number },
  leaseSeconds: number,
): Promise<Watched> {
  const start = performance.now();
  const pollMs = Math.min(1000, (leaseSeconds * 1000) / 8);
  for (;;) {
    await new Promise((r) => setTimeout(r, pollMs));
    const now = await readLock(path);
    if (!now) return { state: "released" };
    if (!sameOwner(now.owner, seen.owner) || now.beat !== seen.beat) {
      return { state: "alive", owner: now.owner };
    }
    const watched = (performance.now() - start) / 1000;
    const age = (Date.now() - now.beat) / 1000;
    if (now.owner.pid === -1 && age > Math.min(5, leaseSeconds)) {
      return { state: "stale", reason: "an unreadable lock" };
    }
    if (age > leaseSeconds || watched > leaseSeconds) {
      return {
        state: "stale",
        reason: `no heartbeat for ${Math.max(age, watched).toFixed(0)} s, lease ${leaseSeconds} s`,
      };
    }
  }
}

function sameOwner(a: LockRecord, b: LockRecord): boolean {
  return a.pid === b.pid && a.host === b.host && a.started === b.started;
}

/**
 * Takes the lock of folder `out` for `task`. Refuses (naming the owner) while a live owner holds it; takes over
 * a stale lock (staleReason). The heartbeat runs until release(); a run that dies leaves a lock that goes stale.
 */
export async function takeOutLock(out: string, task: string, flag = "--out"): Promise<OutLock> {
  const leaseSeconds = lockLeaseSeconds();
  const path = join(out, LOCK_FILE);
  const host = Deno.hostname();
  const started = new Date().toISOString();
  const record: LockRecord = { pid: Deno.pid, task, host, started, heartbeat: started, leaseSeconds };
  const inUse = (owner: LockRecord) =>
    new UsageError(
      `${flag} ${out} is in use by '${owner.task}' (PID ${owner.pid} on ${owner.host}, since ${owner.started}); ` +
        `wait for it or choose another ${flag}. Its lock is taken over once that process has exited (on its ` +
        `host) or its heartbeat is ${leaseSeconds} s old (from another host)`,
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
    const found = await readLock(path);
    if (!found) continue;
    let why = staleReason(found.owner, found.beat, Date.now(), host, leaseSeconds, held.has(path));
    if (!why && found.owner.host !== host) {
      // Another host's process cannot be asked whether it runs: its next heartbeat says so.
      const age = Math.max(0, (Date.now() - found.beat) / 1000);
      console.error(
        `${out}: locked by '${found.owner.task}' (PID ${found.owner.pid} on ${found.owner.host}), heartbeat ` +
          `${age.toFixed(0)} s old: waiting up to ${
            Math.ceil(leaseSeconds - age)
          } s to see whether it is alive`,
      );
      const seen = await watchForeignLock(path, found, leaseSeconds);
      if (seen.state === "released") continue;
      if (seen.state === "alive") throw inUse(seen.owner);
      why = seen.reason;
    }
    if (!why) throw inUse(found.owner);
    console.error(
      `${out}: taking over the lock of '${found.owner.task}' (PID ${found.owner.pid} on ${found.owner.host}, ${why})`,
    );
    await Deno.remove(path).catch(() => {});
    tookOver = true;
  }
  if (tookOver) {
    // Two runs that found the same stale lock may both remove it; the one whose lock is not on disk a moment
    // later yields.
    await new Promise((r) => setTimeout(r, 100));
    const found = await readLock(path);
    if (found && !sameOwner(found.owner, record)) throw inUse(found.owner);
  }
  held.add(path);

  const heartbeat = startHeartbeat(path, record, leaseSeconds, out);

  return {
    path,
    async release() {
      await heartbeat.stop();
      if (!held.delete(path)) return;
      const found = await readLock(path).catch(() => undefined);
      if (found && sameOwner(found.owner, record)) await Deno.remove(path).catch(() => {});
    },
  };
}

/**
 * The heartbeat runs in a worker thread: a long synchronous stretch on the main thread (the CPU twin trains a
 * whole tile of pairs in one call) must not look like a dead owner. The worker's code is inline (an `eval`
 * worker), so the single binary needs no extra file; unref'd, it never keeps the process alive. Each beat
 * checks that the lock is still this run's, then replaces it atomically (temporary file, rename).
 */
const HEARTBEAT_WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const fs = require("node:fs");
const { path, tmp, record, intervalMs } = workerData;
const ours = (o) => !!o && o.pid === record.pid && o.host === record.host && o.started === record.started;
const timer = setInterval(() => {
  let owner;
  try { owner = JSON.parse(fs.readFileSync(path, "utf8")); } catch { owner = undefined; }
  if (!ours(owner)) {
    clearInterval(timer);
    parentPort.postMessage({ lost: owner ?? null });
    return;
  }
  try {
    fs.writeFileSync(tmp, JSON.stringify({ ...record, heartbeat: new Date().toISOString() }));
    fs.renameSync(tmp, path);
  } catch (e) {
    parentPort.postMessage({ error: String((e && e.message) || e) });
  }
}, intervalMs);
`;

function startHeartbeat(
  path: string,
  record: LockRecord,
  leaseSeconds: number,
  out: string,
): { stop(): Promise<void> } {
  const worker = new Worker(HEARTBEAT_WORKER, {
    eval: true,
    workerData: { path, tmp: temporaryPath(path), record, intervalMs: leaseSeconds * 250 },
  });
  worker.unref();
  worker.on("message", (m: { lost?: LockRecord | null; error?: string }) => {
    if (m.error) console.error(`warning: ${path}: could not refresh the lock's heartbeat (${m.error})`);
    if (m.lost === undefined) return;
    console.error(
      `warning: ${out}: the lock was taken over by ${
        m.lost ? `'${m.lost.task}' (PID ${m.lost.pid} on ${m.lost.host})` : "nobody (removed)"
      } while this run held it: its heartbeat was late by more than the ${leaseSeconds} s lease`,
    );
  });
  return {
    async stop() {
      await worker.terminate();
    },
  };
}
