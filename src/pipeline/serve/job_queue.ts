// One queue for everything that runs the model or the kernels: jobs run one at a time in submission order (one
// GPU device, and the pipeline's passes each want all of it). A job's progress comes from the pipeline's own
// progress bars (observeProgress) and is kept as a list of events that any number of listeners (server-sent
// event streams) replay and then follow. Cancelling a queued job drops it; cancelling a running one aborts
// its signal, which the pipeline checks between NMF iterations and model batches (and every progress tick
// throws too, for passes that take no signal): the pass unwinds as an error would (outputs are written
// atomically, so nothing half-written is left).
import { observeProgress } from "../../io/progress.ts";

export type JobStatus = "queued" | "running" | "done" | "error" | "cancelled";

export interface JobEvent {
  type: "status" | "progress" | "done" | "error" | "cancelled";
  status?: JobStatus;
  label?: string;
  done?: number;
  total?: number;
  result?: unknown;
  error?: string;
  /** Milliseconds since the job was submitted. */
  ms: number;
}

export interface JobView {
  id: string;
  kind: string;
  title: string;
  status: JobStatus;
  events: number;
}

class Cancelled extends Error {}

export class Job {
  status: JobStatus = "queued";
  readonly events: JobEvent[] = [];
  readonly #listeners = new Set<(e: JobEvent) => void>();
  readonly #start = performance.now();
  readonly #abort = new AbortController();
  result?: unknown;
  error?: string;
  readonly finished: Promise<void>;
  #finish!: () => void;

  constructor(readonly id: string, readonly kind: string, readonly title: string) {
    this.finished = new Promise((r) => this.#finish = r);
  }

  emit(e: Omit<JobEvent, "ms">): void {
    const event = { ...e, ms: Math.round(performance.now() - this.#start) };
    this.events.push(event);
    for (const l of this.#listeners) l(event);
    if (e.type === "done" || e.type === "error" || e.type === "cancelled") this.#finish();
  }

  /** Replays the events so far to `listener`, then the new ones; returns the unsubscribe. */
  listen(listener: (e: JobEvent) => void): () => void {
    for (const e of this.events) listener(e);
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /** Aborted when the job is cancelled: the run function hands it to the pipeline's `signal` options. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get cancelRequested(): boolean {
    return this.#abort.signal.aborted;
  }

  /** Asks the running work to stop (JobQueue.cancel). */
  requestCancel(): void {
    this.#abort.abort(new Cancelled(`job ${this.id} cancelled`));
  }

  get terminal(): boolean {
    return this.status === "done" || this.status === "error" || this.status === "cancelled";
  }

  view(): JobView {
    return {
      id: this.id,
      kind: this.kind,
      title: this.title,
      status: this.status,
      events: this.events.length,
    };
  }
}

export class JobQueue {
  readonly jobs = new Map<string, Job>();
  #tail: Promise<void> = Promise.resolve();
  #next = 1;

  /** Queues `run`; the returned job ends with its result, its error or a cancellation. */
  submit(kind: string, title: string, run: (job: Job) => Promise<unknown>): Job {
    const job = new Job(String(this.#next++), kind, title);
    this.jobs.set(job.id, job);
    job.emit({ type: "status", status: "queued" });
    this.#tail = this.#tail.then(() => this.#run(job, run));
    return job;
  }

  async #run(job: Job, run: (job: Job) => Promise<unknown>): Promise<void> {
    if (job.cancelRequested) return;
    job.status = "running";
    job.emit({ type: "status", status: "running" });
    let last = 0;
    const stop = observeProgress((label, done, total) => {
      job.signal.throwIfAborted();
      // At most 10 events a second, and always the last tick of a pass.
      const now = performance.now();
      if (now - last < 100 && done < total) return;
      last = now;
      job.emit({ type: "progress", label, done, total });
    });
    try {
      job.result = await run(job);
      job.signal.throwIfAborted();
      job.status = "done";
      job.emit({ type: "done", status: "done", result: job.result });
    } catch (e) {
      if (job.cancelRequested) {
        job.status = "cancelled";
        job.emit({ type: "cancelled", status: "cancelled" });
      } else {
        job.status = "error";
        job.error = (e as Error)?.message ?? String(e);
        job.emit({ type: "error", status: "error", error: job.error });
      }
    } finally {
      stop();
    }
  }

  /** Asks a job to stop; false if it had already ended. */
  cancel(id: string): boolean {
    const job = this.jobs.get(id);
    if (!job || job.terminal) return false;
    job.requestCancel();
    if (job.status === "queued") {
      job.status = "cancelled";
      job.emit({ type: "cancelled", status: "cancelled" });
    }
    return true;
  }
}
