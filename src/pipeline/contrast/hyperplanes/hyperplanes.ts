// The hyperplanes stage: every ordered pair (i, j) of classes with contrast vectors gets the reference's
// logistic hyperplane (class i's rows label 0, class j's label 1), written as the reference's per-class rows.
// Inputs are checked before any training; rows are written as each block of classes finishes, so an
// interrupted run resumes at the first unfinished block (when the vectors' content and settings match).
import { withOutDir } from "../../../io/out_dir.ts";
import { join } from "node:path";
import { exists, readJsonIfExists } from "../../../io/atomic.ts";
import { buildManifest, completeManifest, startManifest } from "../../../io/manifest.ts";
import { readNpy } from "../../../io/npy.ts";
import { createProgress } from "../../../io/progress.ts";
import { sha256Hex } from "../../../onnx/model.ts";
import { acquireGpu } from "../../../runtime/gpu.ts";
import {
  CpuPairSolver,
  GpuPairSolver,
  type GpuSolverOptions,
  type PairSolver,
  type PairTrainingInput,
  type TileResult,
} from "../../../../kernels/hyperplane/pair_trainer.ts";
import { NativePairSolver } from "../../../../kernels/hyperplane/native_trainer.ts";
import { loadNativeCpu } from "../../../runtime/native_cpu.ts";
import { HYPERPLANE_INITS, type HyperplaneTraining } from "../../../../kernels/hyperplane/settings.ts";
import {
  hyperplaneRowPaths,
  HYPERPLANES_INDEX,
  type HyperplanesIndex,
  readHyperplaneEntries,
  writeHyperplaneRow,
  writeHyperplanesIndex,
} from "./hyperplanes_io.ts";
import { readContrastVectors } from "../vectors/vectors_io.ts";
import { partition, type Shard, shardLabel, shardSetting } from "../../../cli/shard.ts";
import { UsageError } from "../../../cli/cli.ts";

export type HyperplaneSolverChoice = "auto" | "gpu" | "cpu" | "twin";

export interface HyperplaneJob {
  vectors: string;
  out: string;
  /** Classes to contrast (default: every class file in the vectors folder). */
  classes?: readonly number[];
  training: HyperplaneTraining;
  /**
   * auto (default): the GPU on a hardware adapter, else the CPU (llvmpipe trains these products about 10x
   * slower than even the CPU twin: `deno task bench --only hyperplanes`). cpu: onnxruntime-node's batched
   * GEMMs (kernels/hyperplane/native_trainer.ts), or the CPU twin where the native library cannot load.
   * twin: the CPU twin itself (the reference, pair by pair; slow).
   */
  solver?: HyperplaneSolverChoice;
  /** Block sizes (tests force several blocks on tiny inputs). */
  limits?: GpuSolverOptions;
  log?: (line: string) => void;
  /** Train only this part of the rows (whole blocks of classes; `deno task merge` joins the parts). */
  shard?: Shard;
  /** Remove hyperplanes of other vectors, classes or settings in --out (otherwise such a folder is refused). */
  fresh?: boolean;
}

/** What a hyperplanes run writes: the row files, the index and the manifest. */
async function removeHyperplaneFiles(out: string): Promise<void> {
  for await (const entry of Deno.readDir(out)) {
    if (
      entry.isFile && /^((bias|accuracy)_)?\d+\.npy$|^hyperplanes\.json$|^manifest\.json$/.test(entry.name)
    ) {
      await Deno.remove(join(out, entry.name));
    }
  }
}

export interface HyperplaneSummary {
  out: string;
  numClasses: number;
  channels: number;
  /** Classes with rows that were contrasted. */
  classes: number;
  emptyClasses: number[];
  pairs: { trained: number; derived: number; skipped: number };
  rowsResumed: number;
  meanAccuracy: number;
  minAccuracy: number;
  minAccuracyPair: [number, number] | null;
  seconds: number;
  pairsPerSecond: number;
  device: string;
}

