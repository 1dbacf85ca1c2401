// Static shapes of a classifier head's values, from the tap shape alone, for the backward-graph generator.
// The batch size is unknown when the graph is built (one backward model serves every batch), so dimensions
// that depend on it are -1; every other dimension must be a number for the rules that need it. Inferring
// here (rather than asking ORT for shapes by running the head once) keeps graph generation synchronous, needs
// no session or sample input, and makes "which dim is the batch" explicit, which the broadcast rules need.
import {
  attrInt,
  attrInts,
  attrString,
  DataType,
  type Graph,
  type Node,
  type Tensor,
  tensorValues,
} from "../onnx/model.ts";
import { shapeValues } from "./shape_values.ts";

/** Dimensions of a value; -1 marks a dimension that depends on the batch size. */
export type Shape = number[];

/**
 * Tensors whose values are known when the graph is built: initializers, Constant outputs, and the integer shape
 * arithmetic evaluated from static shapes (shape_values.ts; NaN where an entry depends on the batch size).
 */
export class ConstantTable {
  private readonly tensors = new Map<string, Tensor>();
  private readonly computed = new Map<string, number[]>();

  constructor(graph: Graph) {
    for (const t of graph.initializer) this.tensors.set(t.name, t);
    for (const n of graph.node) {
      if (n.opType !== "Constant") continue;
      const value = n.attribute.find((a) => a.name === "value")?.t;
      if (value) this.tensors.set(n.output[0], { ...value, name: n.output[0] });
    }
  }

  has(name: string): boolean {
    return this.tensors.has(name) || this.computed.has(name);
  }

  /** Records the integer values shape arithmetic computes (NaN marks a batch-dependent entry). */
  learn(name: string, values: number[]): void {
    this.computed.set(name, values);
  }

  /** Whether a known value is integer (shape arithmetic, or an int tensor). */
  isInteger(name: string): boolean {
    if (this.computed.has(name)) return true;
    const t = this.tensors.get(name);
    return t?.dataType === DataType.INT64 || t?.dataType === DataType.INT32;
  }

  /** Integer contents with NaN where an entry depends on the batch size. */
  shapeInts(name: string): number[] | undefined {
    return this.computed.get(name) ?? this.ints(name);
  }

  dims(name: string): Shape | undefined {
    return this.tensors.get(name)?.dims.map(Number);
  }

  /** Integer contents (Reshape shapes and the like), or undefined when the value is not a known constant. */
  ints(name: string): number[] | undefined {
    const c = this.computed.get(name);
    if (c) return c.some((v) => Number.isNaN(v)) ? undefined : c;
    const t = this.tensors.get(name);
    if (!t) return undefined;
    return Array.from(tensorValues(t) as ArrayLike<number | bigint>, (v) => Number(v));
  }
}

/** Spatial geometry of a Conv or pooling node, with explicit pads (auto_pad resolved). */
export interface WindowGeometry {
  kernel: number[];
  strides: number[];
  dilations: number[];
  padsBegin: number[];
  padsEnd: number[];
}

export function windowGeometry(node: Node, inSpatial: number[], kernel: number[]): WindowGeometry {
  const s = kernel.length;
  const strides = attrInts(node, "strides", new Array(s).fill(1));
  const dilations = attrInts(node, "dilations", new Array(s).fill(1));
  const autoPad = attrString(node, "auto_pad", "NOTSET");
  let padsBegin: number[];
  let padsEnd: number[];
  if (autoPad === "NOTSET") {
    const pads = attrInts(node, "pads", new Array(2 * s).fill(0));
    padsBegin = pads.slice(0, s);
    padsEnd = pads.slice(s);
  } else if (autoPad === "VALID") {
    padsBegin = new Array(s).fill(0);
    padsEnd = new Array(s).fill(0);
  } else if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    padsBegin = [];
    padsEnd = [];
    for (let i = 0; i < s; i++) {
      if (inSpatial[i] < 0) {
        throw new Error(`node '${node.name}': auto_pad ${autoPad} needs a static input size`);
      }
      const out = Math.ceil(inSpatial[i] / strides[i]);
      const total = Math.max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - inSpatial[i]);
      const small = Math.floor(total / 2);
      padsBegin.push(autoPad === "SAME_UPPER" ? small : total - small);
      padsEnd.push(autoPad === "SAME_UPPER" ? total - small : small);
    }
  } else {
    throw new Error(`node '${node.name}': unknown auto_pad '${autoPad}'`);
  }
  return { kernel, strides, dilations, padsBegin, padsEnd };
}

export function windowOutputSize(g: WindowGeometry, inSpatial: number[], ceilMode = false): number[] {
  return inSpatial.map((n, i) => {
    if (n < 0) return -1;
    const span = n + g.padsBegin[i] + g.padsEnd[i] - ((g.kernel[i] - 1) * g.dilations[i] + 1);
    return (ceilMode ? Math.ceil(span / g.strides[i]) : Math.floor(span / g.strides[i])) + 1;
  });
}

