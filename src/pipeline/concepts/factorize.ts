// The NMF step of every stage that factorizes activation rows into prototypes (per-class concepts, the
// "why A, not B" contrast): batched on the GPU, or on the CPU (onnxruntime-node's GEMMs for the products, the
// float64 reference where that cannot load) where the GPU would be slower.
import { nmfBatched } from "../../../kernels/nmf/nmf.ts";
import { cpuNmf } from "../../../kernels/nmf/native.ts";
import type { NmfResult } from "../../../kernels/nmf/settings.ts";
import type { GpuContext } from "../../runtime/gpu.ts";

export type NmfDeviceChoice = "auto" | "gpu" | "cpu";

/** The device NMF runs on: auto = the GPU unless the adapter is a software rasterizer; undefined = the CPU. */
export function nmfDeviceFor(choice: NmfDeviceChoice | undefined, gpu: GpuContext | undefined) {
  return choice === "cpu" || (choice !== "gpu" && gpu?.software) ? undefined : gpu?.device;
}

/**
 * Batched NMF on the GPU; on the CPU (same algorithm, same stopping rule: kernels/nmf/native.ts) where no
 * adapter exists or the adapter is a software rasterizer, on which the WGSL kernels run slower.
 */
export async function factorize(
  device: GPUDevice | undefined,
  problems: { v: Float32Array; n: number }[],
  c: number,
  settings: { k: number; maxIter: number; tol: number; seed: number },
): Promise<NmfResult[]> {
  if (!device) {
    const cpu = await cpuNmf();
    const out: NmfResult[] = [];
    for (const p of problems) out.push(await cpu.run(p.v, p.n, c, settings));
    return out;
  }
  // Problems of one shape advance together; classes with fewer images form their own batches.
  const byShape = new Map<number, number[]>();
  problems.forEach((p, i) => (byShape.get(p.n) ?? byShape.set(p.n, []).get(p.n)!).push(i));
  const out = new Array<NmfResult>(problems.length);
  for (const indices of byShape.values()) {
    const res = await nmfBatched(
      device,
      indices.map((i) => ({ v: problems[i].v, n: problems[i].n, c })),
      settings,
    );
    indices.forEach((i, j) => (out[i] = res[j]));
  }
  return out;
}
