// What `deno task serve` knows about a run and does on request: the run folder read as the report reads it
// (run_folder.ts), the concepts, hyperplanes and vectors found by their manifests, and the on-demand work
// (decompose, why-not, shifting) done by the same pipeline functions the tasks call, on one job queue, with
// the models they need opened once per (model, layer) and kept. Everything it writes goes under
// <run>/explorer/, in the layout the tasks write, keyed on its inputs (an upload's sha256, a class pair), so
// a repeated request is answered from there.
import { join } from "node:path";
import { writeFileAtomic } from "../../io/atomic.ts";
import { sha256Hex } from "../../onnx/model.ts";
import { Classifier } from "../../model/classifier.ts";
import { SplitModel } from "../../model/split_model.ts";
import type { TokenAxes } from "../../model/tokens.ts";
import { resolveClassArg } from "../../data/class_names.ts";
import type { EpChoice } from "../../runtime/ort.ts";
import { type Concepts, readConcepts } from "../concepts/read_concepts.ts";
import { type DecomposeReport, runDecompose, validateDecompose } from "../decompose/decompose.ts";
import { trainHyperplanes } from "../contrast/hyperplanes/hyperplanes.ts";
import { REFERENCE_TRAINING } from "../../../kernels/hyperplane/settings.ts";
import { readHyperplanes } from "../contrast/hyperplanes/hyperplanes_io.ts";
import { runContrastTest } from "../contrast/sanity_checks/contrast_test_run.ts";
import { REFERENCE_OFFSETS, shiftingTest } from "../contrast/sanity_checks/shifting.ts";
import { whyNot } from "../contrast/why_not/why_not.ts";
import { readRunFolder, type RunContents } from "../report/run_folder.ts";
import { HttpError } from "./http_error.ts";
import { type Job, JobQueue } from "./job_queue.ts";
import { whereAnotB, type WhereResult } from "./where_map.ts";

/** The folder under the run folder that the server writes into (and nowhere else). */
export const EXPLORER_FOLDER = "explorer";

export interface ExplorerOptions {
  /** The run folder. */
  run: string;
  /** The model; default: the path the concepts' (or another output's) manifest records. */
  model?: string;
  /** The dataset for contrasts and shifting; default: the path a manifest records. */
  data?: string;
  ep?: EpChoice;
  /** Opens the split model of the contrast and shifting jobs (default SplitModel.open; tests count opens). */
  openSplitModel?: (model: string, layer: string, ep?: EpChoice, tokens?: TokenAxes) => Promise<SplitModel>;
}

export interface ClassInfo {
  index: number;
  name: string;
  hasPrototypes: boolean;
  /** The component test's verdicts, where the run has one: [all images, target excluded]. */
  componentPass?: [boolean, boolean];
}

/** A path of the run folder as the page asks for it. */
export function fileUrl(relativePath: string): string {
  return `/files/${relativePath.split("/").map(encodeURIComponent).join("/")}`;
}

export class Explorer {
  readonly queue = new JobQueue();
  contents!: RunContents;
  concepts?: Concepts;
  /**
   * What the jobs run the model with, opened on the first job that needs it and kept, keyed on model and
   * layer (the concepts' and the hyperplanes' layers may differ): classifiers for decompose and where, split
   * models for contrast and shifting.
   */
  readonly #classifiers = new Map<string, Promise<Classifier>>();
  readonly #splitModels = new Map<string, Promise<SplitModel>>();
  #names: string[] = [];

  private constructor(readonly root: string, readonly opts: ExplorerOptions) {}

  /** Reads the run folder (whose real path is `root`). */
  static async open(root: string, opts: ExplorerOptions): Promise<Explorer> {
    const e = new Explorer(root, opts);
    await e.refresh();
    return e;
  }