/** Numpy-style broadcast of two shapes; -1 (batch) against a number other than 1 stays -1. */
export function broadcastShapes(a: Shape, b: Shape, where: string): Shape {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[i - (rank - a.length)] ?? 1;
    const y = b[i - (rank - b.length)] ?? 1;
    if (x === 1) out.push(y);
    else if (y === 1) out.push(x);
    else if (x === -1 || y === -1) out.push(x === -1 ? y : x);
    else if (x === y) out.push(x);
    else throw new Error(`${where}: shapes [${a}] and [${b}] do not broadcast`);
  }
  return out;
}

const SAME_SHAPE = new Set([
  "Softmax",
  "LogSoftmax",
  "Erf",
  "Cast",
  "Sqrt",
  "Exp",
  "Abs",
  "Reciprocal",
  "LayerNormalization",
  "Relu",
  "LeakyRelu",
  "Sigmoid",
  "Tanh",
  "Clip",
  "Identity",
  "Dropout",
  "Neg",
  "BatchNormalization",
]);
const BROADCAST = new Set([
  "Add",
  "Sub",
  "Mul",
  "Div",
  "Pow",
  "Greater",
  "Less",
  "Equal",
  "GreaterOrEqual",
  "LessOrEqual",
]);

/**
 * Shapes of every value of `graph` that can be inferred from the input shapes; values whose shape cannot be
 * inferred are absent (a rule that needs one then fails naming the value).
 */
export function inferShapes(
  graph: Graph,
  inputShapes: Map<string, Shape>,
  constants: ConstantTable,
): Map<string, Shape> {
  const shapes = new Map(inputShapes);
  for (const t of graph.initializer) shapes.set(t.name, t.dims.map(Number));
  for (const node of graph.node) {
    const values = shapeValues(node, shapes, constants);
    if (values) constants.learn(node.output[0], values);
    const out = inferNode(node, shapes, constants);
    if (out) shapes.set(node.output[0], out);
  }
  return shapes;
}

