// Parallel preprocessing in module Workers. Decoding is ~90% of the cost and is single-threaded wasm, so
// files are spread over workers; results are matched to requests by id, so callers place them by index and
// the output order never depends on which worker finished first.
import { WebWorker } from "../runtime/web_worker.ts";
import { failureReason, preprocessFile } from "./preprocess.ts";
import { DEFAULT_PREPROCESS, type PreprocessSettings } from "./resize.ts";
import type { PreprocessReply, PreprocessRequest } from "./preprocess_worker.ts";

export type PreprocessOutcome = { ok: true; pixels: Uint8Array; warning?: string } | {
  ok: false;
  reason: string;
};

export interface PoolOptions {
  /** Worker count; 0 preprocesses in the calling thread. Default: the number of CPU cores. */
  workers?: number;
  settings?: PreprocessSettings;
}

/** Requests queued per worker: a second one lets a worker start reading while its last reply is in transit. */
const IN_FLIGHT_PER_WORKER = 2;

export function defaultWorkerCount(): number {
  return Math.max(1, navigator.hardwareConcurrency || 1);
}

interface Pending {
  id: number;
  path: string;
  resolve: (outcome: PreprocessOutcome) => void;
}

interface Slot {
  worker: Worker;
  inFlight: Map<number, Pending>;
}

export class PreprocessPool {
  readonly workers: number;
  readonly settings: PreprocessSettings;
  #slots: Slot[] = [];
  #queue: Pending[] = [];
  #nextId = 0;
  #closed = false;

  constructor(options: PoolOptions = {}) {
    const workers = options.workers ?? defaultWorkerCount();
    if (!(Number.isInteger(workers) && workers >= 0)) {
      throw new Error(`PreprocessPool: workers must be an integer >= 0, got ${workers}`);
    }
    this.workers = workers;
    this.settings = options.settings ?? DEFAULT_PREPROCESS;
  }

  /** Preprocesses one file. Never rejects: unusable files resolve to `{ ok: false, reason }`. */
  preprocess(path: string): Promise<PreprocessOutcome> {
    if (this.#closed) return Promise.resolve({ ok: false, reason: "preprocessing pool is closed" });
    if (this.workers === 0) {
      let warning: string | undefined;
      return preprocessFile(path, this.settings, undefined, (w) => (warning = w)).then(
        (pixels): PreprocessOutcome => ({ ok: true, pixels, ...(warning ? { warning } : {}) }),
        (e): PreprocessOutcome => ({ ok: false, reason: failureReason(e) }),
      );
    }
    return new Promise((resolve) => {
      this.#queue.push({ id: this.#nextId++, path, resolve });
      this.#pump();
    });
  }

  /** Terminates the workers; queued and in-flight requests resolve as failures. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const slot of this.#slots) {
      slot.worker.terminate();
      for (const p of slot.inFlight.values()) {
        p.resolve({ ok: false, reason: "preprocessing pool was closed" });
      }
    }
    for (const p of this.#queue) p.resolve({ ok: false, reason: "preprocessing pool was closed" });
    this.#slots = [];
    this.#queue = [];
  }

  #pump(): void {
    // Workers start lazily, so a pool that is never used costs nothing.
    while (this.#slots.length < this.workers && this.#slots.length < this.#queue.length) this.#spawn();
    while (this.#queue.length && this.#slots.length) {
      // Least-loaded worker first, so work spreads over all workers even when little is queued.
      let slot = this.#slots[0];
      for (const s of this.#slots) if (s.inFlight.size < slot.inFlight.size) slot = s;
      if (slot.inFlight.size >= IN_FLIGHT_PER_WORKER) break;
      const job = this.#queue.shift()!;
      slot.inFlight.set(job.id, job);
      const request: PreprocessRequest = { id: job.id, path: job.path, settings: this.settings };
      slot.worker.postMessage(request);
    }
  }

  #spawn(): void {
    const worker = new WebWorker(new URL("./preprocess_worker.ts", import.meta.url).href, { type: "module" });
    const slot: Slot = { worker, inFlight: new Map() };
    worker.onmessage = (event: MessageEvent<PreprocessReply>) => {
      const reply = event.data;
      const job = slot.inFlight.get(reply.id);
      if (!job) return;
      slot.inFlight.delete(reply.id);
      job.resolve(
        reply.ok
          ? {
            ok: true,
            pixels: new Uint8Array(reply.pixels),
            ...(reply.warning ? { warning: reply.warning } : {}),
          }
          : { ok: false, reason: reply.reason },
      );
      this.#pump();
    };
    worker.onerror = (event: ErrorEvent) => {
      // A crashed worker (e.g. out of memory) fails only its own requests; a fresh worker replaces it.
      event.preventDefault();
      worker.terminate();
      this.#slots = this.#slots.filter((s) => s !== slot);
      for (const job of slot.inFlight.values()) {
        job.resolve({ ok: false, reason: `preprocessing worker crashed (${event.message})` });
      }
      slot.inFlight.clear();
      if (!this.#closed) this.#pump();
    };
    this.#slots.push(slot);
  }
}

export interface OrderedOutcome {
  index: number;
  path: string;
  outcome: PreprocessOutcome;
}

/**
 * Preprocesses `paths` with at most `window` files in flight and yields outcomes in index order, so a
 * consumer can stream them to disk without holding the whole set in memory.
 */
export async function* preprocessInOrder(
  pool: PreprocessPool,
  paths: readonly string[],
  window = Math.max(4, pool.workers * IN_FLIGHT_PER_WORKER * 2),
): AsyncGenerator<OrderedOutcome> {
  const started = new Map<number, Promise<PreprocessOutcome>>();
  let next = 0;
  let yielded = 0;
  const fill = () => {
    for (; next < paths.length && next - yielded < window; next++) {
      started.set(next, pool.preprocess(paths[next]));
    }
  };
  fill();
  while (yielded < paths.length) {
    const outcome = await started.get(yielded)!;
    started.delete(yielded);
    yield { index: yielded, path: paths[yielded], outcome };
    yielded++;
    fill();
  }
}

/** Throughput of the full preprocessing (read, decode, resize, crop) of `files` with `workers` workers. */
export async function benchPreprocess(
  files: string[],
  workers: number,
): Promise<{ imagesPerSecond: number; images: number; failures: number; seconds: number }> {
  const pool = new PreprocessPool({ workers });
  try {
    // Warm-up: start every worker and compile its wasm before the clock runs.
    await Promise.all(files.slice(0, Math.max(1, workers)).map((f) => pool.preprocess(f)));
    const start = performance.now();
    const outcomes = await Promise.all(files.map((f) => pool.preprocess(f)));
    const seconds = (performance.now() - start) / 1000;
    const failures = outcomes.filter((o) => !o.ok).length;
    return { imagesPerSecond: files.length / seconds, images: files.length, failures, seconds };
  } finally {
    pool.close();
  }
}
