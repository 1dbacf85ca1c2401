// Trains every class pair's hyperplane on the GPU. Each class's rows go to the GPU once, packed into blocks of
// classes (each block one storage buffer within the device's binding limit); a tile is a block A against a
// block B and trains all their pairs together. A tile's epochs are encoded back to back and submitted without
// waiting; a row of tiles (one A block against the B blocks asked for) is read back once at its end. The
// logits and the gradient are products through the shared GEMM tile (kernels/_gemm_tile.wgsl).
import { createStorageBuffer, createUniformBuffer } from "../../src/runtime/gpu.ts";
import {
  bindGroup,
  compileProgram,
  dispatchGrid,
  encodeDispatch,
  HASH_WGSL,
  packUniforms,
  type UniformLayout,
  uniformLayout,
} from "../_program.ts";
import { GEMM_CONSTANTS, GEMM_LOAD_KMAJOR_SOURCE, GEMM_TILE_SOURCE, vec4Stride } from "../_gemm_tile.ts";
import { trainPairCpu } from "./reference.ts";
import {
  ACCURACY_WORKGROUP,
  DEFAULT_MAX_BLOCK_BYTES,
  DEFAULT_MAX_CLASSES,
  HYPERPLANE_TILE as TILE,
  type HyperplaneTraining,
  INIT_WORKGROUP,
  initBound,
} from "./settings.ts";

/** Classes with their rows (rows x channels float32, row-major), as read from a vectors folder. */
export interface PairTrainingInput {
  channels: number;
  /** Classes with at least one row. */
  classes: readonly number[];
  rows: ReadonlyMap<number, Float32Array>;
}

/** One tile's results: pair (a[ia], b[ib]) at index ia * b.length + ib. */
export interface TileResult {
  a: readonly number[];
  b: readonly number[];
  /** Pairs x C. */
  normals: Float32Array;
  bias: Float32Array;
  accuracy: Float32Array;
}

/** What trains the pairs of one block against others: the GPU, or the CPU twin (the same blocks). */
export interface PairSolver {
  readonly description: string;
  /** Classes per block, ascending within and across blocks. */
  readonly blocks: readonly (readonly number[])[];
  trainTiles(blockA: number, blocksB: readonly number[]): Promise<TileResult[]>;
  destroy(): void;
}

export interface BlockLimits {
  /** Largest buffer a block may need (rows x (C + 1) floats, or rows x classes residuals; padded to 4). */
  maxBytes: number;
  /** Classes per block: pairs per tile are at most its square. */
  maxClasses: number;
  /** Rows of a class start at a multiple of this (a workgroup's rows). */
  rowAlign: number;
}

export type GpuSolverOptions = Partial<Omit<BlockLimits, "rowAlign">>;

/** Packs classes (in order) into blocks whose buffers stay within `limits`; a class too big alone is an error. */
export function planBlocks(
  classes: readonly number[],
  rowCount: (cls: number) => number,
  channels: number,
  limits: BlockLimits,
): number[][] {
  const width = channels + 1;
  const blocks: number[][] = [];
  let current: number[] = [];
  let rows = 0;
  const bytes = (r: number) => r * vec4Stride(Math.max(width, limits.maxClasses)) * 4;
  for (const cls of classes) {
    const padded = Math.ceil(rowCount(cls) / limits.rowAlign) * limits.rowAlign;
    if (bytes(padded) > limits.maxBytes) {
      throw new Error(
        `class ${cls}: ${rowCount(cls)} rows of ${channels} channels need ${
          (bytes(padded) / 2 ** 20).toFixed(0)
        } MiB, more than the ${(limits.maxBytes / 2 ** 20).toFixed(0)} MiB a GPU buffer may bind here`,
      );
    }
    if (current.length === limits.maxClasses || bytes(rows + padded) > limits.maxBytes) {
      blocks.push(current);
      current = [];
      rows = 0;
    }
    current.push(cls);
    rows += padded;
  }
  if (current.length) blocks.push(current);
  return blocks;
}

