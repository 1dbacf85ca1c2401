// The hyperplanes' CPU path at BLAS speed: a tile (block A of classes against block B) trained as the GPU
// kernels train it, as batched matrix products, in one generated ONNX graph run by onnxruntime-node's CPU
// kernels. Per epoch, with X_a class a's rows augmented by a 1 (the bias's input) and W[a, b] pair (a, b)'s
// weights:
//   Z_a = X_a W[a, :]^T  (rows of a against all partners b),  Z_b = X_b W[:, b]^T  (rows of b against all a),
//   S = sigmoid(Z) - label (0 for a's rows, 1 for b's),
//   W[a, b] -= lr * (S_a[:, b]^T X_a + S_b[:, a]^T X_b) / (n_a + n_b).
// Same maths as the CPU twin (reference.ts), which stays the reference; sums are float32 GEMMs here.
// Classes of a block are padded to its largest row count with zero rows: a zero row (its bias input 0 too)
// adds nothing to any gradient, and the accuracy counts real rows only.
import { GraphBuilder } from "../../src/onnx/builder.ts";
import { cachedNativeSession, type NativeOrt, type NativeSession } from "../../src/runtime/native_cpu.ts";
import type { BlockLimits, PairSolver, PairTrainingInput, TileResult } from "./pair_trainer.ts";
import { type HyperplaneTraining, initialWeights } from "./settings.ts";

/** Epochs unrolled in one graph; longer trainings run several graphs in a row. */
export const EPOCHS_PER_GRAPH = 100;

export interface NativeSolverOptions extends Partial<BlockLimits> {
  /** ORT's intra-op threads (default: ORT's choice, the physical cores). */
  threads?: number;
}

/**
 * The training graph with `epochs` steps unrolled (dims symbolic, so one session serves every tile).
 * Inputs: xa [nA, ra, C+1], xb [nB, rb, C+1], w0 [nA, nB, C+1], inv_n [nA, nB, 1] (1 / (n_a + n_b)),
 * lr [1]. Outputs: w (the trained weights), za and zb (the last epoch's logits, before its step, as the
 * reference's accuracy uses them).
 */
export function hyperplaneTileGraph(epochs: number): GraphBuilder {
  const g = new GraphBuilder("hyperplane_tile");
  const xa = g.input("xa", ["nA", "ra", "width"]);
  const xb = g.input("xb", ["nB", "rb", "width"]);
  let w = g.input("w0", ["nA", "nB", "width"]);
  const invN = g.input("inv_n", ["nA", "nB", 1]);
  const lr = g.input("lr", [1]);
  const one = g.weight("one", [1], [1]);
  for (let e = 0; e < epochs; e++) {
    const last = e === epochs - 1;
    const za = g.node("MatMul", [xa, g.node("Transpose", [w], { perm: [0, 2, 1] })], {}, {
      ...(last ? { outputs: ["za"] } : {}),
    });
    const zb = g.node("MatMul", [xb, g.node("Transpose", [w], { perm: [1, 2, 0] })], {}, {
      ...(last ? { outputs: ["zb"] } : {}),
    });
    const sa = g.node("Sigmoid", [za]);
    const sb = g.node("Sub", [g.node("Sigmoid", [zb]), one]);
    const ga = g.node("MatMul", [g.node("Transpose", [sa], { perm: [0, 2, 1] }), xa]);
    const gb = g.node("MatMul", [g.node("Transpose", [sb], { perm: [0, 2, 1] }), xb]);
    const grad = g.node("Add", [ga, g.node("Transpose", [gb], { perm: [1, 0, 2] })]);
    const step = g.node("Mul", [g.node("Mul", [grad, invN]), lr]);
    w = g.node("Sub", [w, step], {}, last ? { outputs: ["w"] } : {});
  }
  g.output("w", ["nA", "nB", "width"]);
  g.output("za", ["nA", "ra", "nB"]);
  g.output("zb", ["nB", "rb", "nA"]);
  return g;
}

/** A block's rows packed for the graph: classes x padded rows x (C + 1), the last column 1 on real rows. */
interface PackedBlock {
  classes: readonly number[];
  counts: number[];
  padded: number;
  x: Float32Array;
}

export class NativePairSolver implements PairSolver {
  readonly description: string;
  readonly blocks: readonly (readonly number[])[];
  private packedA: PackedBlock | undefined;

  /**
   * Blocks of at most 64 classes and 256 MiB of packed rows (a tile holds two blocks, the graph's buffers a
   * few blocks' partner products more). Every class of a block is padded to the block's largest row count,
   * and the bytes are counted so; a class larger than the limit forms a block alone.
   */
  constructor(
    private readonly ort: NativeOrt,
    runtime: string,
    private readonly input: PairTrainingInput,
    private readonly training: HyperplaneTraining,
    private readonly options: NativeSolverOptions = {},
  ) {
    const c = input.channels;
    const maxBytes = options.maxBytes ?? 2 ** 28, maxClasses = options.maxClasses ?? 64;
    const blocks: number[][] = [];
    let block: number[] = [], widest = 0;
    for (const cls of input.classes) {
      const rows = input.rows.get(cls)!.length / c;
      const wider = Math.max(widest, rows);
      if (
        block.length && (block.length === maxClasses || (block.length + 1) * wider * (c + 1) * 4 > maxBytes)
      ) {
        blocks.push(block);
        block = [];
      }
      block.push(cls);
      widest = block.length === 1 ? rows : wider;
    }
    if (block.length) blocks.push(block);
    this.blocks = blocks;
    this.description = `${runtime} (batched GEMMs${options.threads ? `, ${options.threads} threads` : ""})`;
  }

