// Streaming prototype search on the GPU. The reference keeps every pooled activation of the dataset (~10 GB)
// and searches it at the end; here each batch of tap activations is pooled, normalized, scored against all
// prototypes and folded into a running per-prototype top-k on the GPU as it arrives, so the GPU memory held is
// fixed at construction (sized for one batch) and nothing is read back until finish().
import { createStorageBuffer, createUniformBuffer } from "../../src/runtime/gpu.ts";
import {
  bindGroup,
  compileProgram,
  dispatchGrid,
  encodeDispatch,
  packUniforms,
  type UniformLayout,
  uniformLayout,
} from "../_program.ts";
import { GEMM_CONSTANTS, GEMM_LOAD_KMAJOR_SOURCE, GEMM_TILE_SOURCE, vec4Stride } from "../_gemm_tile.ts";
import {
  DEFAULT_EXCLUDED_TOP_K,
  DEFAULT_MAX_BATCH,
  EMPTY_KEY,
  EMPTY_SCORE,
  MATMUL_TILE,
  MAX_SCORES_BYTES,
  MERGE_WORKGROUP,
  POOL_WORKGROUP,
} from "./settings.ts";
import {
  checkPrototypes,
  pooledSize,
  poolOf,
  type SearchGeometry,
  type SearchHit,
  type SearchResult,
} from "./hits.ts";

export interface PrototypeSearchOptions extends SearchGeometry {
  /** Positions kept per prototype (8 for the figures); 1..64, the merge kernel's workgroup size. */
  topK: number;
  /**
   * Positions kept per prototype among images NOT predicted as the prototype's class (default 1: the single
   * best, `bestOther`); 1..64. Kept by the same merge as the top-K, so any number costs no extra pass.
   */
  excludedTopK?: number;
  /**
   * Images per GPU step. Larger batches given to addBatch are split; the working buffers are sized for this
   * many images (default 64).
   */
  maxBatch?: number;
  /**
   * Upper bound on the bytes of one prototypes x columns score block (default 256 MiB, also capped by the
   * device's binding limit); more prototypes are processed in chunks. Lowered by tests to exercise chunking.
   */
  scoresChunkBytes?: number;
}

interface Pipelines {
  pool: GPUComputePipeline;
  norms: GPUComputePipeline;
  matmul: GPUComputePipeline;
  merge: GPUComputePipeline;
  /** The Params block of common.wgsl. */
  params: UniformLayout;
}

const wgsl = (name: string) => new URL(`./${name}`, import.meta.url);
// WGSL has no includes: the shared Params struct is compiled ahead of each kernel.
const PARAMS = wgsl("common.wgsl");

/** The search's pipelines for given list lengths on `device` (compiled once per device, see compileProgram). */
async function pipelinesFor(device: GPUDevice, topK: number, excludedTopK: number): Promise<Pipelines> {
  const [pool, matmul, merge] = await Promise.all([
    compileProgram(device, {
      label: "search pool",
      sources: [PARAMS, wgsl("pool_normalize.wgsl")],
      entryPoints: ["pool", "norms"],
      overrides: { WORKGROUP: POOL_WORKGROUP },
    }),
    compileProgram(device, {
      label: "search matmul",
      sources: [PARAMS, GEMM_TILE_SOURCE, GEMM_LOAD_KMAJOR_SOURCE, wgsl("similarity_matmul.wgsl")],
      entryPoints: ["main"],
      constants: GEMM_CONSTANTS,
    }),
    compileProgram(device, {
      label: `search merge K=${topK} E=${excludedTopK}`,
      sources: [PARAMS, wgsl("topk_merge.wgsl")],
      entryPoints: ["main"],
      overrides: { K: topK, E: excludedTopK, WG: MERGE_WORKGROUP, EMPTY_SCORE, EMPTY_KEY },
    }),
  ]);
  const params = await uniformLayout(PARAMS, "Params");
  return { pool: pool.pool, norms: pool.norms, matmul: matmul.main, merge: merge.main, params };
}

