// Progress for long passes: a live bar with rate and ETA on a terminal, a line every few seconds otherwise.
import cliProgress from "cli-progress";
import process from "node:process";

export interface Progress {
  /** Advance by `n` items. */
  tick(n?: number): void;
  /** Set the count of already-done items (resumed work) without counting them towards the rate. */
  resumeFrom(done: number): void;
  stop(): void;
}

export function createProgress(label: string, total: number, unit = "img"): Progress {
  const quiet = Deno.env.get("PROTOSCOPE_QUIET") === "1";
  const start = performance.now();
  let base = 0;
  let done = 0;
  const bar = new cliProgress.SingleBar({
    format: `${label} [{bar}] {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted}`,
    stream: process.stderr,
    noTTYOutput: true,
    notTTYSchedule: 5000,
    etaBuffer: 50,
    hideCursor: false,
    barsize: 24,
  }, cliProgress.Presets.legacy);
  if (!quiet) bar.start(total, 0, { rate: "-" });
  const rate = () => {
    const seconds = (performance.now() - start) / 1000;
    return seconds > 0 ? ((done - base) / seconds).toFixed(1) : "-";
  };
  return {
    tick(n = 1) {
      done += n;
      if (!quiet) bar.update(done, { rate: rate() });
    },
    resumeFrom(count: number) {
      base = done = count;
      if (!quiet) bar.update(done, { rate: "-" });
    },
    stop() {
      if (!quiet) {
        bar.update(done, { rate: rate() });
        bar.stop();
      }
    },
  };
}
