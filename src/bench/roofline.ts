// The roofline model behind the bench's per-kernel lines and docs/performance.md: for every hand-written
// kernel family (search, hyperplane, nmf, nnls, normalize, composite) the FLOP and DRAM bytes of one call at the
// shape a full ImageNet run uses, the arithmetic intensity, and the time predicted on an H200 from its peaks
// and a stated fraction of them. No GPU has been lent yet: these are predictions for the first lease to confirm
// or correct, kernel by kernel (the bench prints them beside what it measures).
//
// Time of a call = max(FLOP / (peak FLOP/s x computeFraction), bytes / (peak bandwidth x memoryFraction),
// serialFlop / SERIAL_FLOPS): the slower of the two roofs, or the longest chain one invocation runs alone.
// Bytes are the compulsory DRAM traffic (each operand read once, each output written once); re-reads that a
// tile serves from L2 (50 MB on an H200) are not counted. Comparisons and integer work count as FLOP where they
// are the kernel's work (the top-k merge).

/** The machine the predictions are for. */
export interface Machine {
  name: string;
  /** FP32 peak (no tensor cores: WGSL has none). */
  flopsPerSecond: number;
  bytesPerSecond: number;
}

/** NVIDIA H200 SXM: 67 TFLOP/s FP32, 4.8 TB/s HBM3e (NVIDIA's data sheet). */
export const H200: Machine = { name: "NVIDIA H200 SXM", flopsPerSecond: 67e12, bytesPerSecond: 4.8e12 };

/**
 * One invocation's dependent arithmetic: about one FMA per 4 cycles at 1.98 GHz, i.e. ~1 GFLOP/s, when a
 * kernel runs a whole solve in one invocation (NMF's Jacobi sweeps).
 */
export const SERIAL_FLOPS = 1e9;

/** Fractions of peak assumed, by kind of kernel (the "why" of each is in docs/performance.md). */
export const ASSUMED = {
  /** The shared 64 x 64 GEMM tile, 8 x 8 per invocation, no tensor cores or subgroups. */
  gemmTile: 0.4,
  /** The hyperplane logits before the shared tile: its weight reads hit one bank 8 times over. */
  bankConflictedLogits: 0.11,
  /** The hyperplane gradient before the shared tile: 4 x 4 per invocation, scalar loads. */
  oldGradient: 0.3,
  /** Coalesced streaming of large buffers. */
  streaming: 0.7,
  /** Gathers with little reuse (crops, pooled 2 x 2 windows). */
  gather: 0.5,
  /** Barrier-bound selection rounds (top-k merge) and per-invocation solves with private arrays (NNLS). */
  latencyBound: 0.1,
} as const;

export interface KernelCost {
  family: "search" | "hyperplane" | "nmf" | "nnls" | "normalize" | "composite";
  kernel: string;
  /** The call's shape in words. */
  call: string;
  flop: number;
  bytes: number;
  computeFraction: number;
  memoryFraction: number;
  /** Longest arithmetic one invocation runs alone in the call (0: none worth counting). */
  serialFlop?: number;
  /** Calls in a full ImageNet run (1000 classes, 50,000 images searched), 0 where the stage is per request. */
  callsPerRun: number;
  /** A kernel as it was before the shared GEMM tile replaced it: listed for comparison, not run any more. */
  replaced?: boolean;
}

export interface KernelPrediction extends KernelCost {
  /** FLOP per byte. */
  intensity: number;
  /** What the prediction says limits the call. */
  bound: "compute" | "memory" | "serial";
  predictedSeconds: number;
  /** predictedSeconds x callsPerRun. */
  predictedRunSeconds: number;
  machine: string;
}

/** The roofline prediction of one kernel call on `machine`. */
export function predict(cost: KernelCost, machine: Machine = H200): KernelPrediction {
  const times = {
    compute: cost.flop / (machine.flopsPerSecond * cost.computeFraction),
    memory: cost.bytes / (machine.bytesPerSecond * cost.memoryFraction),
    serial: (cost.serialFlop ?? 0) / SERIAL_FLOPS,
  };
  const bound = (Object.keys(times) as (keyof typeof times)[]).reduce((a, b) => times[a] >= times[b] ? a : b);
  return {
    ...cost,
    intensity: cost.flop / cost.bytes,
    bound,
    predictedSeconds: times[bound],
    predictedRunSeconds: times[bound] * cost.callsPerRun,
    machine: machine.name,
  };
}

const F32 = 4;