interface GpuBlock {
  classes: readonly number[];
  rows: number;
  x: GPUBuffer;
  slots: GPUBuffer;
  tileClass: GPUBuffer;
}

const source = (name: string) => new URL(`./${name}.wgsl`, import.meta.url);
const COMMON = source("common");

/** Params (common.wgsl's struct). */
function params(
  layout: UniformLayout,
  side: 0 | 1,
  last: boolean,
  nA: number,
  nB: number,
  width: number,
  rowTiles: number,
  gridX: number,
  t: HyperplaneTraining,
): Uint8Array<ArrayBuffer> {
  return packUniforms(layout, {
    side,
    last,
    n_a: nA,
    n_b: nB,
    width,
    row_tiles: rowTiles,
    grid_x: gridX,
    zero_init: t.init === "zeros",
    lr: t.lr,
    bound: initBound(width - 1),
    seed: t.seed >>> 0,
  });
}

export class GpuPairSolver implements PairSolver {
  private constructor(
    private readonly device: GPUDevice,
    readonly description: string,
    readonly blocks: readonly (readonly number[])[],
    private readonly gpuBlocks: GpuBlock[],
    private readonly channels: number,
    private readonly training: HyperplaneTraining,
  ) {}

  /**
   * Uploads every class's rows once. Blocks default to the device's binding limit (at most 1 GiB) and 64
   * classes.
   */
  static create(
    gpu: { device: GPUDevice; description: string; software: boolean },
    input: PairTrainingInput,
    training: HyperplaneTraining,
    options: GpuSolverOptions = {},
  ): GpuPairSolver {
    const device = gpu.device;
    const align = TILE;
    const c = input.channels;
    const width = c + 1;
    const stride = vec4Stride(width);
    const blocks = planBlocks(input.classes, (cls) => input.rows.get(cls)!.length / c, c, {
      maxBytes: Math.min(
        options.maxBytes ?? Infinity,
        device.limits.maxStorageBufferBindingSize,
        DEFAULT_MAX_BLOCK_BYTES,
      ),
      maxClasses: options.maxClasses ?? DEFAULT_MAX_CLASSES,
      rowAlign: align,
    });
    const gpuBlocks = blocks.map((classes): GpuBlock => {
      const slots = new Uint32Array(classes.length * 4);
      const tileClass: number[] = [];
      let rows = 0;
      classes.forEach((cls, i) => {
        const n = input.rows.get(cls)!.length / c;
        slots.set([rows, n, cls, 0], i * 4);
        const padded = Math.ceil(n / align) * align;
        for (let t = 0; t < padded / align; t++) tileClass.push(i);
        rows += padded;
      });
      // Rows augmented with a 1 (the bias's input); padding rows and columns stay zero.
      const x = new Float32Array(rows * stride);
      classes.forEach((cls, i) => {
        const data = input.rows.get(cls)!;
        const start = slots[i * 4];
        for (let r = 0; r < slots[i * 4 + 1]; r++) {
          x.set(data.subarray(r * c, (r + 1) * c), (start + r) * stride);
          x[(start + r) * stride + c] = 1;
        }
      });
      return {
        classes,
        rows,
        x: createStorageBuffer(device, x, 0, "hyperplane rows"),
        slots: createStorageBuffer(device, slots, 0, "hyperplane class slots"),
        tileClass: createStorageBuffer(device, Uint32Array.from(tileClass), 0, "hyperplane row tiles"),
      };
    });
    return new GpuPairSolver(device, gpu.description, blocks, gpuBlocks, c, training);
  }