  /** Reads the run folder again (after a job added an output). */
  async refresh(): Promise<void> {
    this.contents = await readRunFolder(this.root);
    const folder = this.#outputOf("concepts");
    this.concepts = folder ? await readConcepts(join(this.root, folder)).catch(() => undefined) : undefined;
    const names: string[] = [];
    for (const e of this.contents.classes.values()) if (e.name) names[e.class] = e.name;
    if (this.concepts) {
      const index = await readJson<{ classes?: { class: number; name?: string }[] }>(
        join(this.concepts.dir, "concepts.json"),
      );
      for (const c of index?.classes ?? []) if (c.name && !names[c.class]) names[c.class] = c.name;
    }
    this.#names = names;
  }

  /** The folder (relative) of the first output whose manifest names `task`. */
  #outputOf(task: string): string | undefined {
    return this.contents.manifests.find((m) => m.manifest.task === task)?.folder;
  }

  /**
   * A path a manifest records (model.path or data.path): the predictions' first, since the contrasts read
   * them with the data (other outputs may record a part of it, e.g. one class's images for attribution).
   */
  #recorded(key: "model" | "data"): string | undefined {
    const manifests = this.contents.manifests;
    const predict = manifests.filter((m) => m.manifest.task === "predict");
    for (const { manifest } of [...predict, ...manifests]) {
      const v = manifest[key] as { path?: unknown } | undefined;
      if (typeof v?.path === "string" && !v.path.startsWith("--")) return v.path;
    }
    return undefined;
  }

  get model(): string | undefined {
    return this.opts.model ?? this.#recorded("model");
  }

  get data(): string | undefined {
    return this.opts.data ?? this.#recorded("data");
  }

  classes(): ClassInfo[] {
    const withBasis = new Set(this.concepts?.classes ?? []);
    const all = new Set<number>([...this.contents.classes.keys(), ...withBasis]);
    return [...all].sort((a, b) => a - b).map((index) => {
      const c = this.contents.classes.get(index)?.component;
      return {
        index,
        name: this.#names[index] ?? "",
        hasPrototypes: withBasis.has(index),
        ...(c ? { componentPass: [c.allImages.pass, c.targetExcluded.pass] as [boolean, boolean] } : {}),
      };
    });
  }

  /** A class argument (index or name) as an index; 400 with the reason otherwise. */
  classArg(value: string | null, param: string): number {
    if (value === null || value.trim() === "") {
      throw new HttpError(400, `?${param}= is required: a class index or name`);
    }
    const known = this.classes();
    const k = Math.max(0, ...known.map((c) => c.index)) + 1;
    try {
      return resolveClassArg(value, Math.max(k, this.concepts?.classes.length ?? 0), this.#names);
    } catch (e) {
      throw new HttpError(400, `?${param}=${value}: ${(e as Error).message}`);
    }
  }

  classDetail(index: number) {
    const entry = this.contents.classes.get(index);
    const info = this.classes().find((c) => c.index === index);
    if (!info) throw new HttpError(404, `class ${index}: the run has nothing for this class`);
    return {
      ...info,
      component: entry?.component,
      prototypes: info.hasPrototypes ? this.concepts!.k : 0,
      images: (entry?.images ?? []).map((i) => ({ title: i.title, url: fileUrl(this.#relative(i.path)) })),
    };
  }

  #relative(path: string): string {
    return path.startsWith(this.root + "/") ? path.slice(this.root.length + 1) : path;
  }

  #requireModel(): string {
    const model = this.model;
    if (!model) {
      throw new HttpError(
        409,
        "no model: start the server with --model (no manifest of the run records one)",
      );
    }
    return model;
  }

  /** The classifier with `layer` tapped, opened on the first request that needs it and kept. */
  #openClassifier(model: string, layer: string): Promise<Classifier> {
    return kept(
      this.#classifiers,
      model,
      layer,
      () => Classifier.open(model, { ep: this.opts.ep ?? "auto", layers: [layer] }),
    );
  }

  /** The model cut at `layer` (contrast, shifting), opened on the first job that needs it and kept. */
  #openSplitModel(model: string, layer: string): Promise<SplitModel> {
    const open = this.opts.openSplitModel ?? SplitModel.open;
    // Every token a position: the shifting test feeds the head from them (a CNN ignores the setting), and
    // why-not drops the class token itself.
    return kept(this.#splitModels, model, layer, () => open(model, layer, this.opts.ep, "patches+cls"));
  }

  /** Keeps an upload as <run>/explorer/uploads/<key>.<ext>, the key from its sha256. */
  async #storeUpload(bytes: Uint8Array): Promise<{ key: string; path: string }> {
    const ext = imageExtension(bytes);
    const key = (await sha256Hex(bytes)).slice(0, 32);
    const path = join(this.root, EXPLORER_FOLDER, "uploads", `${key}.${ext}`);
    await writeFileAtomic(path, bytes);
    return { key, path };
  }

  /**
   * `deno task decompose --image <upload> --class C` on uploaded bytes, through runDecompose with the kept
   * model: the upload is stored as <run>/explorer/uploads/<sha256>.<ext>, the output in
   * <run>/explorer/decompose/<sha256>-<C>/ (reused when it is there).
   */
  async decompose(bytes: Uint8Array, cls: number): Promise<Record<string, unknown>> {
    if (!this.concepts) {
      throw new HttpError(
        409,
        "the run folder has no concepts output (deno task concepts): nothing to decompose into",
      );
    }
    if (!this.concepts.classes.includes(cls)) {
      throw new HttpError(404, `class ${cls} has no prototypes in ${this.#relative(this.concepts.dir)}`);
    }
    const model = this.#requireModel();
    const { key, path: upload } = await this.#storeUpload(bytes);
    const out = join(this.root, EXPLORER_FOLDER, "decompose", `${key}-${cls}`);
    const cached = await readJson<DecomposeReport>(join(out, "decompose.json"));
    let report = cached;
    if (!report) {
      const decomposeOpts = {
        model,
        images: [upload],
        concepts: this.concepts.dir,
        cls,
        out,
        ep: this.opts.ep,
      };
      const { layer } = await validateDecompose(decomposeOpts);
      const job = this.queue.submit(
        "decompose",
        `decompose an upload in class ${cls}'s prototypes`,
        async () => {
          const classifier = await this.#openClassifier(model, layer);
          return await runDecompose({ ...decomposeOpts, classifier });
        },
      );
      await job.finished;
      if (job.status !== "done") throw decodeError(job);
      report = job.result as DecomposeReport;
    }
    const image = report.images[0];
    const base = `${EXPLORER_FOLDER}/decompose/${key}-${cls}`;
    return {
      class: report.class,
      name: report.name ?? this.#names[report.class] ?? "",
      layer: report.layer,
      k: report.k,
      cached: !!cached,
      output: base,
      contribution: report.contribution,
      top5: image.top5.map((t) => ({ ...t, name: t.name ?? this.#names[t.class] ?? "" })),
      image: fileUrl(`${base}/${image.folder}/image.jpg`),
      classProbability: image.classProbability,
      ...(image.figure ? { figure: fileUrl(`${base}/${image.figure}`) } : {}),
      grid: image.grid,
      reconstruction: image.reconstruction,
      prototypes: image.prototypes.map((p) => ({
        prototype: p.prototype,
        share: p.share,
        totalContribution: p.totalContribution,
        peak: p.peak,
        overlay: fileUrl(`${base}/${p.overlay}`),
      })),
    };
  }

  /**
   * Where an uploaded image looks like A rather than B (where_map.ts), into
   * <run>/explorer/where/<sha256>-<A>-<B>/ (reused when it is there).
   */
  async where(bytes: Uint8Array, a: number, b: number): Promise<Record<string, unknown>> {
    if (a === b) throw new HttpError(400, `class A and class B are both ${a}: pick two different classes`);
    const model = this.#requireModel();
    const { key, path: upload } = await this.#storeUpload(bytes);
    const rel = `${EXPLORER_FOLDER}/where/${key}-${a}-${b}`;
    const out = join(this.root, rel);
    let report = await readJson<WhereResult>(join(out, "where.json"));
    const cached = !!report;
    if (!report) {
      const job = this.queue.submit(
        "where",
        `where the upload looks like ${a} rather than ${b}`,
        async (job) => {
          const planes = await this.#pairHyperplanes(a, b, job);
          const layer = planes.layer ?? this.concepts?.layer?.name;
          if (!layer) throw new Error("the hyperplanes do not record their layer");
          return await whereAnotB({
            image: upload,
            a,
            b,
            names: this.#names,
            planes: planes.set,
            layer,
            classifier: await this.#openClassifier(model, layer),
            out,
          });
        },
      );
      await job.finished;
      if (job.status !== "done") throw decodeError(job);
      report = job.result as WhereResult;
    }
    return { ...report, cached, output: rel, figure: fileUrl(`${rel}/${report.figure}`) };
  }

  /** The hyperplanes for a pair: the run's, or a pair trained now from the run's contrast vectors. */
  async #pairHyperplanes(a: number, b: number, job: Job) {
    const h = this.contents.hyperplanes;
    if (h && h.index.classes.includes(a) && h.index.classes.includes(b)) {
      const dir = join(this.root, h.folder);
      try {
        return { source: dir, set: await readHyperplanes(dir, { classes: [a, b] }), layer: h.index.layer };
      } catch (e) {
        // A hyperplane folder without the pair's rows (accuracies only, or a partial run): train the pair.
        job.emit({ type: "progress", label: `${h.folder}: ${(e as Error).message}`, done: 0, total: 1 });
      }
    }
    const vectors = this.#outputOf("contrast-vectors");
    if (!vectors) {
      throw new Error(
        `the run has no hyperplane for (${a}, ${b}) and no contrast-vectors output to train one from`,
      );
    }
    const dir = join(this.root, EXPLORER_FOLDER, "hyperplanes", `${a}-${b}`);
    job.emit({ type: "progress", label: `training the (${a}, ${b}) hyperplane`, done: 0, total: 1 });
    await trainHyperplanes({
      vectors: join(this.root, vectors),
      out: dir,
      classes: [a, b],
      training: REFERENCE_TRAINING,
      log: () => {},
    });
    const set = await readHyperplanes(dir, { classes: [a, b] });
    const index = await readJson<{ layer?: string }>(join(dir, "hyperplanes.json"));
    return { source: dir, set, layer: index?.layer };
  }

  #contrastInputs() {
    const model = this.#requireModel();
    const data = this.data;
    if (!data) throw new HttpError(409, "no data: start the server with --data (no manifest records one)");
    const predictions = this.#outputOf("predict");
    return { model, data, ...(predictions ? { predictions: join(this.root, predictions) } : {}) };
  }

  /** "Why A, not B" and "why B, not A" (deno task contrast --both), into <run>/explorer/contrast/<A>-not-<B>/. */
  submitContrast(a: number, b: number): Job {
    if (a === b) throw new HttpError(400, `class A and class B are both ${a}: pick two different classes`);
    const inputs = this.#contrastInputs();
    const rel = `${EXPLORER_FOLDER}/contrast/${a}-not-${b}`;
    const out = join(this.root, rel);
    return this.queue.submit("contrast", `why ${a}, not ${b} (and why ${b}, not ${a})`, async (job) => {
      const cached = await readJson<{ figure?: string }>(join(out, "contrast.json"));
      let figure = cached?.figure;
      if (!figure) {
        const planes = await this.#pairHyperplanes(a, b, job);
        const layer = planes.layer ?? this.concepts?.layer?.name;
        if (!layer) throw new Error("the hyperplanes do not record their layer");
        const r = await whyNot({
          ...inputs,
          splitModel: await this.#openSplitModel(inputs.model, layer),
          signal: job.signal,
          layer,
          hyperplanes: { source: planes.source, set: planes.set },
          classA: a,
          classB: b,
          both: true,
          k: 3,
          maxImages: 10,
          ep: this.opts.ep,
          out,
        });
        figure = r.figure.slice(out.length + 1);
        await this.refresh();
      }
      const report = await readJson<Record<string, unknown>>(join(out, "contrast.json"));
      return {
        cached: !!cached,
        output: rel,
        figure: fileUrl(`${rel}/${figure}`),
        summary: summarizeWhyNot(report),
      };
    });
  }

  /** The shifting test of one pair (deno task shifting-test --pairs A:B), into <run>/explorer/shifting/<A>-<B>/. */
  submitShifting(a: number, b: number): Job {
    if (a === b) throw new HttpError(400, `class A and class B are both ${a}: pick two different classes`);
    const inputs = this.#contrastInputs();
    const rel = `${EXPLORER_FOLDER}/shifting/${a}-${b}`;
    const out = join(this.root, rel);
    return this.queue.submit("shifting", `shifting test of ${a} towards ${b}`, async (job) => {
      let report = await readJson<ShiftingJson>(join(out, "shifting_test.json"));
      const cached = !!report;
      if (!report) {
        const planes = await this.#pairHyperplanes(a, b, job);
        const layer = planes.layer ?? this.concepts?.layer?.name;
        if (!layer) throw new Error("the hyperplanes do not record their layer");
        await runContrastTest(shiftingTest([...REFERENCE_OFFSETS]), {
          ...inputs,
          splitModel: await this.#openSplitModel(inputs.model, layer),
          signal: job.signal,
          layer,
          hyperplanes: { source: planes.source, set: planes.set },
          pairs: `${a}:${b}`,
          maxImages: 10,
          ep: this.opts.ep,
          out,
        });
        report = (await readJson<ShiftingJson>(join(out, "shifting_test.json")))!;
        await this.refresh();
      }
      const pair = report.runs[0]?.pairs[0];
      const figure = report.runs[0]?.figure;
      return {
        cached,
        output: rel,
        offsets: report.settings.offsets,
        pair: pair
          ? { from: pair.from, to: pair.to, images: pair.images, pFrom: pair.pFrom, pTo: pair.pTo }
          : null,
        ...(figure ? { figure: fileUrl(`${rel}/${figure}`) } : {}),
      };
    });
  }

  async close(): Promise<void> {
    for (const opened of [...this.#classifiers.values(), ...this.#splitModels.values()]) {
      const c = await opened.catch(() => undefined);
      await c?.release();
    }
  }
}

/** The entry of `cache` for (model, layer), opened by `open` if there is none; a failed open is forgotten. */
function kept<T>(
  cache: Map<string, Promise<T>>,
  model: string,
  layer: string,
  open: () => Promise<T>,
): Promise<T> {
  const key = `${model}\n${layer}`;
  let entry = cache.get(key);
  if (!entry) {
    entry = open().catch((e) => {
      cache.delete(key);
      throw e;
    });
    cache.set(key, entry);
  }
  return entry;
}

interface ShiftingJson {
  settings: { offsets: number[] };
  runs: {
    figure?: string;
    pairs: { from: number; to: number; images: number; pFrom: number[]; pTo: number[] }[];
  }[];
}

function summarizeWhyNot(report: Record<string, unknown> | undefined): unknown {
  if (!report) return null;
  const pick = (d: Record<string, unknown> | undefined) =>
    d &&
    {
      from: d.from,
      to: d.to,
      fromName: d.fromName,
      toName: d.toName,
      keptShare: d.keptShare,
      relError: d.relError,
    };
  return {
    aNotB: pick(report as Record<string, unknown>),
    bNotA: pick(report.reverse as Record<string, unknown>),
  };
}

/** A decompose job's failure: an image the decoder refuses is the client's fault (422), anything else ours. */
function decodeError(job: Job): HttpError {
  const message = job.error ?? `job ${job.status}`;
  return new HttpError(/no image could be read/.test(message) ? 422 : 500, message);
}

/** The upload's format from its first bytes; 415 for anything but JPEG and PNG. */
export function imageExtension(bytes: Uint8Array): "jpg" | "png" {
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "jpg";
  if ([0x89, 0x50, 0x4e, 0x47].every((v, i) => bytes[i] === v)) return "png";
  throw new HttpError(415, "the body is not a JPEG or PNG image (send the image file's bytes as the body)");
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch {
    return undefined;
  }
}
