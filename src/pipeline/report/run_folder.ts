// Reads what a run folder holds, for the report: the folder itself and each subfolder are task outputs,
// recognised by their files (component_test.json, visualize.json, explain_<c>.json, hyperplanes.json, a
// shifting/masking-shaped *_test.json) and named by their manifest's `task`. Anything else is kept generically:
// its JSON files' summaries and its JPEGs. Only reads; nothing is recomputed. Whatever cannot be read or does
// not agree with what names it (a truncated accuracy row, a JSON file that does not parse, a figure a report
// names but the folder lacks, an incomplete output) is a problem, listed so the page and the console show it.
import { basename, join, relative } from "node:path";
import { readNpy } from "../../io/npy.ts";
import { exists } from "../../io/atomic.ts";
import type { ClassRecord, ComponentTestReport } from "../component_test/component_test_run.ts";
import { COMPONENT_TEST_REPORT, readComponentTest } from "../component_test/read_component_test_folder.ts";
import type { VisualizeReport } from "../figures/visualize.ts";
import type { ExplainReport } from "../figures/explain.ts";
import type { ContrastReport } from "../contrast/sanity_checks/contrast_test_run.ts";
import {
  hyperplaneRowPaths,
  HYPERPLANES_INDEX,
  type HyperplanesIndex,
} from "../contrast/hyperplanes/hyperplanes_io.ts";

/** A JPEG of the run, read when the report is built. */
export interface ImageRef {
  title: string;
  path: string;
}

export interface ClassEntry {
  class: number;
  name?: string;
  component?: ClassRecord;
  images: ImageRef[];
}

export interface ManifestEntry {
  /** Folder relative to the run folder ("." for the run folder itself). */
  folder: string;
  /** The file the manifest came from (manifest.json, or a report JSON's `manifest` field). */
  file: string;
  manifest: Record<string, unknown>;
}

export interface HyperplaneAccuracy {
  folder: string;
  index: HyperplanesIndex;
  k: number;
  /** K x K row-major; NaN where the pair has no hyperplane (i = j, no row file, a class without vectors). */
  accuracy: Float64Array;
}

export interface ContrastTestEntry {
  folder: string;
  file: string;
  report: ContrastReport;
  figures: ImageRef[];
}

export interface GenericOutput {
  folder: string;
  tasks: string[];
  summaries: { file: string; summary: unknown }[];
  images: ImageRef[];
  /** JPEGs beyond the cap, not inlined. */
  imagesLeftOut: number;
}

/** An input the report could not use as its folder says it should be. */
export interface RunProblem {
  path: string;
  problem: string;
}

export interface RunContents {
  root: string;
  /** Unreadable or inconsistent inputs, in the order met; the sections they feed show what could be read. */
  problems: RunProblem[];
  /** Every output folder and the tasks its manifests name. */
  outputs: { folder: string; tasks: string[]; files: number }[];
  component?: { folder: string; report: ComponentTestReport };
  classes: Map<number, ClassEntry>;
  hyperplanes?: HyperplaneAccuracy;
  contrastTests: ContrastTestEntry[];
  generic: GenericOutput[];
  manifests: ManifestEntry[];
}

/** JSON files above this size are not read (a predictions list of a large dataset): their name is listed. */
const MAX_JSON_BYTES = 32 << 20;
/** JPEGs per unknown output folder that are inlined. */
export const MAX_GENERIC_IMAGES = 48;

async function listFolder(dir: string): Promise<Deno.DirEntry[]> {
  const entries: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(dir)) entries.push(e);
  return entries.sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
}

