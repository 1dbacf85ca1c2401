// Drives the batched NMF on the GPU: allocates one set of buffers per dispatch group, records the NNDSVDa
// initialization and then many HALS iterations per submit, and reads back only the per-problem `done`
// flags between submits, at growing gaps (each readback costs a GPU round trip, ~11 ms in Deno). After every
// iteration the GPU rebuilds each group's list of unconverged problems and the indirect dispatch sizes, so a
// converged problem gets no more workgroups (and stops changing) while the rest of its batch goes on.
import { createStorageBuffer, createUniformBuffer } from "../../src/runtime/gpu.ts";
import { bindGroup, type Bindings, encodeDispatch, LINEAR_WORKGROUP, packUniforms } from "../_program.ts";
import { type NmfPipelines, nmfPipelines } from "./kernels.ts";
import {
  GRAM_WORKGROUP,
  type GroupDims,
  groupDims,
  type GroupPlan,
  planGroups,
  ROWS_PER_SPLIT,
  STATE_BYTES,
  VTX_COLUMNS,
} from "./plan.ts";
import { gaussianBlock } from "./random.ts";
import {
  checkShape,
  firstInvalid,
  type NmfOptions,
  type NmfResult,
  type NmfSettings,
  resolveSettings,
  subspaceSize,
} from "./settings.ts";

export interface NmfProblem {
  /** V (n x c, row-major, non-negative): host data, or a GPU buffer holding it from byte `offset`. */
  v: Float32Array | GPUBuffer;
  n: number;
  c: number;
  /** Byte offset of V inside a GPUBuffer (default 0). */
  offset?: number;
}

/** Where the time went; filled in when passed to solveBatched (which then also waits after the init). */
export interface NmfTrace {
  initSeconds: number;
  iterationSeconds: number;
  finishSeconds: number;
  /** Iterations recorded into command buffers (>= the most iterations any problem ran). */
  iterationsEncoded: number;
  readbacks: number;
  dispatchGroups: number;
}

export interface SolveOptions extends NmfOptions {
  /**
   * Iterations recorded in the first submit before the done flags are read back; each later submit records
   * twice as many as the one before (up to CHECK_CAP). Default 20.
   */
  checkEvery?: number;
  /** Caps the storage binding size used for planning (testing the group split); default: the device's. */
  maxBindingBytes?: number;
  trace?: NmfTrace;
}

interface Group {
  device: GPUDevice;
  plan: GroupPlan;
  dims: GroupDims;
  size: number;
  owned: GPUBuffer[];
  state: GPUBuffer;
  wt: GPUBuffer;
  h: GPUBuffer;
  /** Indirect dispatch sizes of the iteration kernels, rewritten on the GPU by compact. */
  args: GPUBuffer;
  bind: Record<string, GPUBindGroup>;
  /** Byte offset of this group's states in the shared state staging buffer. */
  stateOffset: number;
}

/**
 * Most iterations recorded between two readbacks of the done flags. Each readback is a GPU round trip (~11 ms
 * in Deno) while an iteration of a converged problem costs only empty indirect dispatches, so the gaps grow
 * geometrically (20, 40, 80, 80, ...: 4 readbacks for scikit-learn's 200 iterations instead of 10).
 */
const CHECK_CAP = 80;

/** 5 indirect dispatch sizes (x, y, z) written by compact in hals.wgsl. */
const ARGS_BYTES = 5 * 12;