/** The search's shape: P prototypes of C channels against one step of `batch` images with `cells` pooled cells. */
export interface SearchShape {
  prototypes: number;
  channels: number;
  batch: number;
  /** Tap positions per image (h x w) and pooled cells per image. */
  positions: number;
  cells: number;
  /** Top-K and excluded top-K kept per prototype. */
  topK: number;
  excludedTopK: number;
}

/** The three search kernels of one step (kernels/search). */
export function searchCosts(s: SearchShape, callsPerRun: number): KernelCost[] {
  const columns = s.batch * s.cells;
  const call = `${s.prototypes} prototypes x ${s.channels} ch x ${s.batch} images (${columns} columns)`;
  return [
    {
      family: "search",
      kernel: "pool_normalize (pool + norms)",
      call,
      flop: 4 * s.channels * columns + 2 * s.channels * columns,
      bytes: (s.batch * s.positions * s.channels + 2 * s.channels * columns + columns) * F32,
      computeFraction: ASSUMED.streaming,
      memoryFraction: ASSUMED.gather,
      callsPerRun,
    },
    {
      family: "search",
      kernel: "similarity_matmul (GEMM tile)",
      call,
      flop: 2 * s.prototypes * s.channels * columns,
      bytes: (s.prototypes * s.channels + s.channels * columns + s.prototypes * columns + columns) * F32,
      computeFraction: ASSUMED.gemmTile,
      memoryFraction: ASSUMED.streaming,
      callsPerRun,
    },
    {
      family: "search",
      kernel: "topk_merge",
      call: `${call}, K ${s.topK} + E ${s.excludedTopK}`,
      // Each selection round compares every score of the row twice (against the previous winner and the best).
      flop: 2 * (s.topK + s.excludedTopK) * s.prototypes * columns,
      bytes: (s.prototypes * columns + 4 * (s.topK + s.excludedTopK) * s.prototypes) * F32,
      computeFraction: ASSUMED.latencyBound,
      memoryFraction: ASSUMED.streaming,
      callsPerRun,
    },
  ];
}

/** One hyperplane tile: a block of `classesA` classes against `classesB`, `rowsPerClass` rows of C channels. */
export interface HyperplaneShape {
  channels: number;
  rowsPerClass: number;
  classesA: number;
  classesB: number;
}

/**
 * The logits and gradient passes of one side of one epoch (kernels/hyperplane), side A (whose rows are scored
 * against B's classes). `before`: the fractions of the kernels the shared tile replaced.
 */
export function hyperplaneCosts(h: HyperplaneShape, callsPerRun: number, before = false): KernelCost[] {
  const replaced = before ? { replaced: true } : {};
  const width = h.channels + 1;
  const rows = h.classesA * h.rowsPerClass;
  const partners = h.classesB;
  const flop = 2 * rows * partners * width;
  const xBytes = rows * width * F32;
  const weightBytes = h.classesA * partners * width * F32;
  const residualBytes = rows * partners * F32;
  const call = `${h.classesA} x ${h.classesB} classes, ${h.rowsPerClass} rows x ${h.channels} ch`;
  return [
    {
      family: "hyperplane",
      kernel: before ? "logits (before: bank-conflicted tile)" : "logits (GEMM tile)",
      call,
      flop: flop + 4 * rows * partners,
      bytes: xBytes + weightBytes + 2 * residualBytes,
      computeFraction: before ? ASSUMED.bankConflictedLogits : ASSUMED.gemmTile,
      memoryFraction: ASSUMED.streaming,
      callsPerRun,
      ...replaced,
    },
    {
      family: "hyperplane",
      kernel: before ? "gradient (before: 4 x 4 scalar tile)" : "gradient (GEMM tile)",
      call,
      flop,
      bytes: xBytes + residualBytes + 3 * weightBytes,
      computeFraction: before ? ASSUMED.oldGradient : ASSUMED.gemmTile,
      memoryFraction: ASSUMED.streaming,
      callsPerRun,
      ...replaced,
    },
  ];
}

/** `problems` NMF problems of n rows x c columns with k components. */
export interface NmfShape {
  problems: number;
  rows: number;
  columns: number;
  k: number;
  /** Subspace size of the randomized SVD start (k + oversamples). */
  subspace: number;
  jacobiSweeps: number;
}

/** Calls of NMF's kernels in a run: batches of problems, HALS iterations, and the start's Jacobi solves. */
export interface NmfCalls {
  batches: number;
  iterations: number;
  jacobiSolves: number;
}

