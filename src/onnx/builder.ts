// A small builder for ONNX graphs: the fixtures, the ResNet generator, graph surgery and the
// generated backward graphs all construct models through it.
import {
  type Attribute,
  AttributeType,
  floatTensor,
  type Graph,
  int64Tensor,
  type KeyValue,
  type Model,
  type Node,
  type Tensor,
  type ValueInfo,
  valueInfo,
} from "./model.ts";

/** Attribute values: an integer becomes INT, a non-integer FLOAT, `{ f }` forces FLOAT. */
export type AttrValue = number | { f: number } | number[] | { floats: number[] } | string | Tensor;

export function toAttribute(name: string, v: AttrValue): Attribute {
  if (typeof v === "string") return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === "number") {
    return Number.isInteger(v)
      ? { name, type: AttributeType.INT, i: v }
      : { name, type: AttributeType.FLOAT, f: v };
  }
  if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v };
  if ("f" in v) return { name, type: AttributeType.FLOAT, f: v.f };
  if ("floats" in v) return { name, type: AttributeType.FLOATS, floats: v.floats };
  return { name, type: AttributeType.TENSOR, t: v };
}

export class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly initializers: Tensor[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  private counter = 0;

  constructor(readonly name = "graph") {}

  /** A fresh value name with a readable prefix. */
  fresh(prefix: string): string {
    return `${prefix}__${this.counter++}`;
  }

  input(name: string, dims: (number | string)[]): string {
    this.inputs.push(valueInfo(name, dims));
    return name;
  }

  output(name: string, dims: (number | string)[]): void {
    this.outputs.push(valueInfo(name, dims));
  }

  weight(name: string, dims: number[], values: Float32Array | number[]): string {
    this.initializers.push(floatTensor(name, dims, values));
    return name;
  }

  int64s(name: string, values: number[]): string {
    this.initializers.push(int64Tensor(name, [values.length], values));
    return name;
  }

  /** Adds a node; returns its first output. `outputs` may be a count or explicit names. */
  node(
    opType: string,
    inputs: string[],
    attrs: Record<string, AttrValue> = {},
    opts: { outputs?: string[] | number; name?: string; metadata?: KeyValue[]; domain?: string } = {},
  ): string {
    const name = opts.name ?? this.fresh(opType);
    const outputs = Array.isArray(opts.outputs)
      ? opts.outputs
      : Array.from({ length: opts.outputs ?? 1 }, (_, i) => `${name}_output_${i}`);
    this.nodes.push({
      name,
      opType,
      input: inputs,
      output: outputs,
      attribute: Object.entries(attrs).map(([k, v]) => toAttribute(k, v)),
      ...(opts.domain ? { domain: opts.domain } : {}),
      ...(opts.metadata ? { metadataProps: opts.metadata } : {}),
    });
    return outputs[0];
  }

  graph(): Graph {
    return {
      name: this.name,
      node: this.nodes,
      initializer: this.initializers,
      input: this.inputs,
      output: this.outputs,
      valueInfo: [],
    };
  }

  model(opset = 17, producer = "protoscope"): Model {
    return {
      irVersion: 8,
      opsetImport: [{ domain: "", version: opset }],
      producerName: producer,
      producerVersion: "0.1.0",
      graph: this.graph(),
    };
  }
}