export async function solveBatched(
  device: GPUDevice,
  problems: NmfProblem[],
  opts: SolveOptions = {},
): Promise<NmfResult[]> {
  const s = resolveSettings(opts);
  const checkEvery = opts.checkEvery ?? 20;
  if (!Number.isInteger(checkEvery) || checkEvery < 1) {
    throw new Error(`nmf: checkEvery must be a positive integer`);
  }
  if (problems.length === 0) return [];
  problems.forEach((p, i) => validateProblem(p, i, s.k));

  const limit = Math.min(
    device.limits.maxStorageBufferBindingSize,
    device.limits.maxBufferSize,
    opts.maxBindingBytes ?? Infinity,
  );
  const pipelinesByP = new Map<number, Promise<NmfPipelines>>();
  for (const { n, c } of problems) {
    const p = subspaceSize(s.k, n, c);
    if (!pipelinesByP.has(p)) pipelinesByP.set(p, nmfPipelines(device, s.k, p));
  }
  const pipelines = new Map<number, NmfPipelines>();
  for (const [p, pending] of pipelinesByP) pipelines.set(p, await pending);
  const pipelinesFor = (d: GroupDims) => pipelines.get(d.p)!;

  const anyPipelines = pipelines.values().next().value!;
  const plans = planGroups(
    problems,
    (n, c) => groupDims(n, c, s.k, subspaceSize(s.k, n, c), anyPipelines.rowsPerUpdateTile),
    anyPipelines.partialWidth,
    limit,
  );
  for (const plan of plans) {
    checkGrid(
      plan.dims,
      pipelinesFor(plan.dims),
      device.limits.maxComputeWorkgroupsPerDimension,
      plan.members.length,
    );
  }

  const trace = opts.trace;
  const started = performance.now();
  const groups: Group[] = [];
  const staging: GPUBuffer[] = [];
  try {
    let stateBytes = 0;
    const encoder = device.createCommandEncoder({ label: "nmf init" });
    for (const plan of plans) {
      const group = createGroup(device, plan, problems, s, pipelinesFor(plan.dims), encoder, stateBytes);
      groups.push(group);
      stateBytes += group.size * STATE_BYTES;
    }
    const pass = encoder.beginComputePass({ label: "nmf init" });
    for (const g of groups) encodeInit(pass, g, pipelinesFor(g.dims), s.svdIterations);
    pass.end();
    device.queue.submit([encoder.finish()]);
    if (trace) {
      await device.queue.onSubmittedWorkDone();
      trace.initSeconds = (performance.now() - started) / 1000;
    }

    // Iterate: record `checkEvery` iterations of every unfinished group, then read all done flags at once.
    const iterStart = performance.now();
    const stateStaging = device.createBuffer({
      size: stateBytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      label: "nmf state readback",
    });
    staging.push(stateStaging);
    let active = groups;
    let encoded = 0;
    let readbacks = 0;
    let gap = checkEvery;
    while (active.length && encoded < s.maxIter) {
      opts.signal?.throwIfAborted();
      const chunk = Math.min(gap, s.maxIter - encoded);
      gap = Math.max(gap, Math.min(2 * gap, CHECK_CAP));
      const enc = device.createCommandEncoder({ label: "nmf iterations" });
      const iterPass = enc.beginComputePass({ label: "nmf iterations" });
      for (let it = 0; it < chunk; it++) {
        for (const g of active) encodeIteration(iterPass, g, pipelinesFor(g.dims));
      }
      iterPass.end();
      for (const g of active) {
        enc.copyBufferToBuffer(g.state, 0, stateStaging, g.stateOffset, g.size * STATE_BYTES);
      }
      device.queue.submit([enc.finish()]);
      encoded += chunk;
      await stateStaging.mapAsync(GPUMapMode.READ);
      readbacks++;
      const states = new Uint32Array(stateStaging.getMappedRange().slice(0));
      stateStaging.unmap();
      active = active.filter((g) => {
        for (let m = 0; m < g.size; m++) {
          if (states[(g.stateOffset + m * STATE_BYTES) / 4 + 1] === 0) return true;
        }
        return false;
      });
    }
    const finishStart = performance.now();

    // Final residuals, then one readback of W^T, H and the states of every group.
    const enc = device.createCommandEncoder({ label: "nmf finish" });
    const finishPass = enc.beginComputePass({ label: "nmf finish" });
    for (const g of groups) encodeFinish(finishPass, g, pipelinesFor(g.dims));
    finishPass.end();
    const outputs = groups.map((g) => {
      const sizes = [g.wt.size, g.h.size, g.size * STATE_BYTES];
      const buf = device.createBuffer({
        size: sizes[0] + sizes[1] + sizes[2],
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
        label: "nmf result readback",
      });
      staging.push(buf);
      enc.copyBufferToBuffer(g.wt, 0, buf, 0, sizes[0]);
      enc.copyBufferToBuffer(g.h, 0, buf, sizes[0], sizes[1]);
      enc.copyBufferToBuffer(g.state, 0, buf, sizes[0] + sizes[1], sizes[2]);
      return { buf, sizes };
    });
    device.queue.submit([enc.finish()]);
    await Promise.all(outputs.map((o) => o.buf.mapAsync(GPUMapMode.READ)));

    const results: NmfResult[] = new Array(problems.length);
    groups.forEach((g, gi) => {
      const { buf, sizes } = outputs[gi];
      const bytes = buf.getMappedRange();
      const wt = new Float32Array(bytes, 0, sizes[0] / 4);
      const h = new Float32Array(bytes, sizes[0], sizes[1] / 4);
      const stU = new Uint32Array(bytes, sizes[0] + sizes[1], sizes[2] / 4);
      const stF = new Float32Array(bytes, sizes[0] + sizes[1], sizes[2] / 4);
      const { n, c, k } = g.dims;
      g.plan.members.forEach((problemIndex, m) => {
        const w = new Float32Array(n * k);
        for (let t = 0; t < k; t++) {
          const row = wt.subarray((m * k + t) * n, (m * k + t + 1) * n);
          for (let i = 0; i < n; i++) w[i * k + t] = row[i];
        }
        results[problemIndex] = {
          w,
          h: h.slice(m * k * c, (m + 1) * k * c),
          iterations: stU[m * 8],
          relError: stF[m * 8 + 7],
        };
      });
      buf.unmap();
    });
    if (trace) {
      const end = performance.now();
      trace.iterationSeconds = (finishStart - iterStart) / 1000;
      trace.finishSeconds = (end - finishStart) / 1000;
      trace.iterationsEncoded = encoded;
      trace.readbacks = readbacks + 1;
      trace.dispatchGroups = groups.length;
    }
    return results;
  } finally {
    for (const g of groups) for (const b of g.owned) b.destroy();
    for (const b of staging) b.destroy();
  }
}

