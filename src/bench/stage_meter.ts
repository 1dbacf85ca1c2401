// Measures one pipeline stage: wall seconds, peak resident memory, and the bytes and files it left in its
// output folder. The peak is the kernel's VmHWM: reported by the stage's own process when it runs as one
// (tasks/_rehearse_stage.ts), else this process's, reset before the stage by writing 5 to
// /proc/self/clear_refs (Linux >= 4.0). In-process that reset only lowers the mark to the current RSS, which
// V8 keeps after earlier stages, so a stage's own process is the honest measure.
import { join } from "node:path";
import { peakGpuBufferBytes } from "../runtime/gpu_meter.ts";

export interface StageCost {
  stage: string;
  wallSeconds: number;
  /** Peak resident set during the stage (bytes); null where /proc is not there. */
  peakRssBytes: number | null;
  /** Whether the peak is the stage's own process's (false: this process's, after earlier work). */
  peakRssIsStageOwn: boolean;
  /** Most bytes of GPU buffers live at once (src/runtime/gpu_meter.ts); null when the stage used no GPU. */
  peakGpuBufferBytes: number | null;
  bytesWritten: number;
  filesWritten: number;
  /** What the stage processes (images, classes, pairs) and how many. */
  items: number;
  itemKind: string;
  itemsPerSecond: number;
}

function resetPeakRss(): boolean {
  try {
    Deno.writeTextFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

/** VmHWM of this process in bytes, or null off Linux. */
export function peakRssBytes(): number | null {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(Deno.readTextFileSync("/proc/self/status"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Bytes and files under `path` (a file counts as one); 0 when it does not exist. */
export async function folderSize(path: string): Promise<{ bytes: number; files: number }> {
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(path);
  } catch {
    return { bytes: 0, files: 0 };
  }
  if (stat.isFile) return { bytes: stat.size, files: 1 };
  let bytes = 0, files = 0;
  for await (const e of Deno.readDir(path)) {
    const s = await folderSize(join(path, e.name));
    bytes += s.bytes;
    files += s.files;
  }
  return { bytes, files };
}

/** What a stage's own process (or the largest of its processes) reports of itself. */
export interface StagePeaks {
  rssBytes: number | null;
  gpuBufferBytes: number | null;
}

/** The largest of several processes' peaks; RSS unknown when any is unknown, GPU null when none used it. */
export function largestPeaks(peaks: readonly StagePeaks[]): StagePeaks {
  const rss = peaks.map((p) => p.rssBytes);
  const gpu = peaks.flatMap((p) => (p.gpuBufferBytes === null ? [] : [p.gpuBufferBytes]));
  return {
    rssBytes: rss.some((b) => b === null) ? null : Math.max(...(rss as number[])),
    gpuBufferBytes: gpu.length ? Math.max(...gpu) : null,
  };
}

/**
 * Runs `fn` and measures it; `out` is the stage's output (folder or file), `items` its unit of work. When
 * `fn` ran the stage in processes of its own, it returns their peaks (the largest), used instead.
 */
export async function meterStage(
  stage: string,
  out: string | readonly string[],
  items: { count: number; kind: string },
  fn: () => Promise<StagePeaks | void>,
): Promise<StageCost> {
  // A stage may write beside its folder too (the report's page and its _files folder): the sum of them all.
  const size = async () => {
    const sizes = await Promise.all((typeof out === "string" ? [out] : out).map(folderSize));
    return sizes.reduce((a, b) => ({ bytes: a.bytes + b.bytes, files: a.files + b.files }));
  };
  const before = await size();
  resetPeakRss();
  const t0 = performance.now();
  const childPeak = await fn();
  const wallSeconds = (performance.now() - t0) / 1000;
  const own = childPeak !== undefined;
  const peak = own ? childPeak.rssBytes : peakRssBytes();
  const after = await size();
  return {
    stage,
    wallSeconds,
    peakRssBytes: peak,
    peakRssIsStageOwn: own,
    peakGpuBufferBytes: own ? childPeak.gpuBufferBytes : peakGpuBufferBytes(),
    bytesWritten: after.bytes - before.bytes,
    filesWritten: after.files - before.files,
    items: items.count,
    itemKind: items.kind,
    itemsPerSecond: wallSeconds > 0 ? items.count / wallSeconds : 0,
  };
}