/**
 * Unit-length prototypes, transposed to [C, stride] (stride: P rounded up to a multiple of 4) so the matmul
 * reads vec4s of prototypes per channel.
 */
function normalizedTransposedBases(bases: Float32Array, P: number, C: number): Float32Array {
  const stride = vec4Stride(P);
  const out = new Float32Array(C * stride);
  for (let p = 0; p < P; p++) {
    let sum = 0;
    for (let c = 0; c < C; c++) sum += bases[p * C + c] * bases[p * C + c];
    const inv = sum > 0 ? 1 / Math.sqrt(sum) : 0;
    for (let c = 0; c < C; c++) out[c * stride + p] = bases[p * C + c] * inv;
  }
  return out;
}

export class PrototypeSearch {
  readonly prototypes: number;
  readonly topK: number;
  readonly excludedTopK: number;
  readonly maxBatch: number;
  private readonly geometry: SearchGeometry;
  private readonly cells: number;
  private readonly pooledWidth: number;
  private readonly pooledHeight: number;
  private readonly rowsPerChunk: number;
  private readonly buffers = new Set<GPUBuffer>();
  private readonly bases: GPUBuffer;
  private readonly classes: GPUBuffer;
  private readonly pooled: GPUBuffer;
  private readonly invNorm: GPUBuffer;
  private readonly scores: GPUBuffer;
  private readonly predicted: GPUBuffer;
  private readonly state: GPUBuffer;
  private readonly params: GPUBuffer[];
  private readonly normsBind: GPUBindGroup;
  private readonly matmulBinds: GPUBindGroup[];
  private readonly mergeBinds: GPUBindGroup[];
  /** Staging for activations given as CPU arrays; created on first use. */
  private upload?: GPUBuffer;
  private destroyed = false;

  private constructor(
    private readonly device: GPUDevice,
    private readonly pipelines: Pipelines,
    bases: Float32Array,
    prototypeClass: Int32Array,
    opts: PrototypeSearchOptions,
  ) {
    const { channels: C, height: h, width: w } = opts;
    this.geometry = { channels: C, height: h, width: w, pool: poolOf(opts, "PrototypeSearch") };
    this.prototypes = bases.length / C;
    this.topK = opts.topK;
    this.excludedTopK = opts.excludedTopK ?? DEFAULT_EXCLUDED_TOP_K;
    this.maxBatch = opts.maxBatch ?? DEFAULT_MAX_BATCH;
    const pooled = pooledSize(h, w, this.geometry.pool);
    this.pooledHeight = pooled.height;
    this.pooledWidth = pooled.width;
    this.cells = pooled.height * pooled.width;
    const P = this.prototypes;
    const maxColumns = this.maxBatch * this.cells;
    const limit = Math.min(
      device.limits.maxStorageBufferBindingSize,
      opts.scoresChunkBytes ?? MAX_SCORES_BYTES,
    );
    const columnStride = vec4Stride(maxColumns);
    for (
      const [what, bytes] of [["pooled activations", C * columnStride * 4], [
        "bases",
        C * vec4Stride(P) * 4,
      ]] as const
    ) {
      if (bytes > device.limits.maxStorageBufferBindingSize) {
        throw new Error(
          `PrototypeSearch: ${what} need ${bytes} bytes, over this device's binding limit; lower maxBatch`,
        );
      }
    }
    const fit = Math.floor(limit / (maxColumns * 4) / MATMUL_TILE) * MATMUL_TILE;
    if (fit < 1) throw new Error(`PrototypeSearch: maxBatch ${this.maxBatch} too large for one scores chunk`);
    this.rowsPerChunk = Math.min(P, fit);
    const chunks = Math.ceil(P / this.rowsPerChunk);

    const track = (b: GPUBuffer) => (this.buffers.add(b), b);
    this.bases = track(
      createStorageBuffer(device, normalizedTransposedBases(bases, P, C), 0, "search.bases"),
    );
    this.classes = track(createStorageBuffer(device, prototypeClass, 0, "search.classes"));
    this.pooled = track(createStorageBuffer(device, C * columnStride * 4, 0, "search.pooled"));
    this.invNorm = track(createStorageBuffer(device, maxColumns * 4, 0, "search.invNorm"));
    this.scores = track(createStorageBuffer(device, this.rowsPerChunk * maxColumns * 4, 0, "search.scores"));
    this.predicted = track(createStorageBuffer(device, this.maxBatch * 4, 0, "search.predicted"));
    this.state = track(createStorageBuffer(device, this.initialState(), 0, "search.state"));
    this.params = Array.from(
      { length: chunks },
      () => track(createUniformBuffer(device, new Uint8Array(pipelines.params.size), "search.params")),
    );
    this.normsBind = bindGroup(device, pipelines.norms, {
      1: this.pooled,
      2: this.params[0],
      3: this.invNorm,
    });
    this.matmulBinds = this.params.map((params) =>
      bindGroup(device, pipelines.matmul, [this.bases, this.pooled, this.invNorm, this.scores, params])
    );
    this.mergeBinds = this.params.map((params) =>
      bindGroup(device, pipelines.merge, [this.scores, this.predicted, this.classes, this.state, params])
    );
  }

