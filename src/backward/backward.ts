// The backward pass of a classifier head, generated as a second ONNX graph.
//
// onnxruntime-web only runs forward graphs, so the gradient of the logits with respect to the tap tensor is
// written out as ordinary ONNX ops: the head's forward is recomputed for `x` (and for the baseline `x_ref`
// when the method is DeepLift), then every node is differentiated in reverse topological order, summing the
// gradients of values that several nodes read (residual Add, fan-out). ORT runs the result like any model, so
// on the WebGPU EP everything stays on the GPU, the transposed convolutions run on ORT's own conv kernels
// (stride-1 convs as a Conv with flipped, transposed weights, i.e. the im2col/matmul path; strided ones as
// ConvTranspose), and no op needs hand-written WGSL. Every op emitted here has a WebGPU kernel in ORT 1.30
// (Conv, ConvTranspose, Where, Equal, Less, Greater, Abs, Div, Mul, Sub, Add, Neg, Cast, Expand, Pad, Slice,
// Concat, Reshape, Transpose, ReduceSum, ReduceMean, Gemm, MatMul, Sqrt); a test checks that ORT places every
// node of the generated graphs on the WebGPU EP. Scatter ops (ScatterElements/ScatterND), which it lacks,
// are avoided: MaxPool routes gradients with equality masks and a one-hot ConvTranspose. Shape ops are
// avoided too (ORT runs them on the CPU): only the batch dimension is dynamic, so Reshape targets are
// constants.
//
// Shapes come from a small static shape inference (shapes.ts) from the tap shape, with the batch dimension
// symbolic, rather than from running the head once in ORT: generation stays synchronous and needs no session
// or sample input, and the rules can tell a batch-dependent dimension from a broadcast one.
//
// DeepLift follows captum's LayerDeepLift (multiply_by_inputs=True, Rescale rule): at Relu, LeakyRelu,
// Sigmoid, Tanh (captum's SUPPORTED_NON_LINEAR) and Clip the local derivative becomes
// (f(a) - f(a_ref)) / (a - a_ref), except where |a - a_ref| < eps (captum: `abs(delta_in) < eps`, eps = 1e-10),
// where the ordinary derivative is kept. MaxPool uses captum's maxpool rule: with m = max(y, y_ref),
// multiplier = [unpool(g*(m - y_ref), argmax x) + unpool(g*(y - m), argmax x_ref)] / (x - x_ref).
// Linear ops (Conv, BatchNormalization, Add, pools, Gemm, ...) keep their gradient. Departures from captum:
// - Clip (ReLU6) gets the Rescale rule too; captum leaves nn.ReLU6/Hardtanh alone, which breaks
//   summation-to-delta.
// - captum backpropagates the baseline half of its doubled batch separately; its multipliers equal the input
//   half's everywhere except where |a - a_ref| < eps, so the maxpool rule here uses one gradient for both.
// - Where |x - x_ref| < eps at a MaxPool, captum takes the first example's gradient (`grad_input[0]`); this
//   uses each example's own ordinary gradient.
// - torchvision's Bottleneck calls one nn.ReLU module three times; captum's module hooks then see only the
//   last call's tensors (captum issues #1082, #1104). Here every Relu node gets the Rescale rule.
import { GraphBuilder } from "../onnx/builder.ts";
import {
  attrFloat,
  attrInt,
  attrInts,
  DataType,
  declaredShape,
  encodeModel,
  floatTensor,
  type Graph,
  int64Tensor,
  type Model,
  type Node,
  runtimeInputs,
} from "../onnx/model.ts";
import {
  ConstantTable,
  inferShapes,
  normalizeAxis,
  product,
  type Shape,
  type WindowGeometry,
  windowGeometry,
} from "./shapes.ts";

export type AttributionMethod = "gradxact" | "deeplift";
export type BackwardOutput = "attribution" | "map" | "mean" | "logits" | "grad";

export interface BackwardOptions {
  method: AttributionMethod;
  /** Graph outputs, in this order; default attribution, map, logits. */
  outputs?: BackwardOutput[];
  /** DeepLift: below this |a - a_ref| the ordinary derivative is used (captum's default). */
  eps?: number;
  /**
   * Input gradient of stride-1 convolutions: "conv" (default) as a Conv with flipped, transposed weights,
   * which runs on ORT's im2col/matmul Conv kernels; "convtranspose" as ConvTranspose like strided convs.
   */
  convInputGradient?: "conv" | "convtranspose";
  /**
   * SmoothGrad: rows of x come in groups of this many noisy copies of one image (image-major); `attribution`
   * and `map` are then per image, from the mean attribution of its copies (ReLU after averaging, as the
   * mean attribution of captum's NoiseTunnel feeds the map). `logits` and `grad` stay per row. Default 1.
   */
  samplesPerImage?: number;
}

/** Names of the generated model's inputs. */
export const BACKWARD_INPUTS = { x: "x", xRef: "x_ref", seed: "seed" } as const;
export const DEFAULT_BACKWARD_OUTPUTS: readonly BackwardOutput[] = ["attribution", "map", "logits"];
export const CAPTUM_DEEPLIFT_EPS = 1e-10;

/** Ops the generator can differentiate (on the path from the tap to the logits). */
export const SUPPORTED_OPS = [
  "Add",
  "AveragePool",
  "BatchNormalization",
  "Clip",
  "Concat",
  "Constant",
  "Conv",
  "Div",
  "Dropout",
  "Flatten",
  "Gemm",
  "GlobalAveragePool",
  "Identity",
  "LeakyRelu",
  "MatMul",
  "MaxPool",
  "Mul",
  "Neg",
  "Relu",
  "Reshape",
  "Sigmoid",
  "Squeeze",
  "Sub",
  "Tanh",
  "Transpose",
  "Unsqueeze",
] as const;