function inferNode(node: Node, shapes: Map<string, Shape>, constants: ConstantTable): Shape | undefined {
  const ins = node.input.map((i) => (i ? shapes.get(i) : undefined));
  const x = ins[0];
  const where = `node '${node.name}' (${node.opType})`;
  if (node.opType === "Constant") return constants.dims(node.output[0]);
  if (SAME_SHAPE.has(node.opType)) return x;
  if (BROADCAST.has(node.opType)) return x && ins[1] ? broadcastShapes(x, ins[1], where) : undefined;
  if (!x) return undefined;
  switch (node.opType) {
    case "Conv": {
      const w = ins[1];
      if (!w) return undefined;
      const kernel = attrInts(node, "kernel_shape", w.slice(2));
      const g = windowGeometry(node, x.slice(2), kernel);
      return [x[0], w[0], ...windowOutputSize(g, x.slice(2))];
    }
    case "MaxPool":
    case "AveragePool": {
      const kernel = attrInts(node, "kernel_shape", []);
      const g = windowGeometry(node, x.slice(2), kernel);
      return [x[0], x[1], ...windowOutputSize(g, x.slice(2), attrInt(node, "ceil_mode", 0) === 1)];
    }
    case "GlobalAveragePool":
    case "GlobalMaxPool":
      return [x[0], x[1], ...x.slice(2).map(() => 1)];
    case "Flatten": {
      const axis = normalizeAxis(attrInt(node, "axis", 1), x.length + 1);
      return [product(x.slice(0, axis)), product(x.slice(axis))];
    }
    case "Reshape": {
      // Shape arithmetic may leave one batch-dependent entry: Reshape infers it as its -1.
      const computed = constants.shapeInts(node.input[1]);
      if (!computed || computed.filter((d) => Number.isNaN(d)).length > 1) return undefined;
      const target = computed.map((d) => (Number.isNaN(d) ? -1 : d));
      const allowZero = attrInt(node, "allowzero", 0) === 1;
      const out = target.map((d, i) => (d === 0 && !allowZero ? x[i] : d));
      const free = target.indexOf(-1);
      if (free >= 0) {
        // The free dimension takes what is left; with a batch-dependent input it stays batch-dependent.
        const known = product(out.filter((_, i) => i !== free));
        const total = product(x);
        out[free] = total < 0 || known < 0 ? -1 : total / known;
      }
      return out;
    }
    case "Gemm": {
      const b = ins[1];
      if (!b) return undefined;
      const m = attrInt(node, "transA", 0) ? x[1] : x[0];
      const n = attrInt(node, "transB", 0) ? b[0] : b[1];
      return [m, n];
    }
    case "MatMul": {
      const b = ins[1];
      if (!b || x.length < 2 || b.length < 2) return undefined;
      const batch = broadcastShapes(x.slice(0, -2), b.slice(0, -2), where);
      return [...batch, x[x.length - 2], b[b.length - 1]];
    }
    case "Transpose": {
      const perm = attrInts(node, "perm", x.map((_, i) => x.length - 1 - i));
      return perm.map((p) => x[p]);
    }
    case "Unsqueeze": {
      const axes = attrInts(node, "axes", []).length
        ? attrInts(node, "axes", [])
        : constants.ints(node.input[1]);
      if (!axes) return undefined;
      const rank = x.length + axes.length;
      const at = new Set(axes.map((a) => normalizeAxis(a, rank)));
      const rest = [...x];
      return Array.from({ length: rank }, (_, i) => (at.has(i) ? 1 : rest.shift()!));
    }
    case "Squeeze": {
      const axes = attrInts(node, "axes", []).length
        ? attrInts(node, "axes", [])
        : constants.ints(node.input[1] ?? "");
      if (!axes) return x.some((d) => d < 0) ? undefined : x.filter((d) => d !== 1);
      const at = new Set(axes.map((a) => normalizeAxis(a, x.length)));
      return x.filter((_, i) => !at.has(i));
    }
    case "Shape":
      return [x.length];
    case "Gather": {
      const index = node.input[1];
      const indexShape = ins[1] ?? constants.dims(index);
      if (!indexShape) return undefined;
      const axis = normalizeAxis(attrInt(node, "axis", 0), x.length);
      return [...x.slice(0, axis), ...indexShape, ...x.slice(axis + 1)];
    }
    case "Slice": {
      const bounds = sliceBounds(node, x, constants);
      return bounds?.map((b) => b.size);
    }
    case "ReduceMean":
    case "ReduceSum": {
      const axes = attrInts(node, "axes", []).length
        ? attrInts(node, "axes", [])
        : node.input[1]
        ? constants.ints(node.input[1])
        : x.map((_, i) => i);
      if (!axes) return undefined;
      const at = new Set(axes.map((a) => normalizeAxis(a, x.length)));
      const keep = attrInt(node, "keepdims", 1) === 1;
      return x.flatMap((d, i) => (at.has(i) ? (keep ? [1] : []) : [d]));
    }
    case "Expand": {
      // A batch-dependent entry of the target broadcasts like the batch itself.
      const target = constants.shapeInts(node.input[1]);
      return target ? broadcastShapes(x, target.map((d) => (Number.isNaN(d) ? -1 : d)), where) : undefined;
    }
    case "Where":
      return ins[1] && ins[2] ? broadcastShapes(broadcastShapes(x, ins[1], where), ins[2], where) : undefined;
    case "Concat": {
      if (ins.some((s) => !s)) return undefined;
      const axis = normalizeAxis(attrInt(node, "axis", 0), x.length);
      const out = [...x];
      const sizes = ins.map((s) => s![axis]);
      out[axis] = sizes.some((d) => d < 0) ? -1 : sizes.reduce((a, b) => a + b, 0);
      return out;
    }
  }
  return undefined;
}

/** Per axis of a Slice's input: the first index, the step and the output size (steps of any sign). */
export interface SliceBound {
  start: number;
  step: number;
  size: number;
}

/** The bounds of a Slice (opset 10+, constant starts/ends/axes/steps), or undefined when they are not known. */
export function sliceBounds(node: Node, x: Shape, constants: ConstantTable): SliceBound[] | undefined {
  const starts = constants.ints(node.input[1] ?? "");
  const ends = constants.ints(node.input[2] ?? "");
  if (!starts || !ends) return undefined;
  const axes = node.input[3] ? constants.ints(node.input[3]) : starts.map((_, i) => i);
  const steps = node.input[4] ? constants.ints(node.input[4]) : starts.map(() => 1);
  if (!axes || !steps) return undefined;
  const out: SliceBound[] = x.map((d) => ({ start: 0, step: 1, size: d }));
  for (let k = 0; k < axes.length; k++) {
    const axis = normalizeAxis(axes[k], x.length);
    const dim = x[axis];
    if (dim < 0) return undefined;
    const step = steps[k];
    const norm = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v < 0 ? v + dim : v));
    const start = step > 0 ? norm(starts[k], 0, dim) : norm(starts[k], -1, dim - 1);
    const end = step > 0 ? norm(ends[k], 0, dim) : norm(ends[k], -1, dim - 1);
    const size = Math.max(0, Math.ceil((end - start) / step));
    out[axis] = { start, step, size };
  }
  return out;
}

export function normalizeAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** Product of dims; -1 when any is batch-dependent. */
export function product(dims: number[]): number {
  return dims.some((d) => d < 0) ? -1 : dims.reduce((a, b) => a * b, 1);
}
