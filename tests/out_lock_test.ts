// Locks on --out across hosts (issue 18, case 7): the owner's heartbeat keeps its lock; a lock whose heartbeat
// is older than the lease is taken over whatever host wrote it (a retried Kubernetes pod has a new hostname);
// a live owner on another host is refused; on this host a dead PID is taken over at once.
import assert from "node:assert/strict";
import { join } from "node:path";
import { claimOutDir } from "../src/io/out_dir.ts";
import { writeFileAtomic } from "../src/io/atomic.ts";

const LOCK = ".protoscope.lock";
const work = await Deno.makeTempDir({ prefix: "protoscope-lock-" });

/** Runs `fn` with the lock lease set to `seconds` (PROTOSCOPE_LOCK_LEASE_S), restoring it after. */
async function withLease<T>(seconds: number | undefined, fn: () => Promise<T>): Promise<T> {
  const before = Deno.env.get("PROTOSCOPE_LOCK_LEASE_S");
  if (seconds === undefined) Deno.env.delete("PROTOSCOPE_LOCK_LEASE_S");
  else Deno.env.set("PROTOSCOPE_LOCK_LEASE_S", String(seconds));
  try {
    return await fn();
  } finally {
    if (before === undefined) Deno.env.delete("PROTOSCOPE_LOCK_LEASE_S");
    else Deno.env.set("PROTOSCOPE_LOCK_LEASE_S", before);
  }
}

/**
 * A lock as another host's run writes it, its last heartbeat `ageSeconds` ago; `legacy`: as versions before
 * heartbeats wrote it (no heartbeat field: the file's time counts).
 */
async function foreignLock(out: string, ageSeconds: number, legacy = false): Promise<void> {
  await Deno.mkdir(out, { recursive: true });
  const then = new Date(Date.now() - ageSeconds * 1000);
  // A PID that is alive here (ours): on another host it says nothing about the owner.
  const owner = { pid: Deno.pid, task: "concepts", host: "pod-0-old", started: "2026-12-01T00:00:00.000Z" };
  // Written as the owner's heartbeats are, atomically: a reader never sees half a lock.
  await writeFileAtomic(
    join(out, LOCK),
    JSON.stringify(legacy ? owner : { ...owner, heartbeat: then.toISOString() }),
  );
  await Deno.utime(join(out, LOCK), then, then);
}

Deno.test("lock: another host's lock with a stale heartbeat is taken over (default 120 s lease)", async () => {
  const out = join(work, "stale-foreign");
  await foreignLock(out, 600);
  const dir = await withLease(undefined, () => claimOutDir(out, "concepts"));
  const lock = JSON.parse(await Deno.readTextFile(join(out, LOCK)));
  assert.equal(lock.host, Deno.hostname());
  assert.equal(lock.pid, Deno.pid);
  assert.equal(lock.leaseSeconds, 120);
  await dir.release();
  await assert.rejects(Deno.stat(join(out, LOCK)), Deno.errors.NotFound, "lock released");
});

Deno.test("lock: a lock without heartbeat (older versions) from another host counts from its file time", async () => {
  const out = join(work, "legacy-foreign");
  await foreignLock(out, 600, true);
  const dir = await withLease(undefined, () => claimOutDir(out, "concepts"));
  assert.equal(JSON.parse(await Deno.readTextFile(join(out, LOCK))).host, Deno.hostname());
  await dir.release();
});

Deno.test("lock: a live owner on another host (its heartbeat moves on) is refused, naming host and PID", async () => {
  const out = join(work, "live-foreign");
  await foreignLock(out, 0);
  // The other host's owner: a new heartbeat every quarter lease.
  const owner = setInterval(() => foreignLock(out, 0), 150);
  try {
    await assert.rejects(
      withLease(0.6, () => claimOutDir(out, "predict")),
      new RegExp(`in use by 'concepts' \\(PID ${Deno.pid} on pod-0-old`),
    );
  } finally {
    clearInterval(owner);
  }
  assert.equal(JSON.parse(await Deno.readTextFile(join(out, LOCK))).host, "pod-0-old", "lock left alone");
});

