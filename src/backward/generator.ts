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
//
// The generator here walks the head and accumulates gradients; the per-op rules live in rules/ (one file per
// op family, registry.ts maps op type to rule), DeepLift's Rescale rules in one table (rules/deeplift.ts), and
// what every rule needs (names, shapes, emitting nodes, the gradient ledger) in context.ts.
import { declaredShape, type Graph, type Model, type Node, runtimeInputs } from "../onnx/model.ts";
import { BackwardContext } from "./context.ts";
import {
  BACKWARD_INPUTS,
  type BackwardOptions,
  CAPTUM_DEEPLIFT_EPS,
  DEFAULT_BACKWARD_OUTPUTS,
} from "./options.ts";
import { gradientRule, readsBaseline, SUPPORTED_OPS } from "./rules/registry.ts";
import { ConstantTable, inferShapes } from "./shapes.ts";

/**
 * A model with inputs `x` [N,C,H,W] (tap activations), `x_ref` [1,C,H,W] (the baseline's tap activations,
 * DeepLift only, broadcast over N) and `seed` [N,K] (dL/dlogits, e.g. one-hot rows of the target classes),
 * and the requested outputs: `attribution` [N,C,H,W] (gradxact: x * dL/dx; deeplift: (x - x_ref) * multiplier),
 * `map` [N,H,W] (mean over channels of ReLU(attribution)), `mean` [N,H,W] (the same without ReLU),
 * `logits` [N,K] (the head's output for x) and `grad` [N,C,H,W] (dL/dx, or DeepLift's multiplier). With
 * `samplesPerImage` S > 1, `attribution`, `map` and `mean` have N/S rows (the mean over each image's S copies).
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

class BackwardGenerator {
  private readonly graph: Graph;
  private readonly opset: number;
  private readonly tap: string;
  private readonly logits: string;
  private readonly nodes: Node[];
  /** Values that depend on the tap. */
  private readonly active = new Set<string>();
  private readonly deeplift: boolean;
  private readonly ctx: BackwardContext;

  constructor(private readonly head: Model, private readonly opts: BackwardOptions) {
    if (opts.method !== "gradxact" && opts.method !== "deeplift") {
      throw new Error(`buildBackwardGraph: method '${opts.method}' is not one of gradxact, deeplift`);
    }
    this.graph = head.graph;
    this.deeplift = opts.method === "deeplift";
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
    const constants = new ConstantTable(this.graph);
    this.nodes = topologicalOrder(this.graph);
    const shapes = inferShapes(
      { ...this.graph, node: this.nodes },
      new Map([[this.tap, [-1, ...tapShape.slice(1)]]]),
      constants,
    );
    this.active.add(this.tap);
    for (const n of this.nodes) {
      if (n.input.some((i) => this.active.has(i))) { for (const o of n.output) if (o) this.active.add(o); }
    }
    this.ctx = new BackwardContext({
      tap: this.tap,
      opset: this.opset,
      shapes,
      active: this.active,
      eps: opts.eps ?? CAPTUM_DEEPLIFT_EPS,
      convInputGradient: opts.convInputGradient ?? "conv",
      constants,
    });
  }

  build(): Model {
    const ctx = this.ctx;
    const b = ctx.builder;
    const outputs = this.opts.outputs ?? DEFAULT_BACKWARD_OUTPUTS;
    for (const o of outputs) {
      if (!DEFAULT_BACKWARD_OUTPUTS.includes(o) && o !== "grad" && o !== "mean") {
        throw new Error(
          `buildBackwardGraph: unknown output '${o}'; expected attribution, map, mean, logits or grad`,
        );
      }
    }
    const tapShape = ctx.shape(this.tap);
    const batchDims: (number | string)[] = [
      "N",
      ...tapShape.slice(1).map((d, i) => (d < 0 ? `d${i + 1}` : d)),
    ];
    const logitsShape = ctx.shapeIfKnown(this.logits) ?? declaredShape(this.graph, this.logits);
    const seedDims: (number | string)[] = logitsShape
      ? ["N", ...logitsShape.slice(1).map((d, i) => (d < 0 ? `k${i + 1}` : d))]
      : ["N", "K"];

    b.input(BACKWARD_INPUTS.x, batchDims);
    if (this.deeplift) b.input(BACKWARD_INPUTS.xRef, [1, ...batchDims.slice(1)]);
    b.input(BACKWARD_INPUTS.seed, seedDims);
    for (const t of this.graph.initializer) {
      b.initializers.push(ctx.fw(t.name) === t.name ? t : { ...t, name: ctx.fw(t.name) });
    }
    for (const n of this.nodes) b.nodes.push(this.renamed(n, (v) => ctx.fw(v), ""));
    const differentiated = this.differentiatedNodes();
    if (this.deeplift) this.emitReferenceForward(differentiated);

    const rules = differentiated.map((n) => {
      const rule = gradientRule(n.opType, this.opts.method);
      if (!rule || (n.domain && n.domain !== "ai.onnx")) {
        throw new Error(
          `buildBackwardGraph: no gradient rule for op '${n.domain ? `${n.domain}.` : ""}${n.opType}' ` +
            `(node '${n.name}') between the tap '${this.tap}' and the logits; supported ops: ${
              SUPPORTED_OPS.join(", ")
            }`,
        );
      }
      return rule;
    });
    // Reverse topological order: every consumer of a value has added its contribution before the value's
    // own rule reads the sum.
    ctx.grad(this.logits, BACKWARD_INPUTS.seed);
    for (let i = differentiated.length - 1; i >= 0; i--) {
      const n = differentiated[i];
      const g = ctx.gradOf(n.output[0]);
      if (!g) continue;
      ctx.current = n.name || n.opType;
      rules[i](ctx, n, g);
    }
    ctx.current = "out";
    const gx = ctx.gradOf(this.tap);
    if (!gx) {
      throw new Error(
        `buildBackwardGraph: the logits '${this.logits}' do not depend on the tap '${this.tap}'`,
      );
    }

    const x = BACKWARD_INPUTS.x;
    const delta = this.deeplift ? ctx.op("Sub", [x, BACKWARD_INPUTS.xRef]) : x;
    const wantAttribution = outputs.some((o) => o === "attribution" || o === "map" || o === "mean");
    const samples = this.opts.samplesPerImage ?? 1;
    if (!Number.isInteger(samples) || samples < 1) {
      throw new Error(`buildBackwardGraph: samplesPerImage must be a positive integer, got ${samples}`);
    }
    let attribution = "";
    if (wantAttribution) {
      attribution = ctx.op("Mul", [delta, gx], {}, samples === 1 ? "attribution" : undefined);
      if (samples > 1) {
        // SmoothGrad (captum's NoiseTunnel, "smoothgrad"): the mean of each image's noisy copies.
        const grouped = ctx.op("Reshape", [
          attribution,
          ctx.ints([-1, samples, ...ctx.staticShape(this.tap).slice(1)]),
        ]);
        attribution = ctx.reduceMean(grouped, [1], false, "attribution");
      }
    }
    const imageDims = samples === 1 ? batchDims : ["B", ...batchDims.slice(1)];
    const feature = this.opts.featureAxis ?? 1;
    if (!Number.isInteger(feature) || feature < 1 || feature >= batchDims.length) {
      throw new Error(
        `buildBackwardGraph: featureAxis ${feature} is not an axis of the tap [${
          batchDims.join(", ")
        }] after the batch`,
      );
    }
    const mapDims = imageDims.filter((_, i) => i !== feature);
    for (const o of outputs) {
      if (o === "attribution") b.output("attribution", imageDims);
      if (o === "map") {
        const positive = ctx.op("Relu", [attribution]);
        ctx.reduceMean(positive, [feature], false, "map");
        b.output("map", mapDims);
      }
      // The channel mean without ReLU: the contrast vectors' mask, as the reference computes it.
      if (o === "mean") {
        ctx.reduceMean(attribution, [feature], false, "mean");
        b.output("mean", mapDims);
      }
      if (o === "logits") {
        ctx.op("Identity", [ctx.fw(this.logits)], {}, "logits");
        b.output("logits", seedDims);
      }
      if (o === "grad") {
        ctx.op("Identity", [gx], {}, "grad");
        b.output("grad", batchDims);
      }
    }
    const model = b.model(this.opset, "protoscope-backward");
    // Keep the head's opset imports (other domains included) so its forward nodes mean what they meant.
    model.opsetImport = this.head.opsetImport.map((o) => ({ ...o }));
    model.irVersion = Math.max(Number(this.head.irVersion) || 8, 8);
    return model;
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
    for (const n of differentiated) if (readsBaseline(n.opType)) stack.push(n.input[0], n.output[0]);
    while (stack.length) {
      const v = stack.pop()!;
      const n = producer.get(v);
      if (!n || !this.active.has(v) || wanted.has(n)) continue;
      wanted.add(n);
      for (const i of n.input) if (i) stack.push(i);
    }
    for (const n of this.nodes) {
      if (wanted.has(n)) this.ctx.builder.nodes.push(this.renamed(n, (v) => this.ctx.ref(v), "__ref"));
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
    // The condition is boolean: it selects, it carries no gradient.
    case "Where":
      return n.input.slice(1);
    default:
      return n.input.filter((i) => i);
  }
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
