// Every output folder gets a manifest: what produced it (task, kind), from what (model sha256, layer, data
// identity, the input folders it read with their manifests' hashes), with which settings and versions, the
// files it wrote and `complete`, written last. The readers of every artifact kind check a folder through
// checkArtifact below before any compute, and a run takes over its --out through takeOverOutDir.
import { sha256Hex } from "../onnx/model.ts";
import { ort } from "../runtime/ort.ts";
import { join } from "node:path";
import { UsageError } from "../cli/cli.ts";
import { isStrayTemporary, writeJsonAtomic } from "./atomic.ts";
import { identityChanges, IdentityMismatch, type RunIdentity } from "./run_identity.ts";

export const PROTOSCOPE_VERSION = "0.1.0";

export interface ManifestInput {
  task: string;
  /** The artifact kind, when it is not the task's name. */
  kind?: string;
  /** The input folders read, by flag (see inputRef). */
  inputs?: Record<string, InputRef>;
  model?: { path: string; sha256: string };
  layer?: { name: string; tensor: string };
  data?: { path: string; count: number; files: string[] };
  device?: string;
  settings: Record<string, unknown>;
  /** What the outputs were computed from, for resumes and reuse (io/run_identity.ts). */
  identity?: RunIdentity;
  /** The part of the work this run did (`--shard`) and its --out, for `deno task merge`. */
  shard?: { index: number; count: number; out: string };
}

export async function buildManifest(input: ManifestInput): Promise<Record<string, unknown>> {
  const data = input.data
    ? {
      path: input.data.path,
      count: input.data.count,
      // The data list is identified by a hash of its file paths, so a resumed or repeated run can tell that it
      // sees the same images in the same order.
      listSha256: await sha256Hex(new TextEncoder().encode(input.data.files.join("\n"))),
      // What the images are: paths, labels and each file's size and time (io/run_identity.ts).
      ...(input.identity ? { sha256: input.identity.data.sha256 } : {}),
    }
    : undefined;
  return {
    task: input.task,
    kind: input.kind ?? input.task,
    created: new Date().toISOString(),
    model: input.model,
    layer: input.layer,
    data,
    device: input.device,
    settings: input.settings,
    ...(input.identity ? { identity: input.identity } : {}),
    ...(input.shard ? { shard: input.shard } : {}),
    ...(input.inputs ? { inputs: input.inputs } : {}),
    versions: {
      protoscope: PROTOSCOPE_VERSION,
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      onnxruntimeWeb: ort.env.versions.web ?? ort.env.versions.common,
    },
  };
}

// ---- Provenance: what a folder is, whether it is finished, what it read and what it wrote. ----

export const MANIFEST_FILE = "manifest.json";

/** A folder a run read: its path, what kind of artifact it is and the hash of its own manifest. */
export interface InputRef {
  path: string;
  kind: string;
  /** SHA-256 of the input folder's manifest.json bytes (null for a folder without one, e.g. the reference's). */
  manifestSha256: string | null;
}

/** What a manifest says about a folder, as the readers check it. */
export interface ManifestRecord {
  task: string;
  /** The artifact kind (the task's name unless the task writes another kind). */
  kind?: string;
  model?: { path: string; sha256: string };
  layer?: { name: string; tensor: string };
  identity?: RunIdentity;
  settings?: Record<string, unknown>;
  inputs?: Record<string, InputRef>;
  /** The files the run wrote, relative to its folder (set when it completes). */
  outputs?: string[];
  /** False from the run's start until its last file is written; only then true. */
  complete?: boolean;
  shard?: { index: number; count: number; out: string };
}

/** `<dir>/manifest.json` and the hash of its bytes; undefined when the folder has none. */
export async function readManifest(
  dir: string,
): Promise<{ manifest: ManifestRecord; sha256: string } | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(join(dir, MANIFEST_FILE));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return undefined;
    throw e;
  }
  try {
    return { manifest: JSON.parse(new TextDecoder().decode(bytes)), sha256: await sha256Hex(bytes) };
  } catch (e) {
    throw new UsageError(`${join(dir, MANIFEST_FILE)}: not a readable manifest (${(e as Error).message})`);
  }
}