Deno.test("lock: a retried pod finding its dead predecessor's fresh lock waits out the lease, then takes over", async () => {
  const out = join(work, "retried-pod");
  await foreignLock(out, 0);
  const start = performance.now();
  const dir = await withLease(0.6, () => claimOutDir(out, "concepts"));
  const waited = performance.now() - start;
  try {
    assert.ok(waited >= 500, `took over after ${waited.toFixed(0)} ms, before the 600 ms lease was out`);
    assert.equal(JSON.parse(await Deno.readTextFile(join(out, LOCK))).host, Deno.hostname());
  } finally {
    await dir.release();
  }
});

Deno.test("lock: the owner refreshes its heartbeat, so it stays fresh past the lease while it runs", async () => {
  const out = join(work, "heartbeat");
  await withLease(0.4, async () => {
    const dir = await claimOutDir(out, "hyperplanes");
    try {
      const first = JSON.parse(await Deno.readTextFile(join(out, LOCK)));
      assert.equal(first.leaseSeconds, 0.4);
      await new Promise((r) => setTimeout(r, 1000));
      const later = JSON.parse(await Deno.readTextFile(join(out, LOCK)));
      assert.equal(later.started, first.started);
      const age = Date.now() - Date.parse(later.heartbeat);
      assert.ok(Date.parse(later.heartbeat) > Date.parse(first.heartbeat), "heartbeat moved on");
      assert.ok(age < 400, `heartbeat ${age} ms old, lease 400 ms`);
      // Still ours: a second claim (same host, live PID, fresh heartbeat) is refused.
      await assert.rejects(claimOutDir(out, "hyperplanes"), /in use by 'hyperplanes'/);
    } finally {
      await dir.release();
    }
  });
  await assert.rejects(Deno.stat(join(out, LOCK)), Deno.errors.NotFound, "lock released");
});

Deno.test("lock: the heartbeat goes on while the owner's main thread is busy (a long synchronous step)", async () => {
  const out = join(work, "busy-owner");
  await withLease(0.4, async () => {
    const dir = await claimOutDir(out, "hyperplanes");
    try {
      await new Promise((r) => setTimeout(r, 300)); // the heartbeat thread is up
      const until = Date.now() + 1200;
      while (Date.now() < until) {
        // Blocks the event loop, as the CPU twin training a tile of pairs does.
      }
      const age = Date.now() - Date.parse(JSON.parse(await Deno.readTextFile(join(out, LOCK))).heartbeat);
      assert.ok(age < 400, `heartbeat ${age} ms old after 1.2 s of blocking, lease 400 ms`);
    } finally {
      await dir.release();
    }
  });
});

Deno.test("lock: on its own host a live process keeps its lock, however old its heartbeat", async () => {
  const out = join(work, "live-here");
  await Deno.mkdir(out, { recursive: true });
  const sleeper = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    const old = new Date(Date.now() - 600_000).toISOString();
    await writeFileAtomic(
      join(out, LOCK),
      JSON.stringify({
        pid: sleeper.pid,
        task: "concepts",
        host: Deno.hostname(),
        started: old,
        heartbeat: old,
      }),
    );
    await assert.rejects(claimOutDir(out, "predict"), new RegExp(`PID ${sleeper.pid} on ${Deno.hostname()}`));
  } finally {
    sleeper.kill();
    await sleeper.status;
  }
});

Deno.test("lock: a lock taken over from a stalled owner is not removed by that owner's release", async () => {
  const out = join(work, "stolen");
  await withLease(0.4, async () => {
    const dir = await claimOutDir(out, "predict");
    // Another host took the lock over (as it may once our heartbeat is a lease late).
    const now = new Date().toISOString();
    const theirs = { pid: 4242, task: "predict", host: "pod-0-new", started: now, heartbeat: now };
    await Deno.writeTextFile(join(out, LOCK), JSON.stringify(theirs));
    await new Promise((r) => setTimeout(r, 300));
    await dir.release();
    assert.equal(JSON.parse(await Deno.readTextFile(join(out, LOCK))).host, "pod-0-new");
  });
});

Deno.test("lock: a bad PROTOSCOPE_LOCK_LEASE_S is named", async () => {
  await withLease(-1 as number, async () => {
    await assert.rejects(
      claimOutDir(join(work, "bad-lease"), "predict"),
      /PROTOSCOPE_LOCK_LEASE_S=-1: expected/,
    );
  });
});