function validateProblem(p: NmfProblem, i: number, k: number): void {
  const what = `nmf: problem ${i}`;
  checkShape(p.n, p.c, k, what);
  const bytes = p.n * p.c * 4;
  if (p.v instanceof Float32Array) {
    if (p.v.length !== p.n * p.c) {
      throw new Error(`${what}: V has ${p.v.length} values, expected n*c = ${p.n * p.c}`);
    }
    const bad = firstInvalid(p.v);
    if (bad >= 0) {
      throw new Error(
        `${what}: V must be finite and non-negative; V[${Math.floor(bad / p.c)}, ${bad % p.c}] = ${p.v[bad]}`,
      );
    }
    return;
  }
  const offset = p.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0 || offset % 4 !== 0) {
    throw new Error(`${what}: offset must be a non-negative multiple of 4, got ${p.offset}`);
  }
  if (p.v.size < offset + bytes) {
    throw new Error(
      `${what}: GPUBuffer of ${p.v.size} bytes cannot hold ${bytes} bytes of V at offset ${offset}`,
    );
  }
  if (!(p.v.usage & (GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC))) {
    throw new Error(`${what}: GPUBuffer needs STORAGE or COPY_SRC usage`);
  }
}

function checkGrid(d: GroupDims, pl: NmfPipelines, limit: number, size: number): void {
  const widest = Math.max(
    Math.ceil(d.n / Math.min(pl.vtfRowsK, pl.vtfRowsP)),
    Math.ceil(d.c / VTX_COLUMNS),
    d.resTiles,
    d.statTiles,
    d.wTiles,
    Math.ceil((d.p * d.c) / LINEAR_WORKGROUP),
    size,
  );
  if (widest > limit) {
    throw new Error(
      `nmf: a ${d.n} x ${d.c} problem needs ${widest} workgroups along one axis (limit ${limit})`,
    );
  }
}

/** If the group's V are consecutive slices of one storage buffer, bind that range directly. */
function sharedSlice(device: GPUDevice, members: NmfProblem[], bytes: number): GPUBufferBinding | undefined {
  const first = members[0].v;
  if (first instanceof Float32Array || !(first.usage & GPUBufferUsage.STORAGE)) return undefined;
  const offset = members[0].offset ?? 0;
  if (offset % device.limits.minStorageBufferOffsetAlignment !== 0) return undefined;
  const contiguous = members.every((p, m) => p.v === first && (p.offset ?? 0) === offset + m * bytes);
  return contiguous ? { buffer: first, offset, size: members.length * bytes } : undefined;
}

