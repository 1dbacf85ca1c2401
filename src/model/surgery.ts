// In-memory graph surgery: a trunk that also outputs a tap tensor, and a head from the tap to the logits.
// Both are ordinary ONNX models run by onnxruntime-web.
import {
  cloneModel,
  type Graph,
  type Model,
  type Node,
  runtimeInputs,
  type ValueInfo,
  valueInfo,
} from "../onnx/model.ts";

/** Nodes needed to compute `targets`, treating `stopAt` values as given; in graph order. */
function requiredNodes(graph: Graph, targets: string[], stopAt: Set<string>): Node[] {
  const producer = new Map<string, Node>();
  for (const n of graph.node) for (const o of n.output) producer.set(o, n);
  const needed = new Set<Node>();
  const stack = [...targets];
  const seen = new Set<string>();
  while (stack.length) {
    const v = stack.pop()!;
    if (seen.has(v) || stopAt.has(v)) continue;
    seen.add(v);
    const n = producer.get(v);
    if (!n || needed.has(n)) continue;
    needed.add(n);
    for (const i of n.input) if (i) stack.push(i);
    // Subgraph attributes (If/Loop) may read outer values: keep whatever they name.
    for (const a of n.attribute) {
      if (a.g) { for (const sn of a.g.node) for (const i of sn.input) if (i) stack.push(i); }
    }
  }
  return graph.node.filter((n) => needed.has(n));
}

function keepUsedInitializers(graph: Graph, nodes: Node[]): Graph["initializer"] {
  const used = new Set(nodes.flatMap((n) => n.input));
  return graph.initializer.filter((t) => used.has(t.name));
}

/**
 * The model with `taps` as extra outputs. With `withLogits: false` the graph is pruned to what the taps need,
 * so a pass that only wants activations does not pay for the head.
 */
export function trunkWithTaps(model: Model, taps: string[], opts: { withLogits?: boolean } = {}): Model {
  const out = cloneModel(model);
  const g = out.graph;
  const withLogits = opts.withLogits ?? true;
  const keptOutputs = withLogits ? g.output : [];
  const targets = [...keptOutputs.map((o) => o.name), ...taps];
  const nodes = requiredNodes(g, targets, new Set());
  g.node = nodes;
  g.initializer = keepUsedInitializers(g, nodes);
  g.output = [
    ...keptOutputs,
    ...taps.filter((t) => !keptOutputs.some((o) => o.name === t)).map((t) => ({
      name: t,
      type: { tensorType: { elemType: 1 } },
    })),
  ];
  g.valueInfo = g.valueInfo.filter((v) => !taps.includes(v.name));
  return out;
}

/**
 * The part of the model from `tap` to the model's outputs, with `tap` as its only runtime input.
 * Fails if anything after the tap reads a value computed before it (the tap is then no cut point).
 */
export function headFromTap(model: Model, tap: string, tapShape: (number | string)[]): Model {
  const out = cloneModel(model);
  const g = out.graph;
  const nodes = requiredNodes(g, g.output.map((o) => o.name), new Set([tap]));
  const produced = new Set([tap, ...nodes.flatMap((n) => n.output)]);
  const inits = new Set(g.initializer.map((t) => t.name));
  const originalInputs = new Set(runtimeInputs(g).map((v) => v.name));
  for (const n of nodes) {
    for (const i of n.input) {
      if (!i || produced.has(i) || inits.has(i)) continue;
      const what = originalInputs.has(i) ? "the model input" : `value '${i}'`;
      throw new Error(
        `tap '${tap}' does not cut the model in two: node '${n.name}' (${n.opType}) after it reads ${what}, ` +
          `which is computed before the tap. Choose a block output (e.g. layer3.5) instead.`,
      );
    }
  }
  if (!nodes.length) throw new Error(`tap '${tap}' is a model output: there is no head after it`);
  g.node = nodes;
  g.initializer = keepUsedInitializers(g, nodes);
  g.input = [valueInfo(tap, tapShape)];
  g.output = g.output.map(withSymbolicBatch);
  g.valueInfo = [];
  return out;
}

/** The name and declared shape of the single image input of a classifier. */
export function imageInput(model: Model): { name: string; dims: (number | string)[] } {
  const inputs = runtimeInputs(model.graph);
  if (inputs.length !== 1) {
    throw new Error(
      `the model has ${inputs.length} runtime inputs (${inputs.map((v) => v.name).join(", ")}); ` +
        "expected one image input [N,3,H,W]",
    );
  }
  const dims = inputs[0].type?.tensorType?.shape?.dim?.map((d) => d.dimParam ?? Number(d.dimValue ?? -1)) ??
    [];
  if (dims.length !== 4 || (typeof dims[1] === "number" && dims[1] !== 3)) {
    throw new Error(
      `model input '${inputs[0].name}' has shape [${dims}]; expected an NCHW image input [N,3,H,W]`,
    );
  }
  return { name: inputs[0].name, dims };
}

function withSymbolicBatch(v: ValueInfo): ValueInfo {
  const dims = v.type?.tensorType?.shape?.dim;
  if (!dims?.length) return v;
  const rest = dims.slice(1).map((d, i) =>
    d.dimParam ?? (d.dimValue !== undefined ? Number(d.dimValue) : `d${i}`)
  );
  return valueInfo(v.name, ["batch", ...rest]);
}

/**
 * Makes the batch, height and width of the image input symbolic: exports often fix them (batch 1, 224 x 224),
 * while protoscope runs batches and stacked crop composites (e.g. 192 x 32) through the same convolutional
 * trunk and global pooling.
 */
export function withDynamicInput(model: Model): Model {
  const out = cloneModel(model);
  const input = imageInput(out);
  out.graph.input = out.graph.input.map((v) =>
    v.name === input.name ? valueInfo(v.name, ["batch", 3, "height", "width"]) : v
  );
  out.graph.output = out.graph.output.map(withSymbolicBatch);
  // Intermediate value_info may pin the old batch size; ORT infers shapes without it.
  out.graph.valueInfo = [];
  return out;
}
