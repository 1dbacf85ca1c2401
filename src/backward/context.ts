// What a gradient rule sees of the graph being generated: the names a head value has in the forward passes
// for x and for the baseline, the value's static shape, whether it depends on the tap, a way to emit nodes and
// constants, and the gradient ledger (contributions added per value, summed when the value is differentiated).
// Every rule in rules/ works through this one object, so rules stay functions of (context, node, gradient) and
// the naming of emitted nodes (`bw/<head node>/<op>__<n>`) is decided here once.
import { type AttrValue, GraphBuilder } from "../onnx/builder.ts";
import { DataType, floatTensor, int64Tensor, type Node } from "../onnx/model.ts";
import { BACKWARD_INPUTS } from "./options.ts";
import { type ConstantTable, type Shape, type SliceBound, sliceBounds } from "./shapes.ts";

/** The gradient rule of one op: adds the contributions of `g` (dL/d its first output) to its inputs. */
export type GradientRule = (ctx: BackwardContext, node: Node, g: string) => void;

/** Head value names that would collide with the generated graph's inputs and outputs. */
const RESERVED = new Set(["x", "x_ref", "seed", "attribution", "map", "mean", "logits", "grad"]);

export interface BackwardContextInit {
  tap: string;
  opset: number;
  shapes: Map<string, Shape>;
  /** Values that depend on the tap. */
  active: ReadonlySet<string>;
  /** DeepLift's eps. */
  eps: number;
  convInputGradient: "conv" | "convtranspose";
  /** Known values (initializers, Constants, evaluated shape arithmetic). */
  constants?: ConstantTable;
}

export class BackwardContext {
  readonly builder = new GraphBuilder("backward");
  readonly tap: string;
  readonly opset: number;
  readonly eps: number;
  readonly convInputGradient: "conv" | "convtranspose";
  /** The head node being differentiated, for node names and error messages. */
  current = "";
  private readonly shapes: Map<string, Shape>;
  private readonly active: ReadonlySet<string>;
  private readonly contributions = new Map<string, string[]>();
  private readonly constants = new Map<string, string>();
  private readonly known?: ConstantTable;

  constructor(init: BackwardContextInit) {
    this.tap = init.tap;
    this.opset = init.opset;
    this.shapes = init.shapes;
    this.active = init.active;
    this.eps = init.eps;
    this.convInputGradient = init.convInputGradient;
    this.known = init.constants;
  }

  /**
   * The values of a head constant (indices, exponents, shape arithmetic); `integer` false also reads float
   * tensors. undefined when the value is not known when the graph is built.
   */
  constInts(v: string, integer = true): number[] | undefined {
    if (!this.known || (integer && !this.known.isInteger(v))) return undefined;
    return this.known.ints(v);
  }

  /** A Slice node's bounds on an input of shape `xs`; fails naming the node when they are not constants. */
  sliceBounds(n: Node, xs: Shape): SliceBound[] {
    const bounds = this.known ? sliceBounds(n, xs, this.known) : undefined;
    if (!bounds) {
      throw new Error(`buildBackwardGraph: Slice '${n.name}' needs constant starts, ends, axes and steps`);
    }
    return bounds;
  }

  /** Whether a head value depends on the tap (and so can carry gradient). */
  isActive(v: string): boolean {
    return this.active.has(v);
  }

  /** The name a head value has in the generated graph's forward pass for x. */
  fw(v: string): string {
    if (!v) return v;
    if (v === this.tap) return BACKWARD_INPUTS.x;
    return RESERVED.has(v) ? `${v}__fw` : v;
  }

  /** The name of a head value in the baseline's forward pass (constants are shared). */
  ref(v: string): string {
    if (!v) return v;
    if (v === this.tap) return BACKWARD_INPUTS.xRef;
    return this.active.has(v) ? `${v}__ref` : this.fw(v);
  }

  shape(v: string): Shape {
    const s = this.shapes.get(v);
    if (!s) {
      throw new Error(
        `buildBackwardGraph: the shape of '${v}' (at node '${this.current}') could not be inferred from the tap ` +
          "shape; the gradient rule needs it",
      );
    }
    return s;
  }

  /** The shape, or undefined where it could not be inferred. */
  shapeIfKnown(v: string): Shape | undefined {
    return this.shapes.get(v);
  }

  staticShape(v: string, from = 1): Shape {
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
  grad(v: string, g: string): void {
    if (!v || !this.active.has(v)) return;
    const list = this.contributions.get(v);
    if (list) list.push(g);
    else this.contributions.set(v, [g]);
  }

  /** The total gradient of a head value: the sum of its contributions. */
  gradOf(v: string): string | undefined {
    const list = this.contributions.get(v);
    if (!list?.length) return undefined;
    let sum = list[0];
    for (let i = 1; i < list.length; i++) sum = this.op("Add", [sum, list[i]]);
    this.contributions.set(v, [sum]);
    return sum;
  }

  /** Emits a node named after the head node being differentiated; returns its output. */
  op(type: string, inputs: string[], attrs: Record<string, AttrValue> = {}, output?: string): string {
    const name = this.builder.fresh(`bw/${this.current.replace(/^\//, "")}/${type}`);
    return this.builder.node(type, inputs, attrs, { name, outputs: [output ?? `${name}_out`] });
  }

  /** A float scalar initializer, shared by every use of the same value. */
  scalar(value: number): string {
    const key = `f:${value}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.builder.fresh("bw_const");
      this.builder.initializers.push(floatTensor(name, [], [value]));
      this.constants.set(key, name);
    }
    return name;
  }

  /** An int64 vector initializer (shapes, axes, pads), shared by every use of the same values. */
  ints(values: number[]): string {
    const key = `i:${values.join(",")}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.builder.fresh("bw_ints");
      this.builder.initializers.push(int64Tensor(name, [values.length], values));
      this.constants.set(key, name);
    }
    return name;
  }

  /** A float initializer of its own. */
  weight(dims: number[], values: Float32Array): string {
    const name = this.builder.fresh("bw_weight");
    this.builder.initializers.push(floatTensor(name, dims, values));
    return name;
  }

  reduceSum(x: string, axes: number[], keepdims: boolean): string {
    if (this.opset >= 13) return this.op("ReduceSum", [x, this.ints(axes)], { keepdims: keepdims ? 1 : 0 });
    return this.op("ReduceSum", [x], { axes, keepdims: keepdims ? 1 : 0 });
  }

  reduceMean(x: string, axes: number[], keepdims: boolean, output?: string): string {
    if (this.opset >= 18) {
      return this.op("ReduceMean", [x, this.ints(axes)], { keepdims: keepdims ? 1 : 0 }, output);
    }
    return this.op("ReduceMean", [x], { axes, keepdims: keepdims ? 1 : 0 }, output);
  }

  toFloat(bool: string): string {
    return this.op("Cast", [bool], { to: DataType.FLOAT });
  }

  /**
   * Sums a gradient of broadcast shape `gShape` down to the shape of `input` (numpy broadcasting: missing
   * leading axes and size-1 axes were repeated in the forward pass).
   */
  reduceTo(g: string, gShape: Shape, input: string): string {
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
  shapeOf(v: string): string {
    const s = this.shapes.get(v);
    if (s && s.filter((d) => d < 0).length <= 1) return this.ints(s);
    return this.op("Shape", [this.fw(v)]);
  }
}