/** Settings errors, before anything is read. */
export function checkTraining(t: HyperplaneTraining): void {
  if (!Number.isInteger(t.epochs) || t.epochs < 1) {
    throw new Error(`epochs must be an integer >= 1, got ${t.epochs}`);
  }
  if (!(Number.isFinite(t.lr) && t.lr > 0)) throw new Error(`lr must be a number > 0, got ${t.lr}`);
  if (!HYPERPLANE_INITS.includes(t.init)) {
    throw new Error(`init must be one of ${HYPERPLANE_INITS.join("|")}, got '${t.init}'`);
  }
  if (!Number.isInteger(t.seed) || t.seed < 0 || t.seed > 0xffffffff) {
    throw new Error(`seed must be an integer in 0..2^32-1, got ${t.seed}`);
  }
}

export function trainHyperplanes(job: HyperplaneJob): ReturnType<typeof trainHyperplanesIn> {
  return withOutDir(job.out, "hyperplanes", () => trainHyperplanesIn(job));
}

async function trainHyperplanesIn(job: HyperplaneJob): Promise<HyperplaneSummary> {
  const log = job.log ?? ((line: string) => console.error(line));
  const t = job.training;
  checkTraining(t);
  if (job.shard && t.init === "zeros") {
    // Row i of --init zeros copies (j, i) from the rows j < i written before it, which another shard holds.
    throw new UsageError(
      "--shard needs --init torch: with --init zeros each row depends on the rows before it",
    );
  }
  const start = performance.now();
  const vectors = await readContrastVectors(job.vectors, { classes: job.classes });
  const K = vectors.numClasses;
  const C = vectors.channels;
  const outside = (job.classes ?? []).filter((c) => c >= K);
  if (outside.length) throw new Error(`--classes ${outside.join(",")}: outside the vectors' ${K} classes`);
  const noRows = [...vectors.empty, ...vectors.missing].sort((a, b) => a - b);
  for (const c of vectors.empty) {
    log(`hyperplanes: class ${c} has zero rows; its pairs get zero rows, accuracy 0`);
  }
  for (const c of vectors.missing) {
    log(`hyperplanes: class ${c} has no vectors file; its pairs get zero rows, accuracy 0`);
  }
  if (vectors.classes.length < 2) {
    throw new Error(
      `${job.vectors}: hyperplanes need at least 2 classes with rows, found ${vectors.classes.length}` +
        (noRows.length ? ` (without rows: ${noRows.join(", ")})` : ""),
    );
  }
  // Every class asked for (or present) gets a row file, as the reference writes one per class.
  const rowClasses = [...new Set([...vectors.classes, ...noRows])].sort((a, b) => a - b);
  const resumeKey = await sha256Hex(
    new TextEncoder().encode(JSON.stringify([vectors.sha256, rowClasses, K, C, t])),
  );
  const previous = await readJsonIfExists<HyperplanesIndex>(join(job.out, HYPERPLANES_INDEX));
  // A shard's rows are its own: rows of another split in the same folder are not taken as done.
  if (
    previous &&
    (previous.resumeKey !== resumeKey || previous.settings.shard !== shardSetting(job.shard).shard)
  ) {
    if (!job.fresh) {
      throw new UsageError(
        `${job.out} holds hyperplanes of other vectors, classes or settings: pass --fresh to remove them, or ` +
          "choose another --out",
      );
    }
    log(`hyperplanes: --fresh: removing the hyperplanes in ${job.out} (other vectors, classes or settings)`);
    await removeHyperplaneFiles(job.out);
  }

  const solver = await chooseSolver(job.solver ?? "auto", vectors, t, job.limits, log);
  const settings = {
    ...t,
    rowFiles: rowClasses.length,
    vectors: job.vectors,
    solver: solver.description,
    ...shardSetting(job.shard),
  };
  const index: HyperplanesIndex = {
    numClasses: K,
    channels: C,
    layer: vectors.layer,
    classes: vectors.classes,
    emptyClasses: noRows,
    settings,
    pairs: { trained: 0, derived: 0, skipped: 0 },
    vectorsSha256: vectors.sha256,
    resumeKey,
    complete: false,
  };
  await writeHyperplanesIndex(job.out, index);
  // What the hyperplanes belong to is what the vectors came from: their model, layer and data, so that the
  // consumers (shifting-test, masking-test, contrast) can refuse another model or layer.
  const from = vectors.manifest;
  const manifest = {
    ...await buildManifest({
      task: "hyperplanes",
      device: solver.description,
      settings,
      inputs: { vectors: vectors.ref },
      ...(job.shard ? { shard: { ...job.shard, out: job.out } } : {}),
    }),
    ...(from?.model ? { model: from.model } : {}),
    ...(from?.layer ? { layer: from.layer } : {}),
    ...(from?.identity
      ? { data: { sha256: from.identity.data.sha256, count: from.identity.data.count } }
      : {}),
  };
  // complete: false until the last row and the index are written.
  await startManifest(job.out, manifest);

  const rowDone = async (i: number) => {
    const p = hyperplaneRowPaths(job.out, i);
    return (await exists(p.normals)) && (await exists(p.bias)) && (await exists(p.accuracy));
  };
  const zeroRow = () => ({
    normals: new Float32Array(K * C),
    bias: new Float32Array(K),
    accuracy: new Float32Array(K),
  });
  // A shard trains whole blocks (each row as in one run) and writes its share of the zero rows.
  const blocks = partition(solver.blocks.map((_, b) => b), job.shard);
  const zeroRows = partition(noRows, job.shard);
  const owned = new Set(blocks.flatMap((b) => solver.blocks[b]));
  if (job.shard) {
    log(`hyperplanes: shard ${shardLabel(job.shard)}: ${owned.size} rows, ${zeroRows.length} zero rows`);
  }
  for (const i of zeroRows) {
    if (!(await rowDone(i))) {
      const r = zeroRow();
      await writeHyperplaneRow(job.out, i, r.normals, r.bias, r.accuracy);
    }
  }

  const n = vectors.classes.length;
  const progress = createProgress("hyperplanes", owned.size * (n - 1), "pairs");
  let resumed = 0;
  let trainedNow = 0;
  try {
    for (const blockA of blocks) {
      const a = solver.blocks[blockA];
      const pairsOfBlock = a.length * (n - 1);
      if ((await Promise.all(a.map(rowDone))).every(Boolean)) {
        resumed += a.length;
        progress.resumeFrom(resumed * (n - 1));
        continue;
      }
      const blocksB = solver.blocks.map((_, b) => b).filter((b) => t.init === "torch" || b >= blockA);
      const tiles = await solver.trainTiles(blockA, blocksB);
      for (const [ia, i] of a.entries()) {
        const row = zeroRow();
        const set = (j: number, normal: Float32Array, bias: number, accuracy: number, sign: number) => {
          for (let k = 0; k < C; k++) row.normals[j * C + k] = sign * normal[k];
          row.bias[j] = sign * bias;
          row.accuracy[j] = accuracy;
        };
        for (const tile of tiles) {
          for (const [ib, j] of tile.b.entries()) {
            if (j === i) continue;
            if (t.init === "zeros" && j < i) {
              // (i, j) = -(j, i): read (j, i) from the same tile (same block) or j's row already written.
              if (!tile.a.includes(j)) continue;
              const p = pairIndex(tile, tile.a.indexOf(j), tile.b.indexOf(i));
              set(j, tile.normals.subarray(p * C, (p + 1) * C), tile.bias[p], tile.accuracy[p], -1);
            } else {
              const p = pairIndex(tile, ia, ib);
              set(j, tile.normals.subarray(p * C, (p + 1) * C), tile.bias[p], tile.accuracy[p], 1);
            }
          }
        }
        if (t.init === "zeros") {
          for (const j of vectors.classes) {
            if (j >= i || a.includes(j)) continue;
            const e = await readHyperplaneEntries(job.out, j, [i], C);
            set(j, e.normals[0], e.bias[0], e.accuracy[0], -1);
          }
        }
        await writeHyperplaneRow(job.out, i, row.normals, row.bias, row.accuracy);
      }
      trainedNow += pairsOfBlock;
      progress.tick(pairsOfBlock);
    }
  } finally {
    progress.stop();
    solver.destroy();
  }

  // Statistics over every row (resumed ones included) from the files themselves.
  const withRows = new Set(vectors.classes);
  let sum = 0, count = 0, min = Infinity;
  let minPair: [number, number] | null = null;
  for (const i of vectors.classes.filter((c) => owned.has(c))) {
    const acc = (await readNpy(hyperplaneRowPaths(job.out, i).accuracy)).data as Float32Array;
    for (const j of vectors.classes) {
      if (j === i || !withRows.has(j)) continue;
      sum += acc[j];
      count++;
      if (acc[j] < min) [min, minPair] = [acc[j], [i, j]];
    }
  }
  // The pairs of the rows this run wrote: all rows, or a shard's share (merge adds the shards' counts up).
  const ordered = owned.size * (n - 1);
  const derived = t.init === "zeros" ? ordered / 2 : 0;
  const all = (owned.size + zeroRows.length) * (rowClasses.length - 1);
  index.pairs = { trained: ordered - derived, derived, skipped: all - ordered };
  index.complete = true;
  await writeHyperplanesIndex(job.out, index);
  await completeManifest(job.out, manifest);
  const seconds = (performance.now() - start) / 1000;
  return {
    out: job.out,
    numClasses: K,
    channels: C,
    classes: n,
    emptyClasses: noRows,
    pairs: index.pairs,
    rowsResumed: resumed,
    meanAccuracy: count ? sum / count : 0,
    minAccuracy: count ? min : 0,
    minAccuracyPair: minPair,
    seconds,
    pairsPerSecond: trainedNow / seconds,
    device: solver.description,
  };
}