/** The kind a manifest declares. */
export function manifestKind(m: ManifestRecord): string {
  return m.kind ?? m.task;
}

/** What a consumer expects of an input folder. Every check is made before any compute. */
export interface ArtifactExpectation {
  /** The flag that named the folder, for messages (`--vectors`). */
  flag: string;
  /** The kind(s) accepted. */
  kind: string | readonly string[];
  /** The model the artifact must come from. */
  model?: { sha256: string; path: string };
  /** The layer (its resolved tensor, and the user's name for messages). */
  layer?: { name: string; tensor: string };
  /** A folder without a manifest (the reference's own files) is accepted as foreign (default: refused). */
  allowForeign?: boolean;
}

export interface CheckedArtifact {
  dir: string;
  /** Undefined for an accepted foreign folder. */
  manifest?: ManifestRecord;
  ref: InputRef;
}

const shortHash = (s: string) => `${s.slice(0, 12)}…`;

/**
 * The one check of an input folder: its manifest names the expected kind, says the run that wrote it
 * completed, and (when asked) records the same model and layer (checkOrigin). Any failure is a UsageError (exit 2) naming
 * the folder, what was expected and what was found.
 */
export async function checkArtifact(dir: string, want: ArtifactExpectation): Promise<CheckedArtifact> {
  const kinds = typeof want.kind === "string" ? [want.kind] : want.kind;
  const expected = kinds.join(" or ");
  const where = `${want.flag} ${dir}`;
  try {
    if (!(await Deno.stat(dir)).isDirectory) {
      throw new UsageError(`${where}: expected a ${expected} folder, found a file`);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(`${where}: no such folder (expected a ${expected} folder)`);
    }
    throw e;
  }
  const read = await readManifest(dir);
  if (!read) {
    if (want.allowForeign) return { dir, ref: { path: dir, kind: kinds[0], manifestSha256: null } };
    throw new UsageError(`${where}: expected a ${expected} folder, found no ${MANIFEST_FILE}`);
  }
  const m = read.manifest;
  const found = manifestKind(m);
  if (!kinds.includes(found)) {
    throw new UsageError(
      `${where}: expected a ${expected} folder, found a '${found}' folder (its ${MANIFEST_FILE})`,
    );
  }
  if (m.complete === false) {
    throw new UsageError(
      `${where}: expected a complete ${expected} folder, found one whose run has not finished ` +
        `(${MANIFEST_FILE} complete: false; it is still running or was killed): wait for it or rerun it`,
    );
  }
  checkOrigin(where, expected, m, want);
  return { dir, manifest: m, ref: { path: dir, kind: found, manifestSha256: read.sha256 } };
}

/**
 * The artifact comes from the model and layer the consumer runs (compared where the manifest records them; an
 * older protoscope's folders may not): a UsageError naming what was expected and what was found.
 */
export function checkOrigin(
  where: string,
  what: string,
  m: ManifestRecord | undefined,
  want: { model?: { sha256: string; path: string }; layer?: { name: string; tensor: string } },
): void {
  if (want.layer && m?.layer && m.layer.tensor !== want.layer.tensor) {
    throw new UsageError(
      `${where}: expected ${what} at --layer ${want.layer.name} (${want.layer.tensor}), found ${what} at ` +
        `${m.layer.name} (${m.layer.tensor})`,
    );
  }
  if (want.model && m?.model && m.model.sha256 !== want.model.sha256) {
    throw new UsageError(
      `${where}: expected ${what} of --model ${want.model.path} (sha256 ${shortHash(want.model.sha256)}), ` +
        `found ${what} of ${m.model.path} (sha256 ${shortHash(m.model.sha256)})`,
    );
  }
}

/** Tasks that also keep their manifest inside their one JSON output (the only one in older folders). */
const MANIFEST_FILE_OF: Record<string, string> = {
  predict: "predictions.json",
  "component-test": "component_test.json",
};