  /**
   * `bases`: P x C prototypes (all classes' NMF bases stacked, row-major); `prototypeClass[p]`: class of
   * prototype p. The bases are normalized once here.
   */
  static async create(
    device: GPUDevice,
    bases: Float32Array,
    prototypeClass: Int32Array,
    opts: PrototypeSearchOptions,
  ): Promise<PrototypeSearch> {
    checkPrototypes(bases, prototypeClass, opts.channels, "PrototypeSearch");
    const excludedTopK = opts.excludedTopK ?? DEFAULT_EXCLUDED_TOP_K;
    for (const [name, v] of [["topK", opts.topK], ["excludedTopK", excludedTopK]] as const) {
      if (!Number.isInteger(v) || v < 1 || v > MERGE_WORKGROUP) {
        throw new Error(`PrototypeSearch: ${name} must be an integer in 1..${MERGE_WORKGROUP}, got ${v}`);
      }
    }
    const pool = poolOf(opts, "PrototypeSearch");
    for (const key of ["height", "width"] as const) {
      if (!Number.isInteger(opts[key]) || opts[key] < pool) {
        throw new Error(`PrototypeSearch: ${key} must be an integer >= ${pool}, got ${opts[key]}`);
      }
    }
    if (opts.maxBatch !== undefined && (!Number.isInteger(opts.maxBatch) || opts.maxBatch < 1)) {
      throw new Error(`PrototypeSearch: maxBatch must be a positive integer, got ${opts.maxBatch}`);
    }
    const pipelines = await pipelinesFor(device, opts.topK, excludedTopK);
    return new PrototypeSearch(device, pipelines, bases, prototypeClass, opts);
  }

  /**
   * Bytes of GPU memory this search holds: fixed by P, C, h, w, topK, excludedTopK and maxBatch, not by the
   * dataset.
   */
  get gpuBytes(): number {
    let total = 0;
    for (const b of this.buffers) total += b.size;
    return total;
  }

