// Progress for long passes: on a terminal a bar redrawn in place (at most 10 times a second) with rate and
// ETA; elsewhere (CI logs, files) a plain line every `intervalSeconds` and a last one at the end. The ETA is
// shown only once a rate is known.
export interface Progress {
  /** Advance by `n` items. */
  tick(n?: number): void;
  /** Set the count of already-done items (resumed work) without counting them towards the rate. */
  resumeFrom(done: number): void;
  stop(): void;
}

export interface ProgressSink {
  write(text: string): void;
  isTerminal: boolean;
  /** Seconds between plain lines when not a terminal (default 10). */
  intervalSeconds?: number;
}

const encoder = new TextEncoder();

/** What an observer of every progress bar hears: the bar's label and its count. */
export type ProgressObserver = (label: string, done: number, total: number) => void;
const observers = new Set<ProgressObserver>();

/**
 * Hears every bar's ticks until the returned function is called. The explorer server streams a job's progress
 * to the page this way, and cancels a job by throwing from its observer: the throw leaves the pass at its
 * next tick, as an error would.
 */
export function observeProgress(observer: ProgressObserver): () => void {
  observers.add(observer);
  return () => void observers.delete(observer);
}

const stderrSink = (): ProgressSink => ({
  write: (text) => void Deno.stderr.writeSync(encoder.encode(text)),
  isTerminal: Deno.stderr.isTerminal(),
});

function formatSeconds(s: number): string {
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, "0")}m`;
}

export function createProgress(label: string, total: number, unit = "img", sink?: ProgressSink): Progress {
  // PROTOSCOPE_QUIET silences the default (stderr) bar only; a caller-given sink always gets its lines.
  const quiet = !sink && Deno.env.get("PROTOSCOPE_QUIET") === "1";
  const out = sink ?? stderrSink();
  const start = performance.now();
  let base = 0;
  let done = 0;
  let lastDraw = -Infinity;
  const line = () => {
    const seconds = (performance.now() - start) / 1000;
    const rate = seconds > 0 && done > base ? (done - base) / seconds : undefined;
    const filled = total > 0 ? Math.round((24 * Math.min(done, total)) / total) : 24;
    const eta = rate ? formatSeconds((total - done) / rate) : "-";
    return `${label} [${"=".repeat(filled)}${"-".repeat(24 - filled)}] ${done}/${total} ${unit} | ` +
      `${rate ? rate.toFixed(1) : "-"} ${unit}/s | ETA ${done >= total ? "0s" : eta}`;
  };
  const draw = (final: boolean) => {
    if (quiet) return;
    const now = performance.now();
    const interval = out.isTerminal ? 100 : (out.intervalSeconds ?? 10) * 1000;
    if (!final && now - lastDraw < interval) return;
    lastDraw = now;
    if (out.isTerminal) out.write(`\r${line()}\x1b[K${final ? "\n" : ""}`);
    else out.write(`${line()}\n`);
  };
  return {
    tick(n = 1) {
      done += n;
      for (const o of observers) o(label, done, total);
      draw(false);
    },
    resumeFrom(count: number) {
      base = done = count;
      draw(false);
    },
    stop() {
      draw(true);
    },
  };
}
