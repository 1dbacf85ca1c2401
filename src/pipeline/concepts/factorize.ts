// The NMF step of every stage that factorizes activation rows into prototypes (per-class concepts, the
// "why A, not B" contrast): batched on the GPU, or the CPU reference where the GPU would be slower.
import { nmfBatched } from "../../../kernels/nmf/nmf.ts";
import { nmfReference } from "../../../kernels/nmf/reference.ts";
import type { NmfResult } from "../../../kernels/nmf/settings.ts";
import type { GpuContext } from "../../runtime/gpu.ts";

export type NmfDeviceChoice = "auto" | "gpu" | "cpu";

/** The device NMF runs on: auto = the GPU unless the adapter is a software rasterizer; undefined = the CPU. */
export function nmfDeviceFor(choice: NmfDeviceChoice | undefined, gpu: GpuContext | undefined) {
  return choice === "cpu" || (choice !== "gpu" && gpu?.software) ? undefined : gpu?.device;
}

/**
 * Batched NMF on the GPU; the CPU reference (same algorithm, same stopping rule) where no adapter exists or
 * the adapter is a software rasterizer, on which the WGSL kernels run slower than plain TypeScript.
 */
export async function factorize(
  device: GPUDevice | undefined,
  problems: { v: Float32Array; n: number }[],
  c: number,
  settings: { k: number; maxIter: number; tol: number; seed: number },
): Promise<NmfResult[]> {
  if (!device) return problems.map((p) => nmfReference(p.v, p.n, c, settings));
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