function createGroup(
  device: GPUDevice,
  plan: GroupPlan,
  problems: NmfProblem[],
  s: NmfSettings,
  pl: NmfPipelines,
  encoder: GPUCommandEncoder,
  stateOffset: number,
): Group {
  const d = plan.dims;
  const G = plan.members.length;
  const owned: GPUBuffer[] = [];
  const storage = (floats: number, label: string) => {
    const b = createStorageBuffer(device, floats * 4, 0, `nmf ${label}`);
    owned.push(b);
    return b;
  };
  const members = plan.members.map((i) => problems[i]);
  const vBytes = d.n * d.c * 4;
  let v = sharedSlice(device, members, vBytes);
  if (!v) {
    const buffer = storage(G * d.n * d.c, "V");
    members.forEach((p, m) => {
      if (p.v instanceof Float32Array) {
        device.queue.writeBuffer(buffer, m * vBytes, p.v.buffer as ArrayBuffer, p.v.byteOffset, vBytes);
      } else {
        encoder.copyBufferToBuffer(p.v, p.offset ?? 0, buffer, m * vBytes, vBytes);
      }
    });
    v = { buffer, offset: 0, size: G * vBytes };
  }
  const params = packUniforms(pl.params, {
    n: d.n,
    c: d.c,
    splits: d.splits,
    rows_per_split: ROWS_PER_SPLIT,
    w_tiles: d.wTiles,
    h_tiles: d.hTiles,
    max_iter: s.maxIter,
    tol: s.tol,
    stat_tiles: d.statTiles,
    res_tiles: d.resTiles,
    p: d.p,
    k: d.k,
    vtf_tiles: Math.ceil(d.n / pl.vtfRowsK),
    vtx_tiles: Math.ceil(d.c / VTX_COLUMNS),
  });
  const prm = createUniformBuffer(device, params, "nmf params");
  owned.push(prm);

  const state = storage(G * STATE_BYTES / 4, "state");
  const tall = storage(G * d.p * d.n, "tall");
  const wide = storage(G * d.p * d.c, "wide");
  const split = storage(G * d.splits * d.p * d.c, "split partials");
  const wt = storage(G * d.k * d.n, "W^T");
  const h = storage(G * d.k * d.c, "H");
  const hht = storage(G * d.k * d.k, "HH^T");
  const wtw = storage(G * d.k * d.k, "W^TW");
  const partW = storage(G * d.wTiles * pl.partialWidth, "W partials");
  const partH = storage(G * d.hTiles * pl.partialWidth, "H partials");
  const stat = storage(G * d.statTiles * 2, "stat partials");
  const res = storage(G * d.resTiles, "residual partials");
  const mat = storage(G * d.p * d.p, "small Gram");
  const vecs = storage(G * d.p * d.p, "small eigenvectors");
  const coef = storage(G * (2 * d.k * d.p + 4 * d.k), "NNDSVD coefficients");
  const active = storage(G, "active list");
  device.queue.writeBuffer(active, 0, Uint32Array.from({ length: G }, (_, m) => m));
  const args = createStorageBuffer(device, ARGS_BYTES, GPUBufferUsage.INDIRECT, "nmf indirect sizes");
  owned.push(args);

  const q0 = gaussianBlock(s.seed, d.p, d.c);
  const q0All = new Float32Array(G * q0.length);
  for (let m = 0; m < G; m++) q0All.set(q0, m * q0.length);
  device.queue.writeBuffer(wide, 0, q0All);

  const bg = (pipeline: GPUComputePipeline, bindings: Bindings) => bindGroup(device, pipeline, bindings);
  const product = (pipeline: GPUComputePipeline, factor: GPUBuffer, out: GPUBuffer) =>
    bg(pipeline, [prm, active, v, factor, out]);
  const bind = {
    vtfP: product(pl.vtfP, wide, tall),
    vtxP: product(pl.vtxP, tall, split),
    vtfK: product(pl.vtfK, h, tall),
    vtxK: product(pl.vtxK, wt, split),
    updateW: bg(pl.updateW, { 0: prm, 2: wt, 3: tall, 4: hht, 5: partW, 7: active }),
    reduceW: bg(pl.reduceW, { 0: prm, 1: state, 5: partW, 6: wtw, 7: active }),
    updateH: bg(pl.updateH, { 0: prm, 2: h, 3: split, 4: wtw, 5: partH, 7: active }),
    reduceH: bg(pl.reduceH, { 0: prm, 1: state, 5: partH, 6: hht, 7: active }),
    compact: bg(pl.compact, { 0: prm, 1: state, 7: active, 8: args }),
    gramH: bg(pl.gramH, { 0: prm, 2: h, 6: hht }),
    stats: bg(pl.stats, { 0: prm, 2: v, 5: stat }),
    sumSplits: bg(pl.sumSplits, { 0: prm, 4: wide, 9: split }),
    gramTall: bg(pl.gramTall, { 0: prm, 3: tall, 6: mat }),
    orthonormalize: bg(pl.orthonormalize, { 0: prm, 4: wide }),
    ritz: bg(pl.ritz, { 0: prm, 1: state, 5: stat, 6: mat, 7: vecs, 8: coef }),
    nndsvdScales: bg(pl.nndsvdScales, { 0: prm, 8: coef, 10: tall, 11: wide }),
    nndsvdW: bg(pl.nndsvdW, { 0: prm, 1: state, 8: coef, 10: tall, 12: wt }),
    nndsvdH: bg(pl.nndsvdH, { 0: prm, 1: state, 8: coef, 11: wide, 12: h }),
    residual: bg(pl.residual, { 0: prm, 2: v, 3: wt, 4: h, 5: res }),
    finish: bg(pl.finish, { 0: prm, 1: state, 5: res }),
  };
  return { device, plan, dims: d, size: G, owned, state, wt, h, args, bind, stateOffset };
}