async function readJson(path: string, problems: RunProblem[]): Promise<unknown> {
  const info = await Deno.stat(path);
  if (info.size > MAX_JSON_BYTES) {
    return { unread: `${(info.size / 2 ** 20).toFixed(0)} MiB, too large to summarize` };
  }
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    const problem = `unreadable JSON (${(e as Error).message})`;
    problems.push({ path, problem });
    return { unreadable: problem };
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Whether a JSON file is a shifting/masking-style contrast test: runs of pairs with p(j) per step. */
function isContrastReport(v: unknown): v is ContrastReport {
  if (!isObject(v) || !Array.isArray(v.runs) || !isObject(v.settings)) return false;
  const pair = (v.runs[0] as { pairs?: unknown[] } | undefined)?.pairs?.[0];
  return isObject(pair) && Array.isArray(pair.pTo) && Array.isArray(pair.pFrom);
}

/** The step values of a contrast test: the settings array named by the records' step key, else 0..n-1. */
export function contrastSteps(report: ContrastReport): { key: string; values: number[] } {
  const pair = report.runs[0]?.pairs[0];
  const n = pair?.pTo.length ?? 0;
  for (const key of ["offsets", "levels", "steps", "maskLevels"]) {
    const v = report.settings[key];
    if (Array.isArray(v) && v.length === n && v.every((x) => typeof x === "number")) {
      return { key, values: v as number[] };
    }
    const own = pair?.[key];
    if (Array.isArray(own) && own.length === n) return { key, values: own as number[] };
  }
  return { key: "step", values: [...Array(n).keys()] };
}

/** What a JSON file says in short: its `summary` if it has one, else its scalar fields and list lengths. */
export function summarizeJson(value: unknown): unknown {
  if (!isObject(value)) return Array.isArray(value) ? `[${value.length} items]` : value;
  if (value.summary !== undefined) return { summary: value.summary };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === "manifest") continue;
    if (Array.isArray(v)) out[k] = `[${v.length} items]`;
    else if (isObject(v)) out[k] = JSON.stringify(v).length <= 600 ? v : `{${Object.keys(v).length} fields}`;
    else out[k] = v;
  }
  return out;
}

function classEntry(classes: Map<number, ClassEntry>, cls: number, name?: string): ClassEntry {
  let e = classes.get(cls);
  if (!e) classes.set(cls, e = { class: cls, images: [] });
  if (name && !e.name) e.name = name;
  return e;
}

/**
 * K x K accuracies from the row files accuracy_<i>.npy of the classes hyperplanes.json lists; a listed row that
 * is missing, unreadable or not K long is a problem (its pairs stay NaN, "no pair" on the heat map).
 */
async function readAccuracy(
  dir: string,
  index: HyperplanesIndex,
  problems: RunProblem[],
): Promise<Float64Array> {
  const k = index.numClasses;
  const accuracy = new Float64Array(k * k).fill(NaN);
  const trained = new Set(index.classes);
  if (index.complete === false) {
    problems.push({
      path: join(dir, HYPERPLANES_INDEX),
      problem: 'incomplete ("complete": false): rows were still being written, or the run stopped',
    });
  }
  for (const i of index.classes) {
    const path = hyperplaneRowPaths(dir, i).accuracy;
    let row: ArrayLike<number>;
    try {
      row = (await readNpy(path)).data as Float32Array;
    } catch (e) {
      const problem = !(await exists(path))
        ? `missing, though ${HYPERPLANES_INDEX} lists class ${i} as trained`
        : `unreadable (${(e as Error).message.replace(`${path}: `, "")})`;
      problems.push({ path, problem: `${problem}: class ${i}'s pairs are shown as "no pair"` });
      continue;
    }
    if (row.length !== k) {
      problems.push({
        path,
        problem:
          `${row.length} accuracies where ${HYPERPLANES_INDEX} says K = ${k}: class ${i}'s pairs are ` +
          `shown as "no pair"`,
      });
      continue;
    }
    for (let j = 0; j < k; j++) {
      if (j !== i && trained.has(j)) accuracy[i * k + j] = row[j];
    }
  }
  return accuracy;
}

/** The JPEGs in a folder and its subfolders (one level), relative names in order. */
async function jpegsIn(dir: string, nested: boolean): Promise<string[]> {
  const found: string[] = [];
  for (const e of await listFolder(dir)) {
    if (e.isFile && /\.jpe?g$/i.test(e.name)) found.push(e.name);
    else if (e.isDirectory && nested) {
      for (const s of await listFolder(join(dir, e.name))) {
        if (s.isFile && /\.jpe?g$/i.test(s.name)) found.push(join(e.name, s.name));
      }
    }
  }
  return found;
}

