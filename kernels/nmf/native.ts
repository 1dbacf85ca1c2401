// NMF on the CPU at BLAS speed: the reference's algorithm (reference.ts, nmfSteps: NNDSVDa + HALS with
// scikit-learn's stopping rule) with its products with V (V H^T and V^T W every iteration, V Q and V^T Y in
// the randomized SVD; all the O(n c k) work) run by onnxruntime-node's float32 GEMMs. The k x k and n x k
// steps (Gram matrices, coordinate sweeps, Jacobi) stay in float64 TypeScript: they are cheap. V stays
// float32 as given; like the WGSL solver, the products round to float32, so the stopping rule may end an
// iteration earlier or later than the float64 reference. Holds V^T besides V (one more copy of V).
import { GraphBuilder } from "../../src/onnx/builder.ts";
import { cachedNativeSession, loadNativeCpu, type NativeOrt } from "../../src/runtime/native_cpu.ts";
import { checkedSettings, finishNmf, meanOf, nmfReference, nmfSteps, type VProduct } from "./reference.ts";
import type { NmfOptions, NmfResult } from "./settings.ts";

/**
 * A (rows x cols) times X (cols x p), dims symbolic, so one session serves both products and every shape:
 * V X with A = V, V^T Y with A = V^T. V^T is transposed once rather than read with Gemm's transA, which
 * MLAS runs about 2x slower here at p = 6 (24 vs 52 ms for 11760 x 1024).
 */
function productGraph(): GraphBuilder {
  const g = new GraphBuilder("nmf_product");
  g.input("a", ["rows", "cols"]);
  g.input("x", ["cols", "p"]);
  g.node("MatMul", ["a", "x"], {}, { outputs: ["out"] });
  g.output("out", ["rows", "p"]);
  return g;
}

/** The transpose of a rows x cols row-major matrix, in cache-sized tiles. */
function transposed(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  const T = 64;
  for (let i0 = 0; i0 < rows; i0 += T) {
    for (let j0 = 0; j0 < cols; j0 += T) {
      const i1 = Math.min(i0 + T, rows), j1 = Math.min(j0 + T, cols);
      for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) out[j * rows + i] = a[i * cols + j];
    }
  }
  return out;
}

/** Factorizes one non-negative n x c row-major matrix, as nmfReference does, with native products. */
export async function nmfNative(
  ort: NativeOrt,
  v: Float32Array,
  n: number,
  c: number,
  opts: NmfOptions & { threads?: number } = {},
): Promise<NmfResult> {
  const s = checkedSettings("nmfNative", v, n, c, opts);
  const session = await cachedNativeSession(ort, "nmf product", () => productGraph().model(), opts.threads);
  const V = new ort.Tensor("float32", v, [n, c]);
  const Vt = new ort.Tensor("float32", transposed(v, n, c), [c, n]);
  const run = async (r: VProduct): Promise<Float64Array> => {
    const [a, x, inner] = r.op === "VX" ? [V, r.x, c] : [Vt, r.y, n];
    const out = await session.run({ a, x: new ort.Tensor("float32", Float32Array.from(x), [inner, r.p]) });
    return Float64Array.from(out.out.data as Float32Array);
  };
  const steps = nmfSteps(n, c, s, meanOf(v));
  let step = steps.next();
  while (!step.done) {
    opts.signal?.throwIfAborted();
    step = steps.next(await run(step.value));
  }
  return finishNmf(v, n, c, s.k, step.value);
}

/** NMF on this machine's CPU: which implementation, and a way to run it. */
export interface CpuNmf {
  /** Says which ran, for logs and manifests; with the reason where the native library did not load. */
  description: string;
  native: boolean;
  run(v: Float32Array, n: number, c: number, opts: NmfOptions): Promise<NmfResult>;
}

/** nmfNative where onnxruntime-node loads, else the float64 reference (same algorithm, slower). */
export async function cpuNmf(): Promise<CpuNmf> {
  const loaded = await loadNativeCpu();
  if (loaded.ort) {
    const ort = loaded.ort;
    return {
      description: `${loaded.description} GEMMs`,
      native: true,
      run: (v, n, c, opts) => nmfNative(ort, v, n, c, opts),
    };
  }
  return {
    description: `float64 reference (${loaded.reason})`,
    native: false,
    run: (v, n, c, opts) => Promise.resolve(nmfReference(v, n, c, opts)),
  };
}