  async trainTiles(blockA: number, blocksB: readonly number[]): Promise<TileResult[]> {
    const device = this.device;
    const label = "hyperplane";
    // init draws through the shared hashes; the products compile the shared GEMM tile (its sizes as rewritten
    // constants) ahead of their file, and the gradient, whose operands are depth-major, its K-major loader.
    const gemm = [GEMM_TILE_SOURCE];
    const compile = <E extends string>(
      name: string,
      entry: E,
      shape: { hashes?: boolean; gemm?: URL[]; workgroup?: number },
    ) =>
      compileProgram(device, {
        label: `${label} ${name}`,
        sources: [...(shape.hashes ? [HASH_WGSL] : []), COMMON, ...(shape.gemm ?? []), source(name)],
        entryPoints: [entry],
        constants: shape.gemm ? GEMM_CONSTANTS : undefined,
        overrides: shape.workgroup ? { WORKGROUP: shape.workgroup } : undefined,
      }).then((p) => p[entry]);
    const [init, logits, gradient, accuracy, layout] = await Promise.all([
      compile("init", "init_weights", { hashes: true, workgroup: INIT_WORKGROUP }),
      compile("logits", "logits", { gemm }),
      compile("gradient", "gradient", { gemm: [...gemm, GEMM_LOAD_KMAJOR_SOURCE] }),
      compile("accuracy", "pair_accuracy", { workgroup: ACCURACY_WORKGROUP }),
      uniformLayout(COMMON, "Params"),
    ]);
    const width = this.channels + 1;
    const stride = vec4Stride(width);
    const a = this.gpuBlocks[blockA];
    const bs = blocksB.map((b) => this.gpuBlocks[b]);
    const nA = a.classes.length;
    const maxB = Math.max(...bs.map((b) => b.classes.length));
    const maxRowsB = Math.max(...bs.map((b) => b.rows));
    const f32 = (n: number) => createStorageBuffer(device, n * 4, 0, label);
    const weights = f32(nA * maxB * stride);
    const grad = f32(nA * maxB * stride);
    // Residuals and hits: one column per partner class, rows padded to a multiple of 4 (logits.wgsl).
    const residualA = f32(a.rows * vec4Stride(maxB));
    const hitsA = f32(a.rows * vec4Stride(maxB));
    const residualB = f32(maxRowsB * vec4Stride(nA));
    const hitsB = f32(maxRowsB * vec4Stride(nA));
    const acc = f32(nA * maxB);
    const tileBytes = bs.map((b) => nA * b.classes.length * (stride + 1) * 4);
    const staging = device.createBuffer({
      size: Math.max(4, tileBytes.reduce((s, n) => s + n, 0)),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      label: "hyperplane results",
    });
    const uniforms: GPUBuffer[] = [];
    const t = this.training;
    const gridLimit = device.limits.maxComputeWorkgroupsPerDimension;
    let offset = 0;
    for (const b of bs) {
      const nB = b.classes.length;
      const gridA = dispatchGrid(a.rows / TILE, gridLimit);
      const gridB = dispatchGrid(b.rows / TILE, gridLimit);
      const uniform = (side: 0 | 1, last: boolean) => {
        const self = side === 0 ? a : b;
        const grid = side === 0 ? gridA : gridB;
        const buf = createUniformBuffer(
          device,
          params(layout, side, last, nA, nB, width, self.rows / TILE, grid[0], t),
        );
        uniforms.push(buf);
        return buf;
      };
      const u = [[uniform(0, false), uniform(0, true)], [uniform(1, false), uniform(1, true)]];
      // Every epoch dispatches the same bindings: the bind groups are made once per tile.
      const sides = ([0, 1] as const).map((side) => {
        const [self, other, hits, residual, grid, partners] = side === 0
          ? [a, b, hitsA, residualA, gridA, nB]
          : [b, a, hitsB, residualB, gridB, nA];
        const logitsBinds = [u[side][0], u[side][1]].map((params) =>
          bindGroup(device, logits, [params, self.x, self.slots, self.tileClass, weights, residual, hits])
        );
        return {
          logits: logitsBinds,
          logitsGrid: [grid[0], grid[1], Math.ceil(partners / TILE)] as const,
          gradient: bindGroup(device, gradient, [
            u[side][0],
            self.x,
            self.slots,
            other.slots,
            residual,
            grad,
            weights,
          ]),
          gradientGrid: [
            Math.ceil(width / TILE),
            Math.ceil(partners / TILE),
            self.classes.length,
          ] as const,
        };
      });
      const enc = device.createCommandEncoder({ label });
      const pass = enc.beginComputePass();
      encodeDispatch(
        pass,
        device,
        init,
        [u[0][0], a.slots, b.slots, weights],
        dispatchGrid(Math.ceil(nA * nB * stride / INIT_WORKGROUP)),
      );
      for (let epoch = 0; epoch < t.epochs; epoch++) {
        const last = epoch === t.epochs - 1 ? 1 : 0;
        for (const side of sides) encodeDispatch(pass, device, logits, side.logits[last], side.logitsGrid);
        for (const side of sides) encodeDispatch(pass, device, gradient, side.gradient, side.gradientGrid);
      }
      encodeDispatch(pass, device, accuracy, [u[0][1], a.slots, b.slots, hitsA, hitsB, acc], [
        Math.ceil(nA * nB / ACCURACY_WORKGROUP),
      ]);
      pass.end();
      enc.copyBufferToBuffer(weights, 0, staging, offset, nA * nB * stride * 4);
      enc.copyBufferToBuffer(acc, 0, staging, offset + nA * nB * stride * 4, nA * nB * 4);
      device.queue.submit([enc.finish()]);
      offset += nA * nB * (stride + 1) * 4;
    }
    await staging.mapAsync(GPUMapMode.READ);
    const bytes = staging.getMappedRange().slice(0);
    staging.unmap();
    for (const buf of [staging, weights, grad, residualA, hitsA, residualB, hitsB, acc, ...uniforms]) {
      buf.destroy();
    }
    offset = 0;
    return bs.map((b) => {
      const pairs = nA * b.classes.length;
      const w = new Float32Array(bytes, offset, pairs * stride);
      const result: TileResult = {
        a: a.classes,
        b: b.classes,
        normals: new Float32Array(pairs * this.channels),
        bias: new Float32Array(pairs),
        accuracy: new Float32Array(bytes, offset + pairs * stride * 4, pairs).slice(),
      };
      for (let p = 0; p < pairs; p++) {
        result.normals.set(w.subarray(p * stride, p * stride + this.channels), p * this.channels);
        result.bias[p] = w[p * stride + this.channels];
      }
      offset += pairs * (stride + 1) * 4;
      return result;
    });
  }

