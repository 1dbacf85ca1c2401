// The check every cancellable solver gets: it stops with the abort's reason when its signal is aborted while
// it runs, and at once when the signal is already aborted.
import assert from "node:assert/strict";

/**
 * Starts `run` with a signal, aborts it `delayMs` later, and asserts that it rejects with the abort's reason;
 * then runs it again with the aborted signal, which must reject the same way. `run` should be work that, left
 * alone, takes far longer than `delayMs` (tol 0 and a large iteration cap).
 */
export async function assertStopsOnAbort(
  run: (signal: AbortSignal) => Promise<unknown>,
  delayMs: number,
): Promise<void> {
  const stop = new AbortController();
  const reason = new Error("cancelled by the test");
  const running = run(stop.signal);
  setTimeout(() => stop.abort(reason), delayMs);
  await assert.rejects(running, (e) => e === reason);
  await assert.rejects(run(stop.signal), (e) => e === reason, "an already-aborted signal");
}
