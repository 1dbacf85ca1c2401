// Locks on --out across hosts (issue 18, case 7): the owner's heartbeat keeps its lock; a lock whose heartbeat
// is older than the lease is taken over whatever host wrote it (a retried Kubernetes pod has a new hostname);
// a live owner on another host is refused; on this host a dead PID is taken over at once.
import assert from "node:assert/strict";
import { join } from "node:path";
import { claimOutDir } from "../src/io/out_dir.ts";

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

/** A lock as another host's run writes it, its last heartbeat `ageSeconds` ago. */
async function foreignLock(out: string, ageSeconds: number): Promise<void> {
  await Deno.mkdir(out, { recursive: true });
  const beat = new Date(Date.now() - ageSeconds * 1000).toISOString();
  // A PID that is alive here (ours): on another host it says nothing about the owner.
  await Deno.writeTextFile(
    join(out, LOCK),
    JSON.stringify({ pid: Deno.pid, task: "concepts", host: "pod-0-old", started: beat, heartbeat: beat }),
  );
  // Locks written before heartbeats existed carry none: their file time counts.
  await Deno.utime(
    join(out, LOCK),
    new Date(Date.now() - ageSeconds * 1000),
    new Date(Date.now() - ageSeconds * 1000),
  );
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

Deno.test("lock: a live owner on another host (fresh heartbeat) is refused, naming host, PID and lease", async () => {
  const out = join(work, "live-foreign");
  await foreignLock(out, 5);
  await assert.rejects(
    withLease(undefined, () => claimOutDir(out, "predict")),
    new RegExp(`in use by 'concepts' \\(PID ${Deno.pid} on pod-0-old[\\s\\S]*120 s`),
  );
  assert.equal(JSON.parse(await Deno.readTextFile(join(out, LOCK))).host, "pod-0-old", "lock left alone");
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