/** NMF's kernels per call (kernels/nmf): one HALS iteration's products and updates, and the start's Jacobi. */
export function nmfCosts(s: NmfShape, calls: NmfCalls): KernelCost[] {
  const v = s.problems * s.rows * s.columns;
  const call = `${s.problems} problems of ${s.rows} x ${s.columns}, k ${s.k}`;
  const p = s.subspace;
  // A cyclic sweep rotates every pair (p (p - 1) / 2), each rotation updating 2 rows, 2 columns and 2
  // eigenvector columns of p entries at ~6 FLOP each.
  const jacobiFlop = s.jacobiSweeps * (p * (p - 1) / 2) * 6 * p * 6;
  return [
    {
      family: "nmf",
      kernel: "products vtf + vtx (one HALS iteration)",
      call,
      flop: 2 * 2 * v * s.k,
      bytes: (2 * v + 2 * s.problems * (s.rows + s.columns) * s.k) * F32,
      computeFraction: ASSUMED.streaming,
      memoryFraction: ASSUMED.streaming,
      callsPerRun: calls.iterations,
    },
    {
      family: "nmf",
      kernel: "hals update_w + update_h",
      call,
      flop: 2 * s.problems * (s.rows + s.columns) * (2 * s.k * s.k + 4 * s.k),
      bytes: 2 * s.problems * (s.rows + s.columns) * 2 * s.k * F32,
      computeFraction: ASSUMED.streaming,
      memoryFraction: ASSUMED.streaming,
      callsPerRun: calls.iterations,
    },
    {
      family: "nmf",
      kernel: "init orth_factor (Jacobi, one invocation per problem)",
      call: `${s.problems} problems, ${p} x ${p}, ${s.jacobiSweeps} sweeps`,
      flop: s.problems * jacobiFlop,
      bytes: s.problems * p * p * 2 * F32,
      computeFraction: ASSUMED.latencyBound,
      memoryFraction: ASSUMED.streaming,
      serialFlop: jacobiFlop,
      callsPerRun: calls.jacobiSolves,
    },
    {
      family: "nmf",
      kernel: "error residual",
      call,
      flop: 2 * v * s.k + 3 * v,
      bytes: (v + s.problems * (s.rows + s.columns) * s.k) * F32,
      computeFraction: ASSUMED.streaming,
      memoryFraction: ASSUMED.streaming,
      callsPerRun: calls.batches,
    },
  ];
}

/** NNLS per position (kernels/nnls): `positions` tap positions of C channels against k prototypes. */
export function nnlsCosts(
  positions: number,
  channels: number,
  k: number,
  outerIterations: number,
): KernelCost[] {
  const call = `${positions} positions x ${channels} ch, k ${k}`;
  // Each outer iteration: a Cholesky of at most k x k (k^3 / 3) and two substitutions, plus the gradient.
  const perPosition = outerIterations * (k ** 3 / 3 + 4 * k * k);
  return [
    {
      family: "nnls",
      kernel: "project (b = H a)",
      call,
      flop: 2 * positions * channels * k,
      bytes: (positions * channels + k * channels + positions * k) * F32,
      computeFraction: ASSUMED.streaming,
      memoryFraction: ASSUMED.streaming,
      callsPerRun: 0,
    },
    {
      family: "nnls",
      kernel: "solve (active set, one invocation per position)",
      call,
      flop: positions * perPosition,
      bytes: positions * 3 * k * F32,
      computeFraction: ASSUMED.latencyBound,
      memoryFraction: ASSUMED.streaming,
      serialFlop: perPosition,
      callsPerRun: 0,
    },
    {
      family: "nnls",
      kernel: "residual",
      call,
      flop: 2 * positions * channels * k + 3 * positions * channels,
      bytes: (positions * channels + k * channels + positions * (k + 2)) * F32,
      computeFraction: ASSUMED.streaming,
      memoryFraction: ASSUMED.streaming,
      callsPerRun: 0,
    },
  ];
}

/** normalize.wgsl: `images` uint8 224 x 224 RGB images to `samples` noisy float copies each. */
export function normalizeCost(
  images: number,
  samples: number,
  side: number,
  callsPerRun: number,
): KernelCost {
  const out = images * samples * 3 * side * side;
  return {
    family: "normalize",
    kernel: "normalize (+ noise tunnel)",
    call: `${images} images x ${samples} samples, ${side} px`,
    // Normalization, the PCG hash and Box-Muller per output value.
    flop: 30 * out,
    bytes: images * 3 * side * side + out * F32,
    computeFraction: ASSUMED.streaming,
    memoryFraction: ASSUMED.streaming,
    callsPerRun,
  };
}

