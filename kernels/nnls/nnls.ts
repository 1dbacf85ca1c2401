// The batched NNLS decomposition on the GPU: project.wgsl (b = H a per position), solve.wgsl (Lawson-Hanson per
// position, one invocation each) and residual.wgsl, recorded into one submit with one read-back of the
// results. The k x k Gram matrix is computed on the CPU (k^2 C multiply-adds) and uploaded.
import { createStorageBuffer, createUniformBuffer, readBuffer } from "../../src/runtime/gpu.ts";
import { compileProgram, dispatchGrid, encodeDispatch, packUniforms, uniformLayout } from "../_program.ts";
import { gram } from "./gram.ts";
import { checkNnlsProblem, type NnlsProblem, type NnlsSolution } from "./problem.ts";
import { NNLS_PIVOT_FLOOR, NNLS_TOLERANCE, NNLS_WORKGROUP as WORKGROUP } from "./settings.ts";

const COMMON = new URL("./common.wgsl", import.meta.url);
const SOURCES = {
  project: new URL("./project.wgsl", import.meta.url),
  solve: new URL("./solve.wgsl", import.meta.url),
  residual: new URL("./residual.wgsl", import.meta.url),
} as const;

type Stage = keyof typeof SOURCES;

async function pipeline(device: GPUDevice, stage: Stage, k: number): Promise<GPUComputePipeline> {
  const program = await compileProgram(device, {
    label: `nnls ${stage} K=${k}`,
    sources: [COMMON, SOURCES[stage]],
    entryPoints: [stage],
    constants: { K: k, KK: k * k },
    overrides: stage === "solve" ? { WORKGROUP, PIVOT_FLOOR: NNLS_PIVOT_FLOOR } : { WORKGROUP },
  });
  return program[stage];
}

/** Compiles the three pipelines for k prototypes ahead of a timed run (llvmpipe compiles take seconds). */
export async function prepareNnls(device: GPUDevice, k: number): Promise<void> {
  await Promise.all((Object.keys(SOURCES) as Stage[]).map((s) => pipeline(device, s, k)));
}

/** Solves every position of `problem` on `device`; the activations buffer, if given, is not consumed. */
export async function nnlsGpu(device: GPUDevice, problem: NnlsProblem): Promise<NnlsSolution> {
  checkNnlsProblem(problem);
  const { basis, n, channels, hw, k } = problem;
  const positions = n * hw;
  const [project, solve, residual] = await Promise.all(
    (["project", "solve", "residual"] as const).map((s) => pipeline(device, s, k)),
  );
  const params = packUniforms(await uniformLayout(COMMON, "Params"), {
    positions,
    hw,
    channels,
    tolerance: problem.tolerance ?? NNLS_TOLERANCE,
  });
  const uniforms = createUniformBuffer(device, params, "nnls params");
  const owned: GPUBuffer[] = [uniforms];
  const make = (size: number | ArrayBufferView, label: string) => {
    const buffer = createStorageBuffer(device, size, 0, label);
    owned.push(buffer);
    return buffer;
  };
  const activations = problem.activations instanceof Float32Array
    ? make(problem.activations.subarray(0, n * channels * hw), "nnls activations")
    : problem.activations;
  const basisBuffer = make(basis, "nnls basis");
  const gramBuffer = make(Float32Array.from(gram(basis, k, channels)), "nnls gram");
  const projected = make(positions * k * 4, "nnls projected");
  const coefficients = make(positions * k * 4, "nnls coefficients");
  const status = make(positions * 8, "nnls status");
  const sums = make(positions * 8, "nnls residuals");
  try {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    const grid = (count: number) => dispatchGrid(Math.ceil(count / WORKGROUP));
    encodeDispatch(
      pass,
      device,
      project,
      [uniforms, basisBuffer, activations, projected],
      grid(positions * k),
    );
    encodeDispatch(
      pass,
      device,
      solve,
      [uniforms, gramBuffer, projected, coefficients, status],
      grid(positions),
    );
    encodeDispatch(
      pass,
      device,
      residual,
      [uniforms, basisBuffer, activations, coefficients, sums],
      grid(positions),
    );
    pass.end();
    device.queue.submit([enc.finish()]);
    const [x, st, sm] = await Promise.all([
      readBuffer(device, coefficients, positions * k * 4),
      readBuffer(device, status, positions * 8),
      readBuffer(device, sums, positions * 8),
    ]);
    const statusWords = new Uint32Array(st);
    const sumValues = new Float32Array(sm);
    return {
      x: new Float32Array(x),
      iterations: Uint32Array.from({ length: positions }, (_, q) => statusWords[2 * q]),
      converged: Uint8Array.from({ length: positions }, (_, q) => statusWords[2 * q + 1]),
      error: Float64Array.from({ length: positions }, (_, q) => sumValues[2 * q]),
      norm: Float64Array.from({ length: positions }, (_, q) => sumValues[2 * q + 1]),
    };
  } finally {
    for (const b of owned) b.destroy();
  }
}