const RESCALED = new Set(["Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "MaxPool"]);
const RESERVED = new Set(["x", "x_ref", "seed", "attribution", "map", "mean", "logits", "grad"]);
const FLOAT_LOWEST = -3.4028234663852886e38;

/**
 * A model with inputs `x` [N,C,H,W] (tap activations), `x_ref` [1,C,H,W] (the baseline's tap activations,
 * DeepLift only, broadcast over N) and `seed` [N,K] (dL/dlogits, e.g. one-hot rows of the target classes),
 * and the requested outputs: `attribution` [N,C,H,W] (gradxact: x * dL/dx; deeplift: (x - x_ref) * multiplier),
 * `map` [N,H,W] (mean over channels of ReLU(attribution)), `mean` [N,H,W] (the same without ReLU),
 * `logits` [N,K] (the head's output for x) and `grad` [N,C,H,W] (dL/dx, or DeepLift's multiplier). With `samplesPerImage` S > 1, `attribution` and `map`
 * have N/S rows (the mean over each image's S copies).
 * `head` is a model whose single runtime input is the tap tensor and whose first output is the logits.
 */
export function buildBackwardGraph(head: Model, opts: BackwardOptions): Model {
  return new BackwardGenerator(head, opts).build();
}

/** One-hot seed rows: row n is 1 at `targets[n]`. */
export function oneHotSeed(targets: ArrayLike<number>, classes: number): Float32Array {
  const seed = new Float32Array(targets.length * classes);
  for (let n = 0; n < targets.length; n++) {
    const t = targets[n];
    if (!Number.isInteger(t) || t < 0 || t >= classes) {
      throw new Error(`oneHotSeed: target ${t} of row ${n} is not a class index in [0, ${classes})`);
    }
    seed[n * classes + t] = 1;
  }
  return seed;
}

export interface BackwardGraph {
  model: Model;
  /** The encoded model, ready for `InferenceSession.create`. */
  bytes: Uint8Array;
}

/** What a cached backward model is built from: the classifier, the tap, and the generator's options. */
export interface BackwardGraphKey extends BackwardOptions {
  /** Identifies the classifier, e.g. its file's SHA-256. */
  model: string;
  /** The tap (layer or tensor name) the head starts at. */
  layer: string;
}

/** Backward models built once per (model, layer, method, outputs, options) and reused. */
export class BackwardGraphCache {
  private readonly entries = new Map<string, BackwardGraph>();

  get(key: BackwardGraphKey, head: Model | (() => Model)): BackwardGraph {
    const { model: modelId, layer, ...opts } = key;
    const id = JSON.stringify([
      modelId,
      layer,
      opts.method,
      opts.outputs ?? DEFAULT_BACKWARD_OUTPUTS,
      opts.eps ?? CAPTUM_DEEPLIFT_EPS,
      opts.convInputGradient ?? "conv",
      opts.samplesPerImage ?? 1,
    ]);
    let entry = this.entries.get(id);
    if (!entry) {
      const model = buildBackwardGraph(typeof head === "function" ? head() : head, opts);
      entry = { model, bytes: encodeModel(model) };
      this.entries.set(id, entry);
    }
    return entry;
  }

  clear(): void {
    this.entries.clear();
  }
}

export const attributionGraphCache = new BackwardGraphCache();

type Rule = (node: Node, g: string) => void;

class BackwardGenerator {
  private readonly graph: Graph;
  private readonly opset: number;
  private readonly b = new GraphBuilder("backward");
  private readonly constants: ConstantTable;
  private readonly shapes: Map<string, Shape>;
  private readonly tap: string;
  private readonly logits: string;
  private readonly nodes: Node[];
  /** Values that depend on the tap. */
  private readonly active = new Set<string>();
  private readonly deeplift: boolean;
  private readonly eps: number;
  private readonly contributions = new Map<string, string[]>();
  private readonly cache = new Map<string, string>();
  private readonly rules: Record<string, Rule>;
  private current = "";

  constructor(private readonly head: Model, private readonly opts: BackwardOptions) {
    if (opts.method !== "gradxact" && opts.method !== "deeplift") {
      throw new Error(`buildBackwardGraph: method '${opts.method}' is not one of gradxact, deeplift`);
    }
    this.graph = head.graph;
    this.deeplift = opts.method === "deeplift";
    this.eps = opts.eps ?? CAPTUM_DEEPLIFT_EPS;
    this.opset = head.opsetImport.find((o) => !o.domain || o.domain === "ai.onnx")?.version ?? 0;
    if (this.opset < 11) {
      throw new Error(
        `buildBackwardGraph: the head uses ONNX opset ${this.opset}; opset 11 or newer is required`,
      );
    }
    const inputs = runtimeInputs(this.graph);
    if (inputs.length !== 1) {
      throw new Error(
        `buildBackwardGraph: the head must have exactly one runtime input (the tap tensor); ` +
          `it has ${inputs.length} (${inputs.map((v) => v.name).join(", ")})`,
      );
    }
    this.tap = inputs[0].name;
    if (!this.graph.output.length) throw new Error("buildBackwardGraph: the head has no outputs");
    this.logits = this.graph.output[0].name;
    const tapShape = declaredShape(this.graph, this.tap);
    if (!tapShape?.length) {
      throw new Error(`buildBackwardGraph: the head input '${this.tap}' has no declared shape [N,C,H,W]`);
    }
    this.constants = new ConstantTable(this.graph);
    this.nodes = topologicalOrder(this.graph);
    this.shapes = inferShapes(
      { ...this.graph, node: this.nodes },
      new Map([[this.tap, [-1, ...tapShape.slice(1)]]]),
      this.constants,
    );
    this.active.add(this.tap);
    for (const n of this.nodes) {
      if (n.input.some((i) => this.active.has(i))) { for (const o of n.output) if (o) this.active.add(o); }
    }
    this.rules = {
      Conv: (n, g) => this.conv(n, g),
      BatchNormalization: (n, g) => this.batchNorm(n, g),
      Relu: (n, g) => this.relu(n, g),
      LeakyRelu: (n, g) => this.leakyRelu(n, g),
      Sigmoid: (n, g) => this.sigmoid(n, g),
      Tanh: (n, g) => this.tanh(n, g),
      Clip: (n, g) => this.clip(n, g),
      Add: (n, g) => this.addSub(n, g, false),
      Sub: (n, g) => this.addSub(n, g, true),
      Mul: (n, g) => this.mul(n, g),
      Div: (n, g) => this.div(n, g),
      Neg: (n, g) => this.grad(n.input[0], this.op("Neg", [g])),
      GlobalAveragePool: (n, g) => this.globalAveragePool(n, g),
      AveragePool: (n, g) => this.averagePool(n, g),
      MaxPool: (n, g) => this.maxPool(n, g),
      Flatten: (n, g) => this.reshapeLike(n, g),
      Reshape: (n, g) => this.reshapeLike(n, g),
      Squeeze: (n, g) => this.reshapeLike(n, g),
      Unsqueeze: (n, g) => this.reshapeLike(n, g),
      Identity: (n, g) => this.grad(n.input[0], g),
      Dropout: (n, g) => this.grad(n.input[0], g),
      Transpose: (n, g) => this.transpose(n, g),
      Gemm: (n, g) => this.gemm(n, g),
      MatMul: (n, g) => this.matMul(n, g),
      Concat: (n, g) => this.concat(n, g),
    };
  }

  build(): Model {
    const outputs = this.opts.outputs ?? DEFAULT_BACKWARD_OUTPUTS;
    for (const o of outputs) {
      if (!DEFAULT_BACKWARD_OUTPUTS.includes(o) && o !== "grad" && o !== "mean") {
        throw new Error(
          `buildBackwardGraph: unknown output '${o}'; expected attribution, map, mean, logits or grad`,
        );
      }
    }
    const tapShape = this.shape(this.tap);
    const batchDims: (number | string)[] = [
      "N",
      ...tapShape.slice(1).map((d, i) => (d < 0 ? `d${i + 1}` : d)),
    ];
    const logitsShape = this.shapes.get(this.logits) ?? declaredShape(this.graph, this.logits);
    const seedDims: (number | string)[] = logitsShape
      ? ["N", ...logitsShape.slice(1).map((d, i) => (d < 0 ? `k${i + 1}` : d))]
      : ["N", "K"];

    this.b.input(BACKWARD_INPUTS.x, batchDims);
    if (this.deeplift) this.b.input(BACKWARD_INPUTS.xRef, [1, ...batchDims.slice(1)]);
    this.b.input(BACKWARD_INPUTS.seed, seedDims);
    for (const t of this.graph.initializer) {
      this.b.initializers.push(this.fw(t.name) === t.name ? t : { ...t, name: this.fw(t.name) });
    }
    for (const n of this.nodes) this.b.nodes.push(this.renamed(n, (v) => this.fw(v), ""));
    const differentiated = this.differentiatedNodes();
    if (this.deeplift) this.emitReferenceForward(differentiated);

    for (const n of differentiated) {
      if (!this.rules[n.opType] || (n.domain && n.domain !== "ai.onnx")) {
        throw new Error(
          `buildBackwardGraph: no gradient rule for op '${n.domain ? `${n.domain}.` : ""}${n.opType}' ` +
            `(node '${n.name}') between the tap '${this.tap}' and the logits; supported ops: ${
              SUPPORTED_OPS.join(", ")
            }`,
        );
      }
    }
    this.grad(this.logits, BACKWARD_INPUTS.seed);
    for (const n of [...differentiated].reverse()) {
      const g = this.gradOf(n.output[0]);
      if (!g) continue;
      this.current = n.name || n.opType;
      this.rules[n.opType](n, g);
    }
    this.current = "out";
    const gx = this.gradOf(this.tap);
    if (!gx) {
      throw new Error(
        `buildBackwardGraph: the logits '${this.logits}' do not depend on the tap '${this.tap}'`,
      );
    }

    const x = BACKWARD_INPUTS.x;
    const delta = this.deeplift ? this.op("Sub", [x, BACKWARD_INPUTS.xRef]) : x;
    const wantAttribution = outputs.some((o) => o === "attribution" || o === "map" || o === "mean");
    const samples = this.opts.samplesPerImage ?? 1;
    if (!Number.isInteger(samples) || samples < 1) {
      throw new Error(`buildBackwardGraph: samplesPerImage must be a positive integer, got ${samples}`);
    }
    let attribution = "";
    if (wantAttribution) {
      attribution = this.op("Mul", [delta, gx], {}, samples === 1 ? "attribution" : undefined);
      if (samples > 1) {
        // SmoothGrad (captum's NoiseTunnel, "smoothgrad"): the mean of each image's noisy copies.
        const grouped = this.op("Reshape", [
          attribution,
          this.ints([-1, samples, ...this.staticShape(this.tap).slice(1)]),
        ]);
        attribution = this.reduceMean(grouped, [1], false, "attribution");
      }
    }
    const imageDims = samples === 1 ? batchDims : ["B", ...batchDims.slice(1)];
    for (const o of outputs) {
      if (o === "attribution") this.b.output("attribution", imageDims);
      if (o === "map") {
        const positive = this.op("Relu", [attribution]);
        this.reduceMean(positive, [1], false, "map");
        this.b.output("map", [imageDims[0], ...imageDims.slice(2)]);
      }
      // The channel mean without ReLU: the contrast vectors' mask, as the reference computes it.
      if (o === "mean") {
        this.reduceMean(attribution, [1], false, "mean");
        this.b.output("mean", [imageDims[0], ...imageDims.slice(2)]);
      }
      if (o === "logits") {
        this.op("Identity", [this.fw(this.logits)], {}, "logits");
        this.b.output("logits", seedDims);
      }
      if (o === "grad") {
        this.op("Identity", [gx], {}, "grad");
        this.b.output("grad", batchDims);
      }
    }
    const model = this.b.model(this.opset, "protoscope-backward");
    // Keep the head's opset imports (other domains included) so its forward nodes mean what they meant.
    model.opsetImport = this.head.opsetImport.map((o) => ({ ...o }));
    model.irVersion = Math.max(Number(this.head.irVersion) || 8, 8);
    return model;
  }

  // ---- graph bookkeeping ----

  /** The name a head value has in the generated graph's forward pass for x. */
  private fw(v: string): string {
    if (!v) return v;
    if (v === this.tap) return BACKWARD_INPUTS.x;
    return RESERVED.has(v) ? `${v}__fw` : v;
  }

  /** The name of a head value in the baseline's forward pass (constants are shared). */
  private ref(v: string): string {
    if (!v) return v;
    if (v === this.tap) return BACKWARD_INPUTS.xRef;
    return this.active.has(v) ? `${v}__ref` : this.fw(v);
  }

  private renamed(n: Node, rename: (v: string) => string, suffix: string): Node {
    return {
      ...n,
      name: n.name ? `${n.name}${suffix}` : n.name,
      input: n.input.map(rename),
      output: n.output.map(rename),
    };
  }

  /**
   * Nodes that carry gradient: the logits depend on their output, and a differentiable input depends on the
   * tap. Shape arithmetic on the tap (Shape -> Gather -> Concat -> Reshape's shape) carries none.
   */
  private differentiatedNodes(): Node[] {
    const producer = new Map<string, Node>();
    for (const n of this.nodes) for (const o of n.output) producer.set(o, n);
    const reach = new Set<string>();
    const stack = [this.logits];
    while (stack.length) {
      const v = stack.pop()!;
      if (reach.has(v)) continue;
      reach.add(v);
      const n = producer.get(v);
      if (n) { for (const i of differentiableInputs(n)) if (this.active.has(i)) stack.push(i); }
    }
    return this.nodes.filter((n) =>
      n.output.some((o) => reach.has(o)) && differentiableInputs(n).some((i) => this.active.has(i))
    );
  }

  /** The baseline's forward pass, limited to what the DeepLift rules read. */
  private emitReferenceForward(differentiated: Node[]): void {
    const producer = new Map<string, Node>();
    for (const n of this.nodes) for (const o of n.output) producer.set(o, n);
    const wanted = new Set<Node>();
    const stack: string[] = [];
    for (const n of differentiated) if (RESCALED.has(n.opType)) stack.push(n.input[0], n.output[0]);
    while (stack.length) {
      const v = stack.pop()!;
      const n = producer.get(v);
      if (!n || !this.active.has(v) || wanted.has(n)) continue;
      wanted.add(n);
      for (const i of n.input) if (i) stack.push(i);
    }
    for (const n of this.nodes) {
      if (wanted.has(n)) this.b.nodes.push(this.renamed(n, (v) => this.ref(v), "__ref"));
    }
  }

  private shape(v: string): Shape {
    const s = this.shapes.get(v);
    if (!s) {
      throw new Error(
        `buildBackwardGraph: the shape of '${v}' (at node '${this.current}') could not be inferred from the tap ` +
          "shape; the gradient rule needs it",
      );
    }
    return s;
  }

  private staticShape(v: string, from = 1): Shape {
    const s = this.shape(v);
    if (s.slice(from).some((d) => d < 0)) {
      throw new Error(
        `buildBackwardGraph: '${v}' (at node '${this.current}') has shape [${s}]; the gradient rule needs ` +
          "every dimension but the batch to be static",
      );
    }
    return s;
  }

  /** Adds a gradient contribution to a head value (ignored for values that do not depend on the tap). */
  private grad(v: string, g: string): void {
    if (!v || !this.active.has(v)) return;
    const list = this.contributions.get(v);
    if (list) list.push(g);
    else this.contributions.set(v, [g]);
  }

  /** The total gradient of a head value: the sum of its contributions. */
  private gradOf(v: string): string | undefined {
    const list = this.contributions.get(v);
    if (!list?.length) return undefined;
    let sum = list[0];
    for (let i = 1; i < list.length; i++) sum = this.op("Add", [sum, list[i]]);
    this.contributions.set(v, [sum]);
    return sum;
  }

  private op(
    type: string,
    inputs: string[],
    attrs: Parameters<GraphBuilder["node"]>[2] = {},
    output?: string,
  ): string {
    const name = this.b.fresh(`bw/${this.current.replace(/^\//, "")}/${type}`);
    return this.b.node(type, inputs, attrs, { name, outputs: [output ?? `${name}_out`] });
  }

  private scalar(value: number): string {
    const key = `f:${value}`;
    let name = this.cache.get(key);
    if (!name) {
      name = this.b.fresh("bw_const");
      this.b.initializers.push(floatTensor(name, [], [value]));
      this.cache.set(key, name);
    }
    return name;
  }

  private ints(values: number[]): string {
    const key = `i:${values.join(",")}`;
    let name = this.cache.get(key);
    if (!name) {
      name = this.b.fresh("bw_ints");
      this.b.initializers.push(int64Tensor(name, [values.length], values));
      this.cache.set(key, name);
    }
    return name;
  }

  private weight(dims: number[], values: Float32Array): string {
    const name = this.b.fresh("bw_weight");
    this.b.initializers.push(floatTensor(name, dims, values));
    return name;
  }

  private reduceSum(x: string, axes: number[], keepdims: boolean): string {
    if (this.opset >= 13) return this.op("ReduceSum", [x, this.ints(axes)], { keepdims: keepdims ? 1 : 0 });
    return this.op("ReduceSum", [x], { axes, keepdims: keepdims ? 1 : 0 });
  }

  private reduceMean(x: string, axes: number[], keepdims: boolean, output?: string): string {
    if (this.opset >= 18) {
      return this.op("ReduceMean", [x, this.ints(axes)], { keepdims: keepdims ? 1 : 0 }, output);
    }
    return this.op("ReduceMean", [x], { axes, keepdims: keepdims ? 1 : 0 }, output);
  }

  private toFloat(bool: string): string {
    return this.op("Cast", [bool], { to: DataType.FLOAT });
  }

  /**
   * Sums a gradient of broadcast shape `gShape` down to the shape of `input` (numpy broadcasting: missing
   * leading axes and size-1 axes were repeated in the forward pass).
   */
  private reduceTo(g: string, gShape: Shape, input: string): string {
    const inShape = this.shape(input);
    const lead = gShape.length - inShape.length;
    const axes: number[] = [];
    for (let i = 0; i < gShape.length; i++) {
      if (i < lead || (inShape[i - lead] === 1 && gShape[i] !== 1)) axes.push(i);
    }
    if (!axes.length) return g;
    const summed = this.reduceSum(g, axes, true);
    if (!lead) return summed;
    return this.op("Reshape", [summed, this.shapeOf(input)]);
  }

  /**
   * A Reshape target for a head value's shape: a constant when at most the batch is unknown (Reshape infers
   * one -1), else the Shape of its forward value (shape ops then run on the CPU inside ORT).
   */
  private shapeOf(v: string): string {
    const s = this.shapes.get(v);
    if (s && s.filter((d) => d < 0).length <= 1) return this.ints(s);
    return this.op("Shape", [this.fw(v)]);
  }

  // ---- rules ----

  /** ConvTranspose that maps a gradient of the windowed op's output back onto its input's size. */
  private windowTranspose(
    g: string,
    weight: string,
    group: number,
    geom: WindowGeometry,
    inSpatial: number[],
    outSpatial: number[],
  ): string {
    const padsEnd: number[] = [];
    const outputPadding: number[] = [];
    for (let i = 0; i < inSpatial.length; i++) {
      const span = (outSpatial[i] - 1) * geom.strides[i] + (geom.kernel[i] - 1) * geom.dilations[i] + 1;
      const excess = span - geom.padsBegin[i] - inSpatial[i];
      padsEnd.push(Math.max(0, excess));
      outputPadding.push(Math.max(0, -excess));
    }
    const attrs: Parameters<GraphBuilder["node"]>[2] = {
      group,
      strides: geom.strides,
      dilations: geom.dilations,
      kernel_shape: geom.kernel,
      pads: [...geom.padsBegin, ...padsEnd],
    };
    if (outputPadding.some((p) => p > 0)) attrs.output_padding = outputPadding;
    return this.op("ConvTranspose", [g, weight], attrs);
  }

  private conv(n: Node, g: string): void {
    const [x, w] = n.input;
    if (this.active.has(w) || (n.input[2] && this.active.has(n.input[2]))) {
      throw new Error(
        `buildBackwardGraph: Conv '${n.name}' has weights that depend on the tap; not supported`,
      );
    }
    if (!this.active.has(x)) return;
    const xs = this.staticShape(x);
    const ys = this.staticShape(n.output[0]);
    const ws = this.shape(w);
    const kernel = attrInts(n, "kernel_shape", ws.slice(2));
    const geom = windowGeometry(n, xs.slice(2), kernel);
    const group = attrInt(n, "group", 1);
    // Stride 1: dL/dx is a correlation of g with the flipped kernel, pads (k-1)d - p.
    const padsBegin = geom.padsBegin.map((p, i) => (kernel[i] - 1) * geom.dilations[i] - p);
    const padsEnd = geom.padsEnd.map((p, i) => (kernel[i] - 1) * geom.dilations[i] - p);
    const asConv = (this.opts.convInputGradient ?? "conv") === "conv" &&
      geom.strides.every((st) => st === 1) &&
      [...padsBegin, ...padsEnd].every((p) => p >= 0);
    if (asConv) {
      const weight = this.flippedTransposedWeight(this.fw(w), ws, group, kernel);
      this.grad(
        x,
        this.op("Conv", [g, weight], {
          group,
          dilations: geom.dilations,
          kernel_shape: kernel,
          pads: [...padsBegin, ...padsEnd],
        }),
      );
      return;
    }
    // A Conv weight [M, C/group, k...] is already the ConvTranspose weight [in=M, out/group=C/group, k...].
    this.grad(x, this.windowTranspose(g, this.fw(w), group, geom, xs.slice(2), ys.slice(2)));
  }

  /**
   * The Conv weight [M, C/g, k...] as the weight of its input gradient [C, M/g, k...], kernel flipped. Built
   * from the forward weight with Reshape/Transpose/Slice, which ORT folds into a constant at session creation.
   */
  private flippedTransposedWeight(w: string, ws: Shape, group: number, kernel: number[]): string {
    const [m, cg] = ws;
    const spatial = kernel.map((_, i) => i);
    let t: string;
    if (group === 1) {
      t = this.op("Transpose", [w], { perm: [1, 0, ...spatial.map((i) => i + 2)] });
    } else {
      const grouped = this.op("Reshape", [w, this.ints([group, m / group, cg, ...kernel])]);
      const swapped = this.op("Transpose", [grouped], { perm: [0, 2, 1, ...spatial.map((i) => i + 3)] });
      t = this.op("Reshape", [swapped, this.ints([group * cg, m / group, ...kernel])]);
    }
    const flipAxes = spatial.filter((i) => kernel[i] > 1);
    if (!flipAxes.length) return t;
    return this.op("Slice", [
      t,
      this.ints(flipAxes.map(() => -1)),
      this.ints(flipAxes.map((i) => -(kernel[i] + 1))),
      this.ints(flipAxes.map((i) => i + 2)),
      this.ints(flipAxes.map(() => -1)),
    ]);
  }

  private batchNorm(n: Node, g: string): void {
    const [x, scale, , , variance] = n.input;
    if (attrInt(n, "training_mode", 0) === 1) {
      throw new Error(
        `buildBackwardGraph: BatchNormalization '${n.name}' is in training mode; export in eval()`,
      );
    }
    if (n.input.slice(1).some((i) => this.active.has(i))) {
      throw new Error(`buildBackwardGraph: BatchNormalization '${n.name}' has tap-dependent parameters`);
    }
    const rank = this.shape(x).length;
    const eps = attrFloat(n, "epsilon", 1e-5);
    const std = this.op("Sqrt", [this.op("Add", [this.fw(variance), this.scalar(eps)])]);
    const perChannel = this.op("Reshape", [
      this.op("Div", [this.fw(scale), std]),
      this.ints([-1, ...new Array(rank - 2).fill(1)]),
    ]);
    this.grad(x, this.op("Mul", [g, perChannel]));
  }

  /**
   * g * local derivative, where `ordinary` is the ordinary local derivative; DeepLift replaces it by the
   * secant (f(a) - f(a_ref)) / (a - a_ref) where |a - a_ref| >= eps.
   */
  private elementwise(n: Node, g: string, ordinary: () => string): void {
    const [x] = n.input;
    const y = n.output[0];
    if (!this.deeplift) {
      this.grad(x, this.op("Mul", [g, ordinary()]));
      return;
    }
    const dIn = this.op("Sub", [this.fw(x), this.ref(x)]);
    const dOut = this.op("Sub", [this.fw(y), this.ref(y)]);
    const small = this.op("Less", [this.op("Abs", [dIn]), this.scalar(this.eps)]);
    const safe = this.op("Where", [small, this.scalar(1), dIn]);
    const local = this.op("Where", [small, ordinary(), this.op("Div", [dOut, safe])]);
    this.grad(x, this.op("Mul", [g, local]));
  }

  private relu(n: Node, g: string): void {
    const positive = () => this.op("Greater", [this.fw(n.input[0]), this.scalar(0)]);
    if (!this.deeplift) {
      this.grad(n.input[0], this.op("Where", [positive(), g, this.scalar(0)]));
      return;
    }
    this.elementwise(n, g, () => this.toFloat(positive()));
  }

  private leakyRelu(n: Node, g: string): void {
    const alpha = attrFloat(n, "alpha", 0.01);
    this.elementwise(n, g, () => {
      const positive = this.op("Greater", [this.fw(n.input[0]), this.scalar(0)]);
      return this.op("Where", [positive, this.scalar(1), this.scalar(alpha)]);
    });
  }

  private sigmoid(n: Node, g: string): void {
    this.elementwise(n, g, () => {
      const y = this.fw(n.output[0]);
      return this.op("Mul", [y, this.op("Sub", [this.scalar(1), y])]);
    });
  }

  private tanh(n: Node, g: string): void {
    this.elementwise(n, g, () => {
      const y = this.fw(n.output[0]);
      return this.op("Sub", [this.scalar(1), this.op("Mul", [y, y])]);
    });
  }

  private clip(n: Node, g: string): void {
    const [x, lo, hi] = n.input;
    if ((lo && this.active.has(lo)) || (hi && this.active.has(hi))) {
      throw new Error(`buildBackwardGraph: Clip '${n.name}' has tap-dependent bounds; not supported`);
    }
    // Like torch's hardtanh: the derivative is 1 strictly inside (min, max).
    this.elementwise(n, g, () => {
      let inside = "";
      if (lo) inside = this.toFloat(this.op("Greater", [this.fw(x), this.fw(lo)]));
      if (hi) {
        const below = this.toFloat(this.op("Less", [this.fw(x), this.fw(hi)]));
        inside = inside ? this.op("Mul", [inside, below]) : below;
      }
      return inside || this.scalar(1);
    });
  }

  private addSub(n: Node, g: string, subtract: boolean): void {
    const [a, b] = n.input;
    const ys = this.shape(n.output[0]);
    if (this.active.has(a)) this.grad(a, this.reduceTo(g, ys, a));
    if (this.active.has(b)) {
      const gb = this.reduceTo(g, ys, b);
      this.grad(b, subtract ? this.op("Neg", [gb]) : gb);
    }
  }

  private mul(n: Node, g: string): void {
    const [a, b] = n.input;
    const ys = this.shape(n.output[0]);
    if (this.active.has(a)) this.grad(a, this.reduceTo(this.op("Mul", [g, this.fw(b)]), ys, a));
    if (this.active.has(b)) this.grad(b, this.reduceTo(this.op("Mul", [g, this.fw(a)]), ys, b));
  }

  private div(n: Node, g: string): void {
    const [a, b] = n.input;
    const ys = this.shape(n.output[0]);
    const ga = this.op("Div", [g, this.fw(b)]);
    if (this.active.has(a)) this.grad(a, this.reduceTo(ga, ys, a));
    // d(a/b)/db = -(a/b)/b
    if (this.active.has(b)) {
      const gb = this.op("Neg", [this.op("Mul", [ga, this.fw(n.output[0])])]);
      this.grad(b, this.reduceTo(gb, ys, b));
    }
  }

  private globalAveragePool(n: Node, g: string): void {
    const x = n.input[0];
    const area = product(this.staticShape(x, 2).slice(2));
    const spatial = this.shape(x).slice(2);
    const scaled = this.op("Mul", [g, this.scalar(1 / area)]);
    // Expand broadcasts [N,C,1,1] against [1,1,H,W]: no Shape op, so nothing leaves the GPU.
    this.grad(x, this.op("Expand", [scaled, this.ints([1, 1, ...spatial])]));
  }

  private poolGeometry(
    n: Node,
  ): { geom: WindowGeometry; inSpatial: number[]; outSpatial: number[]; channels: number } {
    if (attrInt(n, "ceil_mode", 0) === 1) {
      throw new Error(`buildBackwardGraph: ${n.opType} '${n.name}' uses ceil_mode=1; not supported`);
    }
    const xs = this.staticShape(n.input[0]);
    const kernel = attrInts(n, "kernel_shape", []);
    return {
      geom: windowGeometry(n, xs.slice(2), kernel),
      inSpatial: xs.slice(2),
      outSpatial: this.staticShape(n.output[0]).slice(2),
      channels: xs[1],
    };
  }

  private averagePool(n: Node, g: string): void {
    const x = n.input[0];
    const { geom, inSpatial, outSpatial, channels } = this.poolGeometry(n);
    const includePad = attrInt(n, "count_include_pad", 0) === 1;
    // The divisor of each output position: the window's elements inside the input (or inside the padded
    // input with count_include_pad), a product over the spatial axes.
    const perAxis = outSpatial.map((out, i) =>
      Array.from({ length: out }, (_, o) => {
        let count = 0;
        for (let j = 0; j < geom.kernel[i]; j++) {
          const p = o * geom.strides[i] - geom.padsBegin[i] + j * geom.dilations[i];
          const lo = includePad ? -geom.padsBegin[i] : 0;
          const hi = includePad ? inSpatial[i] + geom.padsEnd[i] : inSpatial[i];
          if (p >= lo && p < hi) count++;
        }
        return count;
      })
    );
    const divisors = new Float32Array(product(outSpatial));
    for (let idx = 0; idx < divisors.length; idx++) {
      let rest = idx;
      let d = 1;
      for (let i = outSpatial.length - 1; i >= 0; i--) {
        d *= perAxis[i][rest % outSpatial[i]];
        rest = Math.floor(rest / outSpatial[i]);
      }
      divisors[idx] = 1 / d;
    }
    const uniform = divisors.every((v) => v === divisors[0]);
    const inverse = uniform ? this.scalar(divisors[0]) : this.weight([1, 1, ...outSpatial], divisors);
    const ones = new Float32Array(channels * product(geom.kernel)).fill(1);
    const weight = this.weight([channels, 1, ...geom.kernel], ones);
    const scaled = this.op("Mul", [g, inverse]);
    this.grad(x, this.windowTranspose(scaled, weight, channels, geom, inSpatial, outSpatial));
  }

  private maxPool(n: Node, g: string): void {
    const x = n.input[0];
    const { geom, inSpatial, outSpatial, channels } = this.poolGeometry(n);
    const offsets = kernelOffsets(geom.kernel);
    const kk = offsets.length;
    const spatialAxes = inSpatial.map((_, i) => i + 2);
    const pads = [0, 0, ...geom.padsBegin, 0, 0, ...geom.padsEnd];
    const padded = (v: string) =>
      pads.some((p) => p > 0) ? this.op("Pad", [v, this.ints(pads), this.scalar(FLOAT_LOWEST)]) : v;

    // Per kernel offset, 1 where that window element is the first maximum in scan order (torch's argmax).
    const argmaxMasks = (input: string, output: string): string[] => {
      const xp = padded(input);
      let taken = "";
      return offsets.map((off) => {
        const starts = off.map((o, i) => o * geom.dilations[i]);
        const ends = starts.map((s, i) => s + (outSpatial[i] - 1) * geom.strides[i] + 1);
        const window = this.op("Slice", [
          xp,
          this.ints(starts),
          this.ints(ends),
          this.ints(spatialAxes),
          this.ints(geom.strides),
        ]);
        let mask = this.toFloat(this.op("Equal", [window, output]));
        if (taken) mask = this.op("Mul", [mask, this.op("Sub", [this.scalar(1), taken])]);
        taken = taken ? this.op("Add", [taken, mask]) : mask;
        return mask;
      });
    };

    // Routes per-offset gradients [N,C,out...] to the input: stacked as channels c*kk + offset, a grouped
    // ConvTranspose with one-hot kernels adds each to its window element.
    const oneHot = new Float32Array(channels * kk * kk);
    for (let c = 0; c < channels; c++) for (let k = 0; k < kk; k++) oneHot[(c * kk + k) * kk + k] = 1;
    const routingWeight = this.weight([channels * kk, 1, ...geom.kernel], oneHot);
    const route = (parts: string[]): string => {
      const expanded = this.ints([0, channels, 1, ...outSpatial]);
      const stacked = this.op("Concat", parts.map((p) => this.op("Reshape", [p, expanded])), { axis: 2 });
      const flat = this.op("Reshape", [stacked, this.ints([0, channels * kk, ...outSpatial])]);
      return this.windowTranspose(flat, routingWeight, channels, geom, inSpatial, outSpatial);
    };

    const masks = argmaxMasks(this.fw(x), this.fw(n.output[0]));
    const ordinary = () => route(masks.map((m) => this.op("Mul", [g, m])));
    if (!this.deeplift) {
      this.grad(x, ordinary());
      return;
    }
    // captum's maxpool rule: route g*(max(y, y_ref) - y_ref) by x's argmax and g*(y - max(y, y_ref)) by
    // x_ref's argmax, then divide by x - x_ref.
    const y = this.fw(n.output[0]);
    const yRef = this.ref(n.output[0]);
    const yMax = this.op("Where", [this.op("Greater", [y, yRef]), y, yRef]);
    const fromInput = this.op("Mul", [g, this.op("Sub", [yMax, yRef])]);
    const fromRef = this.op("Mul", [g, this.op("Sub", [y, yMax])]);
    const refMasks = argmaxMasks(this.ref(x), yRef);
    const parts = masks.map((m, i) =>
      this.op("Add", [this.op("Mul", [fromInput, m]), this.op("Mul", [fromRef, refMasks[i]])])
    );
    const routed = route(parts);
    const dIn = this.op("Sub", [this.fw(x), this.ref(x)]);
    const small = this.op("Less", [this.op("Abs", [dIn]), this.scalar(this.eps)]);
    const safe = this.op("Where", [small, this.scalar(1), dIn]);
    this.grad(x, this.op("Where", [small, ordinary(), this.op("Div", [routed, safe])]));
  }

  private reshapeLike(n: Node, g: string): void {
    // The shape/axes input is integer: it carries no gradient even when computed from the tap's shape.
    this.grad(n.input[0], this.op("Reshape", [g, this.shapeOf(n.input[0])]));
  }

  private transpose(n: Node, g: string): void {
    const rank = this.shape(n.input[0]).length;
    const perm = attrInts(n, "perm", Array.from({ length: rank }, (_, i) => rank - 1 - i));
    const inverse = new Array<number>(rank);
    perm.forEach((p, i) => (inverse[p] = i));
    this.grad(n.input[0], this.op("Transpose", [g], { perm: inverse }));
  }

  private gemm(n: Node, g: string): void {
    const [a, b, c] = n.input;
    const alpha = { f: attrFloat(n, "alpha", 1) };
    const beta = attrFloat(n, "beta", 1);
    const transA = attrInt(n, "transA", 0);
    const transB = attrInt(n, "transB", 0);
    // Y = alpha * A' B' + beta * C with A' = transA ? A^T : A, B' likewise.
    if (this.active.has(a)) {
      this.grad(
        a,
        transA
          ? this.op("Gemm", [this.fw(b), g], { alpha, transA: transB, transB: 1 })
          : this.op("Gemm", [g, this.fw(b)], { alpha, transA: 0, transB: transB ? 0 : 1 }),
      );
    }
    if (this.active.has(b)) {
      this.grad(
        b,
        transB
          ? this.op("Gemm", [g, this.fw(a)], { alpha, transA: 1, transB: transA })
          : this.op("Gemm", [this.fw(a), g], { alpha, transA: transA ? 0 : 1, transB: 0 }),
      );
    }
    if (c && this.active.has(c)) {
      const scaled = beta === 1 ? g : this.op("Mul", [g, this.scalar(beta)]);
      this.grad(c, this.reduceTo(scaled, this.shape(n.output[0]), c));
    }
  }

  private matMul(n: Node, g: string): void {
    const [a, b] = n.input;
    const as = this.shape(a);
    const bs = this.shape(b);
    const ys = this.shape(n.output[0]);
    if (as.length < 2 || bs.length < 2) {
      throw new Error(`buildBackwardGraph: MatMul '${n.name}' with a 1-D operand is not supported`);
    }
    const swapLast = (v: string, rank: number) =>
      this.op("Transpose", [v], {
        perm: [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2],
      });
    const batch = ys.slice(0, -2);
    if (this.active.has(a)) {
      const ga = this.op("MatMul", [g, swapLast(this.fw(b), bs.length)]);
      this.grad(a, this.reduceTo(ga, [...batch, as[as.length - 2], as[as.length - 1]], a));
    }
    if (this.active.has(b)) {
      const gb = this.op("MatMul", [swapLast(this.fw(a), as.length), g]);
      this.grad(b, this.reduceTo(gb, [...batch, bs[bs.length - 2], bs[bs.length - 1]], b));
    }
  }

  private concat(n: Node, g: string): void {
    const rank = this.shape(n.output[0]).length;
    const axis = normalizeAxis(attrInt(n, "axis", 0), rank);
    let offset = 0;
    for (const input of n.input) {
      const size = this.shape(input)[axis];
      if (size < 0) {
        throw new Error(
          `buildBackwardGraph: Concat '${n.name}' along a batch-dependent axis is not supported`,
        );
      }
      if (this.active.has(input)) {
        this.grad(
          input,
          this.op("Slice", [g, this.ints([offset]), this.ints([offset + size]), this.ints([axis])]),
        );
      }
      offset += size;
    }
  }
}

/**
 * Inputs through which gradient can flow: integer shapes, axes, indices and shape queries carry none. Weights
 * and bounds count (their rules fail when they depend on the tap, rather than dropping their gradient).
 */
function differentiableInputs(n: Node): string[] {
  switch (n.opType) {
    case "Shape":
    case "Size":
    case "ConstantOfShape":
      return [];
    case "Reshape":
    case "Squeeze":
    case "Unsqueeze":
    case "Expand":
    case "Tile":
    case "Slice":
    case "Pad":
    case "Gather":
    case "Resize":
    case "Dropout":
      return n.input.slice(0, 1);
    default:
      return n.input.filter((i) => i);
  }
}

/** Every offset of a kernel window, row-major (the scan order of torch's max pooling). */
function kernelOffsets(kernel: number[]): number[][] {
  let out: number[][] = [[]];
  for (const k of kernel) out = out.flatMap((prefix) => Array.from({ length: k }, (_, j) => [...prefix, j]));
  return out;
}

/** The graph's nodes in an order where every value is produced before it is read. */
function topologicalOrder(graph: Graph): Node[] {
  const known = new Set<string>([
    ...graph.input.map((v) => v.name),
    ...graph.initializer.map((t) => t.name),
    "",
  ]);
  const pending = [...graph.node];
  const order: Node[] = [];
  while (pending.length) {
    const before = pending.length;
    for (let i = 0; i < pending.length;) {
      const n = pending[i];
      if (n.input.every((v) => known.has(v))) {
        order.push(n);
        for (const o of n.output) known.add(o);
        pending.splice(i, 1);
      } else i++;
    }
    if (pending.length === before) {
      const n = pending[0];
      const missing = n.input.filter((v) => !known.has(v));
      throw new Error(
        `buildBackwardGraph: node '${n.name}' (${n.opType}) reads undefined values: ${missing.join(", ")}`,
      );
    }
  }
  return order;
}