async function chooseSolver(
  choice: HyperplaneSolverChoice,
  input: PairTrainingInput,
  t: HyperplaneTraining,
  limits: GpuSolverOptions | undefined,
  log: (line: string) => void,
): Promise<PairSolver> {
  const gpu = choice === "auto" || choice === "gpu" ? await acquireGpu() : undefined;
  if (choice === "gpu" && !gpu) {
    throw new Error("hyperplanes: the GPU was asked for, but there is no WebGPU adapter");
  }
  if (gpu && (choice === "gpu" || !gpu.software)) return GpuPairSolver.create(gpu, input, t, limits);
  if (choice === "twin") return new CpuPairSolver(input, t, limits?.maxClasses);
  const why = gpu ? `${gpu.description} is a software adapter` : choice === "auto" ? "no WebGPU adapter" : "";
  const native = await loadNativeCpu();
  if (native.ort) {
    if (why) log(`hyperplanes: ${why}; training on the CPU (${native.description}; --gpu forces the GPU)`);
    return new NativePairSolver(native.ort, native.description, input, t, limits);
  }
  log(`hyperplanes: ${why ? `${why}; ` : ""}${native.reason}: training on the CPU twin (pair by pair, slow)`);
  return new CpuPairSolver(input, t, limits?.maxClasses);
}

function pairIndex(tile: TileResult, ia: number, ib: number): number {
  return ia * tile.b.length + ib;
}

export function formatHyperplaneSummary(s: HyperplaneSummary): string {
  const pair = s.minAccuracyPair ? ` (pair ${s.minAccuracyPair[0]} -> ${s.minAccuracyPair[1]})` : "";
  return [
    `hyperplanes: ${s.classes} classes x ${s.channels} channels (K = ${s.numClasses}) on ${s.device}`,
    `pairs: ${s.pairs.trained} trained, ${s.pairs.derived} derived by negation, ${s.pairs.skipped} without data` +
    (s.rowsResumed ? `; ${s.rowsResumed} rows resumed` : ""),
    `train accuracy: mean ${s.meanAccuracy.toFixed(4)}, min ${s.minAccuracy.toFixed(4)}${pair}`,
    `${s.seconds.toFixed(1)} s, ${s.pairsPerSecond.toFixed(1)} pairs/s; wrote ${s.out}`,
  ].join("\n");
}