  destroy(): void {
    for (const b of this.gpuBlocks) for (const buf of [b.x, b.slots, b.tileClass]) buf.destroy();
  }
}

/** The CPU twin over the same blocks (tests and `--cpu`): trainPairCpu for each pair of each tile. */
export class CpuPairSolver implements PairSolver {
  readonly description = "CPU twin (float64 sums)";
  readonly blocks: readonly (readonly number[])[];
  constructor(
    private readonly input: PairTrainingInput,
    private readonly training: HyperplaneTraining,
    maxClasses = DEFAULT_MAX_CLASSES,
  ) {
    const classes = [...input.classes];
    this.blocks = Array.from(
      { length: Math.ceil(classes.length / maxClasses) },
      (_, i) => classes.slice(i * maxClasses, (i + 1) * maxClasses),
    );
  }

  trainTiles(blockA: number, blocksB: readonly number[]): Promise<TileResult[]> {
    const c = this.input.channels;
    const a = this.blocks[blockA];
    return Promise.resolve(blocksB.map((bi) => {
      const b = this.blocks[bi];
      const pairs = a.length * b.length;
      const out: TileResult = {
        a,
        b,
        normals: new Float32Array(pairs * c),
        bias: new Float32Array(pairs),
        accuracy: new Float32Array(pairs),
      };
      a.forEach((i, ia) =>
        b.forEach((j, ib) => {
          if (i === j) return;
          const r = trainPairCpu(this.input.rows.get(i)!, this.input.rows.get(j)!, c, i, j, this.training);
          const p = ia * b.length + ib;
          out.normals.set(r.normal, p * c);
          out.bias[p] = r.bias;
          out.accuracy[p] = r.accuracy;
        })
      );
      return out;
    }));
  }

  destroy(): void {}
}