/** The files a completed run in `dir` lists in its manifest (io/manifest.ts), or undefined. */
async function runOutputs(dir: string): Promise<Set<string> | undefined> {
  // An unreadable manifest is reported once, where the folder's JSON files are read.
  const manifest = await readJson(join(dir, "manifest.json"), []).catch(() => undefined);
  if (!isObject(manifest) || manifest.complete !== true || !Array.isArray(manifest.outputs)) return undefined;
  return new Set(manifest.outputs as string[]);
}

/** Reads one output folder into `contents`. */
async function readOutput(contents: RunContents, dir: string, nested = true): Promise<void> {
  const folder = relative(contents.root, dir) || ".";
  const entries = await listFolder(dir);
  // A completed run's manifest lists the files it wrote: only those are shown (nothing an earlier run left).
  const listed = await runOutputs(dir);
  const shown = (file: string) => !listed || file === "manifest.json" || listed.has(file);
  const jsonFiles = entries.filter((e) => e.isFile && e.name.endsWith(".json")).map((e) => e.name)
    .filter(shown);
  const tasks = new Set<string>();
  const claimed = new Set<string>();
  const generic: GenericOutput = { folder, tasks: [], summaries: [], images: [], imagesLeftOut: 0 };
  const addManifest = (file: string, manifest: unknown) => {
    if (!isObject(manifest)) return;
    contents.manifests.push({ folder, file, manifest });
    if (manifest.complete === false) {
      contents.problems.push({
        path: join(dir, file.replace(/ \(manifest field\)$/, "")),
        problem: `incomplete ("complete": false): '${manifest.task ?? "?"}' has not finished, or it stopped`,
      });
    }
    if (typeof manifest.task === "string") tasks.add(manifest.task);
  };

  for (const file of jsonFiles) {
    const path = join(dir, file);
    const value = await readJson(path, contents.problems);
    if (file === "manifest.json") {
      addManifest(file, value);
      continue;
    }
    if (isObject(value) && isObject(value.manifest)) addManifest(`${file} (manifest field)`, value.manifest);
    if (file === COMPONENT_TEST_REPORT) {
      // The stage's reader: a killed, foreign or malformed test is a problem, not a section.
      let report: ComponentTestReport;
      try {
        report = await readComponentTest(dir, { flag: "component test" });
      } catch (e) {
        // An unfinished run is reported once, by its manifest.json (addManifest).
        const unfinished = /has not finished/.test((e as Error).message) &&
          jsonFiles.includes("manifest.json");
        if (!unfinished) {
          contents.problems.push({
            path,
            problem: (e as Error).message.replace(`component test ${dir}: `, ""),
          });
        }
        continue;
      }
      contents.component = { folder, report };
      for (const r of report.classes) {
        const e = classEntry(contents.classes, r.class, r.name);
        e.component = r;
        const crops = cropNote(report.settings);
        for (
          const [suffix, title] of [["all", `composite, all images${crops}`], [
            "excluded",
            `composite, target excluded${crops}`,
          ]]
        ) {
          const jpeg = join("composites", `${r.class}_${suffix}.jpg`);
          claimed.add(jpeg);
          e.images.push({ title, path: join(dir, jpeg) });
        }
      }
    } else if (file === "visualize.json" && isObject(value) && Array.isArray(value.classes)) {
      for (const c of (value as unknown as VisualizeReport).classes) {
        claimed.add(c.file);
        classEntry(contents.classes, c.class, c.name).images.unshift({
          title: `prototype grid${cropNote(value as unknown as VisualizeReport)}`,
          path: join(dir, c.file),
        });
      }
    } else if (/^explain_\d+\.json$/.test(file) && isObject(value) && typeof value.jpeg === "string") {
      const r = value as unknown as ExplainReport;
      claimed.add(r.jpeg);
      classEntry(contents.classes, r.class, r.name).images.push({
        title: `explanation figure${cropNote(r)}`,
        path: join(dir, r.jpeg),
      });
    } else if (file === HYPERPLANES_INDEX && isObject(value) && typeof value.numClasses === "number") {
      const index = value as unknown as HyperplanesIndex;
      tasks.add("hyperplanes");
      contents.hyperplanes = {
        folder,
        index,
        k: index.numClasses,
        accuracy: await readAccuracy(dir, index, contents.problems),
      };
    } else if (isContrastReport(value)) {
      const figures = value.runs.filter((r) => typeof r.figure === "string").map((r) => {
        claimed.add(r.figure);
        return { title: `${basename(file, ".json")}, run ${r.run}`, path: join(dir, r.figure) };
      });
      contents.contrastTests.push({ folder, file, report: value, figures });
    } else {
      generic.summaries.push({ file, summary: summarizeJson(value) });
    }
  }

  const jpegs = (await jpegsIn(dir, nested)).filter((f) => !claimed.has(f) && shown(f));
  generic.images = jpegs.slice(0, MAX_GENERIC_IMAGES).map((f) => ({ title: f, path: join(dir, f) }));
  generic.imagesLeftOut = Math.max(0, jpegs.length - MAX_GENERIC_IMAGES);
  generic.tasks = [...tasks];
  if (generic.summaries.length || generic.images.length) contents.generic.push(generic);
  contents.outputs.push({ folder, tasks: [...tasks], files: entries.filter((e) => e.isFile).length });
}