/** crop_composite.wgsl: `composites` stacks of k crops of `size` px, both outputs (float NCHW and RGB8). */
export function compositeCost(composites: number, k: number, size: number, callsPerRun: number): KernelCost {
  const pixels = composites * k * size * size * 3;
  return {
    family: "composite",
    kernel: "crop_composite (normalized + rgb8)",
    call: `${composites} composites x ${k} crops of ${size} px`,
    flop: 4 * pixels,
    // A source byte and the two outputs per pixel channel (the gather reads bytes packed in u32 words).
    bytes: pixels * (4 + F32 + 1),
    computeFraction: ASSUMED.streaming,
    memoryFraction: ASSUMED.gather,
    callsPerRun,
  };
}

/** The paper's ImageNet run (layer3.5 of ResNet-50): the shapes and call counts docs/performance.md tabulates. */
export const IMAGENET_RUN = {
  classes: 1000,
  k: 6,
  channels: 1024,
  /** 14 x 14 tap positions, 7 x 7 pooled cells. */
  positions: 196,
  cells: 49,
  searchBatch: 64,
  searchedImages: 50_000,
  /** visualize (top 8 + excluded top 8) and component-test (top 1 + best other) each stream the data once. */
  searchPasses: 2,
  hyperplaneRowsPerClass: 2000,
  hyperplaneBlock: 64,
  hyperplaneEpochs: 100,
  nmfImagesPerClass: 60,
  nmfBatch: 64,
  nmfIterations: 200,
  nmfSubspace: 16,
  nmfJacobiSweeps: 10,
  /** Subspace iterations of the start (svdIterations) and the Rayleigh-Ritz step: a Jacobi solve each. */
  nmfStartSolves: 11,
  attributionBatch: 16,
  noiseSamples: 20,
} as const;

/** A run's shapes and counts, as IMAGENET_RUN gives them (other runs change some, e.g. the classes). */
export type RunShape = { [key in keyof typeof IMAGENET_RUN]: number };

/** Every kernel line at the ImageNet run's shapes, with the hyperplane kernels also as they were before. */
export function imagenetKernelCosts(r: RunShape = IMAGENET_RUN): KernelCost[] {
  const steps = Math.ceil(r.searchedImages / r.searchBatch) * r.searchPasses;
  const blocks = Math.ceil(r.classes / r.hyperplaneBlock);
  // Per tile and epoch: the logits and the gradient of each side, two calls each of the side-A shape.
  const hyperplaneCalls = blocks * blocks * r.hyperplaneEpochs * 2;
  const nmfCalls = Math.ceil(r.classes / r.nmfBatch);
  const hyperplane = {
    channels: r.channels,
    rowsPerClass: r.hyperplaneRowsPerClass,
    classesA: 64,
    classesB: 64,
  };
  return [
    ...searchCosts({
      prototypes: r.classes * r.k,
      channels: r.channels,
      batch: r.searchBatch,
      positions: r.positions,
      cells: r.cells,
      topK: 8,
      excludedTopK: 8,
    }, steps),
    ...hyperplaneCosts(hyperplane, hyperplaneCalls),
    ...hyperplaneCosts(hyperplane, hyperplaneCalls, true),
    ...nmfCosts(
      {
        problems: r.nmfBatch,
        rows: r.nmfImagesPerClass * r.positions,
        columns: r.channels,
        k: r.k,
        subspace: r.nmfSubspace,
        jacobiSweeps: r.nmfJacobiSweeps,
      },
      {
        batches: nmfCalls,
        iterations: nmfCalls * r.nmfIterations,
        jacobiSolves: nmfCalls * r.nmfStartSolves,
      },
    ),
    ...nnlsCosts(r.searchBatch * r.positions, r.channels, r.k, 3 * r.k),
    normalizeCost(
      r.attributionBatch,
      r.noiseSamples,
      224,
      Math.ceil(r.classes * r.nmfImagesPerClass / r.attributionBatch),
    ),
    compositeCost(r.classes, r.k, 32, 2),
  ];
}

/** The predictions of `costs`, slowest over a run first (per-request kernels, with no run calls, last). */
export function rooflineTable(
  costs: KernelCost[] = imagenetKernelCosts(),
  machine = H200,
): KernelPrediction[] {
  return costs.map((c) => predict(c, machine)).sort((a, b) =>
    b.predictedRunSeconds - a.predictedRunSeconds || b.predictedSeconds - a.predictedSeconds
  );
}
