// The NMF step of every stage that factorizes activation rows into prototypes (per-class concepts, the
// "why A, not B" contrast): batched on the GPU, or on the CPU (onnxruntime-node's GEMMs for the products, the
// float64 reference where that cannot load) where the GPU would be slower.
import { nmfBatched } from "../../../kernels/nmf/nmf.ts";
import { cpuNmf } from "../../../kernels/nmf/native.ts";
import type { NmfResult } from "../../../kernels/nmf/settings.ts";
import { weightedRowsOnGpu, type WeightedRowsSource } from "../../../kernels/nmf/weighted_rows.ts";
import type { GpuContext } from "../../runtime/gpu.ts";

export type { WeightedRowsSource } from "../../../kernels/nmf/weighted_rows.ts";

/**
 * The NMF input of one class: row (i, y, x) is the activation vector at (y, x) of image i scaled by the
 * attribution map there. Activations n x C x h x w, maps n x h x w; returns (n*h*w) x C row-major.
 * (weighted_rows.wgsl builds the same on the GPU.)
 */
export function weightedRows(
  activations: Float32Array,
  maps: Float32Array,
  n: number,
  c: number,
  hw: number,
): Float32Array {
  const v = new Float32Array(n * hw * c);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const src = (i * c + ch) * hw;
      for (let p = 0; p < hw; p++) v[(i * hw + p) * c + ch] = activations[src + p] * maps[i * hw + p];
    }
  }
  return v;
}

/** weightedRows of the kept images only, in keep's order. */
export function keptRows(s: WeightedRowsSource, c: number): Float32Array {
  const images = s.maps.length / s.hw;
  const all = weightedRows(s.activations, s.maps, images, c, s.hw);
  if (s.keep.length === images && s.keep.every((i, at) => i === at)) return all;
  const rows = s.hw * c;
  const v = new Float32Array(s.keep.length * rows);
  s.keep.forEach((i, at) => v.set(all.subarray(i * rows, (i + 1) * rows), at * rows));
  return v;
}

/** V of one problem: host rows, or the activations and maps they are made of (built where NMF runs). */
export interface FactorizeProblem {
  v: Float32Array | WeightedRowsSource;
  n: number;
}

export type NmfDeviceChoice = "auto" | "gpu" | "cpu";

/** The device NMF runs on: auto = the GPU unless the adapter is a software rasterizer; undefined = the CPU. */
export function nmfDeviceFor(choice: NmfDeviceChoice | undefined, gpu: GpuContext | undefined) {
  return choice === "cpu" || (choice !== "gpu" && gpu?.software) ? undefined : gpu?.device;
}

/**
 * Batched NMF on the GPU; on the CPU (same algorithm, same stopping rule: kernels/nmf/native.ts) where no
 * adapter exists or the adapter is a software rasterizer, on which the WGSL kernels run slower. `signal`
 * stops it between iterations (the native CPU solver) or between readbacks (the GPU solver).
 */
export async function factorize(
  device: GPUDevice | undefined,
  problems: FactorizeProblem[],
  c: number,
  settings: { k: number; maxIter: number; tol: number; seed: number },
  signal?: AbortSignal,
): Promise<NmfResult[]> {
  const host = (v: FactorizeProblem["v"]) => (v instanceof Float32Array ? v : keptRows(v, c));
  if (!device) {
    const cpu = await cpuNmf();
    const out: NmfResult[] = [];
    for (const p of problems) out.push(await cpu.run(host(p.v), p.n, c, { ...settings, signal }));
    return out;
  }
  // Problems of one shape advance together; classes with fewer images form their own batches.
  const byShape = new Map<number, number[]>();
  problems.forEach((p, i) => (byShape.get(p.n) ?? byShape.set(p.n, []).get(p.n)!).push(i));
  const out = new Array<NmfResult>(problems.length);
  for (const indices of byShape.values()) {
    // Sources become V on the GPU, consecutive in one buffer, which the solver then reads in place.
    const sources = indices.filter((i) => !(problems[i].v instanceof Float32Array));
    const built = sources.length
      ? await weightedRowsOnGpu(device, sources.map((i) => problems[i].v as WeightedRowsSource), c)
      : undefined;
    try {
      const res = await nmfBatched(
        device,
        indices.map((i) => {
          const { v, n } = problems[i];
          if (v instanceof Float32Array) return { v, n, c };
          return { v: built!.buffer, offset: built!.offsets[sources.indexOf(i)], n, c };
        }),
        { ...settings, signal },
      );
      indices.forEach((i, j) => (out[i] = res[j]));
    } finally {
      built?.buffer.destroy();
    }
  }
  return out;
}