  private pack(block: number): PackedBlock {
    if (this.packedA && this.packedA.classes === this.blocks[block]) return this.packedA;
    const c = this.input.channels, width = c + 1;
    const classes = this.blocks[block];
    const counts = classes.map((cls) => this.input.rows.get(cls)!.length / c);
    const padded = Math.max(...counts);
    const x = new Float32Array(classes.length * padded * width);
    classes.forEach((cls, i) => {
      const rows = this.input.rows.get(cls)!;
      for (let r = 0; r < counts[i]; r++) {
        const o = (i * padded + r) * width;
        x.set(rows.subarray(r * c, (r + 1) * c), o);
        x[o + c] = 1;
      }
    });
    return { classes, counts, padded, x };
  }

  async trainTiles(blockA: number, blocksB: readonly number[]): Promise<TileResult[]> {
    const ort = this.ort;
    const epochs = this.training.epochs;
    // Graphs of at most EPOCHS_PER_GRAPH epochs, run one after another: building a session grows faster than
    // its epochs (0.6 s for 100, 3.7 s for 500 here).
    const chunks = Array.from(
      { length: Math.ceil(epochs / EPOCHS_PER_GRAPH) },
      (_, i) => Math.min(EPOCHS_PER_GRAPH, epochs - i * EPOCHS_PER_GRAPH),
    );
    const sessions = await Promise.all(chunks.map((length) =>
      cachedNativeSession(
        ort,
        `hyperplane tile, ${length} epochs`,
        () => hyperplaneTileGraph(length).model(),
        this.options.threads,
      )
    ));
    const a = this.pack(blockA);
    this.packedA = a;
    const c = this.input.channels, width = c + 1;
    const nA = a.classes.length;
    const tensor = (data: Float32Array, dims: number[]) => new ort.Tensor("float32", data, dims);
    const xa = tensor(a.x, [nA, a.padded, width]);
    const lr = tensor(Float32Array.of(this.training.lr), [1]);
    const out: TileResult[] = [];
    for (const blockB of blocksB) {
      const b = blockB === blockA ? a : this.pack(blockB);
      const nB = b.classes.length;
      const w0 = new Float32Array(nA * nB * width);
      const invN = new Float32Array(nA * nB);
      a.classes.forEach((i, ia) =>
        b.classes.forEach((j, ib) => {
          const p = ia * nB + ib;
          w0.set(initialWeights(i, j, c, this.training), p * width);
          invN[p] = 1 / (a.counts[ia] + b.counts[ib]);
        })
      );
      const xb = tensor(b.x, [nB, b.padded, width]);
      const inv_n = tensor(invN, [nA, nB, 1]);
      let r!: Awaited<ReturnType<NativeSession["run"]>>;
      let w: Float32Array = w0;
      for (const session of sessions) {
        r = await session.run({ xa, xb, w0: tensor(w, [nA, nB, width]), inv_n, lr });
        w = r.w.data as Float32Array;
      }
      // The last graph's logits are the last epoch's, before its step.
      const za = r.za.data as Float32Array, zb = r.zb.data as Float32Array;
      const hits = new Uint32Array(nA * nB);
      // Label 0 for a's rows: a hit is z <= 0; label 1 for b's rows: z > 0. Padding rows are not counted.
      for (let ia = 0; ia < nA; ia++) {
        for (let row = 0; row < a.counts[ia]; row++) {
          const o = (ia * a.padded + row) * nB;
          for (let ib = 0; ib < nB; ib++) if (!(za[o + ib] > 0)) hits[ia * nB + ib]++;
        }
      }
      for (let ib = 0; ib < nB; ib++) {
        for (let row = 0; row < b.counts[ib]; row++) {
          const o = (ib * b.padded + row) * nA;
          for (let ia = 0; ia < nA; ia++) if (zb[o + ia] > 0) hits[ia * nB + ib]++;
        }
      }
      const tile: TileResult = {
        a: a.classes,
        b: b.classes,
        normals: new Float32Array(nA * nB * c),
        bias: new Float32Array(nA * nB),
        accuracy: new Float32Array(nA * nB),
      };
      a.classes.forEach((i, ia) =>
        b.classes.forEach((j, ib) => {
          // The diagonal (i, i) of a tile is trained along with the rest but is no pair: zeros, as the twin.
          if (i === j) return;
          const p = ia * nB + ib;
          tile.normals.set(w.subarray(p * width, p * width + c), p * c);
          tile.bias[p] = w[p * width + c];
          tile.accuracy[p] = hits[p] / (a.counts[ia] + b.counts[ib]);
        })
      );
      out.push(tile);
    }
    return out;
  }

  destroy(): void {
    this.packedA = undefined;
  }
}