/** Q <- orthonormal basis of span(Q) in place (Gram-Schmidt twice, one workgroup per problem; init.wgsl). */
function encodeOrthonormalize(pass: GPUComputePassEncoder, g: Group, pl: NmfPipelines): void {
  encodeDispatch(pass, g.device, pl.orthonormalize, g.bind.orthonormalize, [g.size]);
}

/** Moments of V, subspace iteration Q <- orth(V^T V Q), then Rayleigh-Ritz + NNDSVDa (see init.wgsl). */
function encodeInit(pass: GPUComputePassEncoder, g: Group, pl: NmfPipelines, svdIterations: number): void {
  const { n, c, k, p, splits, statTiles } = g.dims;
  const G = g.size;
  encodeDispatch(pass, g.device, pl.stats, g.bind.stats, [statTiles, G]);
  encodeOrthonormalize(pass, g, pl);
  for (let it = 0; it < svdIterations; it++) {
    encodeDispatch(pass, g.device, pl.vtfP, g.bind.vtfP, [Math.ceil(n / pl.vtfRowsP), G]);
    encodeDispatch(pass, g.device, pl.vtxP, g.bind.vtxP, [Math.ceil(c / VTX_COLUMNS), splits, G]);
    encodeDispatch(pass, g.device, pl.sumSplits, g.bind.sumSplits, [
      Math.ceil((p * c) / LINEAR_WORKGROUP),
      G,
    ]);
    encodeOrthonormalize(pass, g, pl);
  }
  encodeDispatch(pass, g.device, pl.vtfP, g.bind.vtfP, [Math.ceil(n / pl.vtfRowsP), G]);
  encodeDispatch(pass, g.device, pl.gramTall, g.bind.gramTall, [Math.ceil((p * p) / GRAM_WORKGROUP), G]);
  encodeDispatch(pass, g.device, pl.ritz, g.bind.ritz, [G]);
  encodeDispatch(pass, g.device, pl.nndsvdScales, g.bind.nndsvdScales, [1, G]);
  encodeDispatch(pass, g.device, pl.nndsvdW, g.bind.nndsvdW, [Math.ceil(n / LINEAR_WORKGROUP), G]);
  encodeDispatch(pass, g.device, pl.nndsvdH, g.bind.nndsvdH, [Math.ceil(c / LINEAR_WORKGROUP), G]);
  encodeDispatch(pass, g.device, pl.gramH, g.bind.gramH, [Math.ceil((k * k) / GRAM_WORKGROUP), G]);
  encodeDispatch(pass, g.device, pl.compact, g.bind.compact, [1]);
}

/**
 * One HALS iteration over the group's active problems: W half-step then H half-step, each followed by
 * its Gram/violation reduction, then compact rebuilds the active list and the dispatch sizes.
 */
function encodeIteration(pass: GPUComputePassEncoder, g: Group, pl: NmfPipelines): void {
  const indirect = (pipeline: GPUComputePipeline, bind: GPUBindGroup, slot: number) =>
    encodeDispatch(pass, g.device, pipeline, bind, { indirect: g.args, offset: slot * 12 });
  indirect(pl.vtfK, g.bind.vtfK, 0);
  indirect(pl.updateW, g.bind.updateW, 1);
  indirect(pl.reduceW, g.bind.reduceW, 2);
  indirect(pl.vtxK, g.bind.vtxK, 3);
  indirect(pl.updateH, g.bind.updateH, 4);
  indirect(pl.reduceH, g.bind.reduceH, 2);
  encodeDispatch(pass, g.device, pl.compact, g.bind.compact, [1]);
}

function encodeFinish(pass: GPUComputePassEncoder, g: Group, pl: NmfPipelines): void {
  encodeDispatch(pass, g.device, pl.residual, g.bind.residual, [g.dims.resTiles, g.size]);
  encodeDispatch(pass, g.device, pl.finish, g.bind.finish, [g.size]);
}