  /**
   * Folds a batch into the running results. `activations` are the tap activations of `batchSize` images
   * (NCHW float32, batchSize x C x h x w), either a CPU array or a GPU buffer on this device (e.g. an ORT output
   * with preferredOutputLocation "gpu-buffer"; it may be larger than the tensor). Images get dataset indices
   * firstImageIndex, firstImageIndex + 1, ...; indices must not repeat across batches. `predicted[i]` is the
   * predicted class of image firstImageIndex + i. Work is queued on the GPU; nothing is awaited.
   */
  addBatch(
    activations: GPUBuffer | Float32Array,
    batchSize: number,
    firstImageIndex: number,
    predicted: Int32Array,
  ): void {
    if (this.destroyed) throw new Error("PrototypeSearch.addBatch: the search was destroyed");
    const { channels: C, height: h, width: w } = this.geometry;
    const imageFloats = C * h * w;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new Error(`PrototypeSearch.addBatch: batchSize must be a positive integer, got ${batchSize}`);
    }
    if (!Number.isInteger(firstImageIndex) || firstImageIndex < 0) {
      throw new Error(
        `PrototypeSearch.addBatch: firstImageIndex must be a non-negative integer, got ${firstImageIndex}`,
      );
    }
    if ((firstImageIndex + batchSize) * this.cells > EMPTY_KEY) {
      throw new Error(
        `PrototypeSearch.addBatch: image index ${firstImageIndex + batchSize} too large for 32-bit keys`,
      );
    }
    if (predicted.length < batchSize) {
      throw new Error(
        `PrototypeSearch.addBatch: predicted has ${predicted.length} entries, need ${batchSize}`,
      );
    }
    const needed = batchSize * imageFloats * 4;
    if (activations instanceof Float32Array) {
      if (activations.length < batchSize * imageFloats) {
        throw new Error(
          `PrototypeSearch.addBatch: activations hold ${activations.length} floats, need ${batchSize} x ${C} x ${h} x ${w}`,
        );
      }
    } else {
      if (activations.size < needed) {
        throw new Error(
          `PrototypeSearch.addBatch: activations buffer has ${activations.size} bytes, need ${needed}`,
        );
      }
      if (!(activations.usage & GPUBufferUsage.STORAGE)) {
        throw new Error("PrototypeSearch.addBatch: activations buffer lacks STORAGE usage");
      }
    }
    for (let start = 0; start < batchSize; start += this.maxBatch) {
      const count = Math.min(this.maxBatch, batchSize - start);
      const images = predicted.subarray(start, start + count);
      if (activations instanceof Float32Array) {
        const slice = activations.subarray(start * imageFloats, (start + count) * imageFloats);
        this.step(this.uploadBuffer(), 0, slice, count, firstImageIndex + start, images);
      } else {
        const offset = start * imageFloats * 4;
        if (offset % this.device.limits.minStorageBufferOffsetAlignment !== 0) {
          throw new Error(
            `PrototypeSearch.addBatch: a GPU batch larger than maxBatch (${this.maxBatch}) must split at ` +
              `${this.device.limits.minStorageBufferOffsetAlignment}-byte offsets; use batches <= maxBatch`,
          );
        }
        this.step(activations, offset, undefined, count, firstImageIndex + start, images);
      }
    }
  }

  /** Reads the results back (one GPU round trip). The search stays usable: more batches may follow. */
  async finish(): Promise<SearchResult> {
    const K = this.topK;
    const E = this.excludedTopK;
    const stride = 2 * (K + E);
    const bytes = this.prototypes * stride * 4;
    const staging = this.device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(this.state, 0, staging, 0, bytes);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const raw = staging.getMappedRange().slice(0);
    staging.unmap();
    staging.destroy();
    const scores = new Float32Array(raw);
    const keys = new Uint32Array(raw);
    // A list of n entries at `at`: n score bit patterns, then n keys; empty slots are at the end.
    const list = (at: number, n: number): SearchHit[] => {
      const hits: SearchHit[] = [];
      for (let j = 0; j < n; j++) {
        if (keys[at + n + j] !== EMPTY_KEY) hits.push(this.hit(scores[at + j], keys[at + n + j]));
      }
      return hits;
    };
    const result: Required<SearchResult> = { topK: [], bestOther: [], excludedTopK: [] };
    for (let p = 0; p < this.prototypes; p++) {
      result.topK.push(list(p * stride, K));
      const excluded = list(p * stride + 2 * K, E);
      result.excludedTopK.push(excluded);
      result.bestOther.push(excluded[0] ?? null);
    }
    return result;
  }

  /** Forgets every batch seen so far. */
  reset(): void {
    const state = this.initialState();
    this.device.queue.writeBuffer(this.state, 0, state.buffer as ArrayBuffer, 0, state.byteLength);
  }

  destroy(): void {
    this.destroyed = true;
    for (const b of this.buffers) b.destroy();
    this.buffers.clear();
    this.upload = undefined;
  }

  private hit(score: number, key: number): SearchHit {
    const cell = key % this.cells;
    return {
      score,
      image: Math.floor(key / this.cells),
      y: Math.floor(cell / this.pooledWidth),
      x: cell % this.pooledWidth,
    };
  }

  private initialState(): Uint32Array {
    const K = this.topK;
    const E = this.excludedTopK;
    const stride = 2 * (K + E);
    const state = new Uint32Array(this.prototypes * stride);
    const asFloat = new Float32Array(state.buffer);
    for (let p = 0; p < this.prototypes; p++) {
      for (const [at, n] of [[p * stride, K], [p * stride + 2 * K, E]]) {
        asFloat.fill(EMPTY_SCORE, at, at + n);
        state.fill(EMPTY_KEY, at + n, at + 2 * n);
      }
    }
    return state;
  }

  private uploadBuffer(): GPUBuffer {
    if (!this.upload) {
      const { channels: C, height: h, width: w } = this.geometry;
      this.upload = createStorageBuffer(this.device, this.maxBatch * C * h * w * 4, 0, "search.upload");
      this.buffers.add(this.upload);
    }
    return this.upload;
  }

  /** One GPU step over at most maxBatch images: pool, norms, then per prototype chunk matmul + merge. */
  private step(
    source: GPUBuffer,
    offset: number,
    cpuData: Float32Array | undefined,
    count: number,
    firstImage: number,
    predicted: Int32Array,
  ): void {
    const { device, pipelines } = this;
    const { channels: C, height: h, width: w } = this.geometry;
    const columns = count * this.cells;
    const queue = device.queue;
    // Queue writes are ordered with submits, so reusing the staging, predicted and params buffers for the
    // next step cannot overwrite what an earlier, still-running step reads.
    if (cpuData) {
      queue.writeBuffer(source, 0, cpuData.buffer as ArrayBuffer, cpuData.byteOffset, cpuData.byteLength);
    }
    queue.writeBuffer(this.predicted, 0, predicted.buffer as ArrayBuffer, predicted.byteOffset, count * 4);
    this.params.forEach((params, chunk) => {
      const rowStart = chunk * this.rowsPerChunk;
      const u = packUniforms(pipelines.params, {
        batch: count,
        channels: C,
        height: h,
        width: w,
        pooled_h: this.pooledHeight,
        pooled_w: this.pooledWidth,
        columns,
        bases_stride: vec4Stride(this.prototypes),
        row_start: rowStart,
        rows: Math.min(this.rowsPerChunk, this.prototypes - rowStart),
        first_key: firstImage * this.cells,
        column_stride: vec4Stride(columns),
      });
      queue.writeBuffer(params, 0, u);
    });
    const activations = { buffer: source, offset, size: count * C * h * w * 4 };
    const enc = device.createCommandEncoder({ label: "search.step" });
    const pass = enc.beginComputePass();
    encodeDispatch(
      pass,
      device,
      pipelines.pool,
      [activations, this.pooled, this.params[0]],
      dispatchGrid(Math.ceil(C * columns / POOL_WORKGROUP)),
    );
    encodeDispatch(
      pass,
      device,
      pipelines.norms,
      this.normsBind,
      dispatchGrid(Math.ceil(columns / POOL_WORKGROUP)),
    );
    this.params.forEach((_, chunk) => {
      const rows = Math.min(this.rowsPerChunk, this.prototypes - chunk * this.rowsPerChunk);
      encodeDispatch(pass, device, pipelines.matmul, this.matmulBinds[chunk], [
        Math.ceil(columns / MATMUL_TILE),
        Math.ceil(rows / MATMUL_TILE),
      ]);
      encodeDispatch(pass, device, pipelines.merge, this.mergeBinds[chunk], dispatchGrid(rows));
    });
    pass.end();
    queue.submit([enc.finish()]);
  }
}