/** Folders that hold another artifact (their own manifest): their files are not the enclosing run's. */
async function isArtifactFolder(dir: string): Promise<boolean> {
  for (const name of [MANIFEST_FILE, ...Object.values(MANIFEST_FILE_OF)]) {
    if (await Deno.stat(join(dir, name)).then(() => true, () => false)) return true;
  }
  return false;
}

/** Every file under `dir` that a run wrote: nested artifact folders, the manifest, locks and temporaries aside. */
export async function listRunFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  const visit = async (rel: string) => {
    for await (const entry of Deno.readDir(join(dir, rel))) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory) {
        if (!(await isArtifactFolder(join(dir, path)))) await visit(path);
      } else if (
        entry.isFile && !(rel === "" && entry.name === MANIFEST_FILE) &&
        !entry.name.startsWith(".protoscope") &&
        isStrayTemporary(entry.name) === undefined
      ) {
        files.push(path);
      }
    }
  };
  await visit("");
  return files.sort();
}

/** Writes `manifest` with `complete: false`: the first file of a run, so a reader never takes it as finished. */
export async function startManifest(dir: string, manifest: Record<string, unknown>): Promise<void> {
  await writeJsonAtomic(join(dir, MANIFEST_FILE), { ...manifest, complete: false });
}

/**
 * The run's last write: the manifest with the files the run wrote (everything in the folder but nested
 * artifacts, or `outputs` when given) and `complete: true`. `nestedRuns` are artifact folders inside `dir` that
 * this run made through another stage (insert-test --auto's why_not/<pair>/): they are listed with a trailing
 * `/`, so the next run removes them whole, whereas a nested folder the run only reused (its predictions) stays.
 */
export async function completeManifest(
  dir: string,
  manifest: Record<string, unknown>,
  outputs?: string[],
  nestedRuns: readonly string[] = [],
): Promise<void> {
  const files = outputs ?? await listRunFiles(dir);
  await writeJsonAtomic(join(dir, MANIFEST_FILE), {
    ...manifest,
    outputs: [...files, ...nestedRuns.map((f) => `${f.replace(/\/+$/, "")}/`)],
    complete: true,
  });
}

/**
 * Removes the files an earlier run's manifest lists, and the nested run folders it lists (`sub/`) whole, then
 * the folders they leave empty; returns how many entries went.
 */
export async function removeListedOutputs(dir: string, outputs: readonly string[]): Promise<number> {
  let removed = 0;
  const parents = new Set<string>();
  for (const listed of outputs) {
    const rel = listed.replace(/\/+$/, "");
    if (!rel || rel.split(/[\\/]/).includes("..")) continue;
    await Deno.remove(join(dir, rel), { recursive: listed.endsWith("/") }).then(() => removed++, () => {});
    const parent = rel.split("/").slice(0, -1).join("/");
    if (parent) parents.add(parent);
  }
  // Deepest first; a folder that still holds anything stays.
  for (const p of [...parents].sort((a, b) => b.length - a.length)) {
    await Deno.remove(join(dir, p)).catch(() => {});
  }
  return removed;
}

/** The folder's manifest, unless it holds another task's output: then a UsageError (exit 2) naming it. */
export async function refuseOtherKind(
  dir: string,
  task: string,
): Promise<{ manifest: ManifestRecord; sha256: string } | undefined> {
  const earlier = await readManifest(dir).catch(() => undefined);
  if (earlier && manifestKind(earlier.manifest) !== task) {
    throw new UsageError(
      `--out ${dir}: expected a folder for ${task}'s output, found a '${manifestKind(earlier.manifest)}' ` +
        `folder (its ${MANIFEST_FILE}): choose another --out`,
    );
  }
  return earlier;
}

/**
 * A run owns its --out, for a task that does not resume: what an earlier run of the task wrote there (the files
 * its manifest lists, or for a run killed before listing them every file in the folder but nested artifacts)
 * is removed, so nothing stale survives for a reader or the report; then this run's manifest is started with
 * `complete: false`. A folder holding another task's output is refused (exit 2) by name.
 */