/** Checks that `root` is a folder, with an error naming --run. */
export async function checkRunFolder(root: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(root);
  } catch {
    throw new Error(
      `--run ${root}: no such folder (expected a run folder whose subfolders are task outputs)`,
    );
  }
  if (!info.isDirectory) throw new Error(`--run ${root} is a file, expected a run folder`);
}

/** Every JPEG that an output's JSON names must be there: a missing one is a problem (the page names it too). */
async function checkImagesExist(contents: RunContents): Promise<void> {
  const named = [
    ...[...contents.classes.values()].flatMap((c) => c.images),
    ...contents.contrastTests.flatMap((t) => t.figures),
  ];
  for (const image of named) {
    try {
      await Deno.stat(image.path);
    } catch (e) {
      const why = e instanceof Deno.errors.NotFound ? "missing" : `unreadable (${(e as Error).message})`;
      contents.problems.push({
        path: image.path,
        problem: `${image.title}: ${why}, though its output names it`,
      });
    }
  }
}

export async function readRunFolder(root: string): Promise<RunContents> {
  await checkRunFolder(root);
  const contents: RunContents = {
    root,
    problems: [],
    outputs: [],
    classes: new Map(),
    contrastTests: [],
    generic: [],
    manifests: [],
  };
  // The run folder itself may be one task's output (`--run out/demo/figures`).
  await readOutput(contents, root, false);
  for (const e of await listFolder(root)) {
    if (e.isDirectory && !e.name.startsWith(".")) await readOutput(contents, join(root, e.name));
  }
  await checkImagesExist(contents);
  // The paper's order: shifting before masking, then any other test of that shape.
  const rank = (t: ContrastTestEntry) => ["shifting_test.json", "masking_test.json"].indexOf(t.file) >>> 0;
  contents.contrastTests.sort((a, b) => rank(a) - rank(b) || a.file.localeCompare(b.file));
  // Folders without files are not listed, nor the run folder itself unless it is a task's output.
  contents.outputs = contents.outputs.filter((o) => o.files > 0 && (o.folder !== "." || o.tasks.length));
  return contents;
}

/**
 * A figure's crop size for its title, when a token tap's --crop-patches made it other than one patch (older
 * files and CNN runs: nothing; their figures' own titles say it).
 */
function cropNote(r: { cropSize?: number; cropPatches?: number }): string {
  if (!r.cropPatches || r.cropPatches === 1 || !r.cropSize) return "";
  return ` (crops of ${r.cropPatches} x ${r.cropPatches} patches, ${r.cropSize} px)`;
}