export async function takeOverOutDir(dir: string, task: string): Promise<void> {
  const earlier = await refuseOtherKind(dir, task);
  if (earlier) {
    const m = earlier.manifest;
    // A finished run lists its files; a killed one lists at most the nested runs it had made (see
    // completeManifest), and its files are whatever the folder holds.
    const listed = m.complete === true && m.outputs
      ? m.outputs
      : [...(m.outputs ?? []), ...await listRunFiles(dir)];
    const n = await removeListedOutputs(dir, listed);
    if (n) console.error(`${dir}: removed the ${n} files of the earlier ${task} run`);
  }
  await startManifest(dir, { task, kind: task, created: new Date().toISOString() });
}

/**
 * A run owns its --out, for a task that resumes: the earlier run's work is kept only when its manifest records
 * the same identity (model, layer, settings, data). Otherwise the run is refused naming what changed, or with
 * `fresh` the earlier results go: `removeEarlier` removes what the task writes (a killed run lists nothing).
 * Returns whether earlier results may be resumed.
 */
export async function claimResumableOutDir(
  out: string,
  task: string,
  identity: RunIdentity,
  fresh: boolean,
  removeEarlier: () => Promise<void>,
): Promise<boolean> {
  const earlier = (await readManifest(out).catch(() => undefined))?.manifest;
  if (!earlier) return true;
  const changes = manifestKind(earlier) !== task
    ? [`it holds a '${manifestKind(earlier)}' output, not ${task}'s`]
    : identityChanges(earlier.identity, identity);
  if (!changes.length) return true;
  if (!fresh) throw new IdentityMismatch(out, changes);
  console.error(`${task}: --fresh: removing the results in ${out} (${changes.join("; ")})`);
  if (earlier.outputs) await removeListedOutputs(out, earlier.outputs);
  await removeEarlier();
  await Deno.remove(join(out, MANIFEST_FILE)).catch(() => {});
  return false;
}

/**
 * A run that shares its --out with other tasks (visualize and explain write into the demo's `figures/`) owns
 * only its own files: its manifest lives in its report JSON (`file`), whose `manifest.outputs` lists them.
 * Before writing anything the run removes what the earlier run of the same report listed (nothing another
 * task wrote), then writes the report as a placeholder holding only its manifest with `complete: false`, so a
 * killed run is seen as unfinished. A report of another kind under that name is refused (exit 2).
 */
export async function takeOverOwnFiles(
  dir: string,
  file: string,
  manifest: Record<string, unknown>,
): Promise<void> {
  const path = join(dir, file);
  let earlier: { manifest?: ManifestRecord } | undefined;
  try {
    earlier = JSON.parse(await Deno.readTextFile(path));
  } catch {
    earlier = undefined;
  }
  const m = earlier?.manifest;
  const kind = String(manifest.kind ?? manifest.task);
  if (m && typeof m === "object" && manifestKind(m) !== kind) {
    throw new UsageError(
      `--out ${dir}: ${file} holds a '${manifestKind(m)}' output, not ${kind}'s: choose another --out`,
    );
  }
  const listed = Array.isArray(m?.outputs) ? m.outputs.filter((f) => f !== file) : [];
  const n = await removeListedOutputs(dir, listed);
  if (n) console.error(`${dir}: removed the ${n} files of the earlier ${kind} run (${file})`);
  await writeJsonAtomic(path, { manifest: { ...manifest, complete: false } });
}

/** The last write of a run that owns its files (takeOverOwnFiles): its report, listing them, `complete: true`. */
export async function completeOwnFiles<T extends { manifest: Record<string, unknown> }>(
  dir: string,
  file: string,
  report: T,
  outputs: readonly string[],
): Promise<T> {
  const done = { ...report, manifest: { ...report.manifest, outputs: [...outputs, file], complete: true } };
  await writeJsonAtomic(join(dir, file), done);
  return done;
}

/** A reference to an input folder for `inputs`: the hash of its manifest's file. */
export async function inputRef(dir: string, kind: string): Promise<InputRef> {
  const bytes = await Deno.readFile(join(dir, MANIFEST_FILE_OF[kind] ?? MANIFEST_FILE)).catch(() =>
    undefined
  );
  return { path: dir, kind, manifestSha256: bytes ? await sha256Hex(bytes) : null };
}
