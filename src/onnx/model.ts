// Reading, writing and inspecting ONNX models as plain objects shaped by schema.ts.
import { ModelProtoType } from "./schema.ts";

export interface KeyValue {
  key: string;
  value: string;
}
export interface Dimension {
  dimValue?: number;
  dimParam?: string;
}
export interface TypeProto {
  tensorType?: { elemType: number; shape?: { dim: Dimension[] } };
}
export interface ValueInfo {
  name: string;
  type?: TypeProto;
}
export interface Tensor {
  name: string;
  dims: number[];
  dataType: number;
  rawData?: Uint8Array;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: number[];
  doubleData?: number[];
  externalData?: KeyValue[];
  dataLocation?: number;
}
export interface Attribute {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: Tensor;
  g?: Graph;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
}
export interface Node {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  domain?: string;
  attribute: Attribute[];
  metadataProps?: KeyValue[];
}
export interface Graph {
  name: string;
  node: Node[];
  initializer: Tensor[];
  input: ValueInfo[];
  output: ValueInfo[];
  valueInfo: ValueInfo[];
}
export interface Model {
  irVersion: number;
  opsetImport: { domain: string; version: number }[];
  producerName?: string;
  producerVersion?: string;
  graph: Graph;
  metadataProps?: KeyValue[];
  functions?: unknown[];
}

export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
} as const;

export const AttributeType = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
} as const;

/** Decodes ONNX bytes; fails with the path (when given) if the bytes are not an ONNX model. */
export function decodeModel(bytes: Uint8Array, source = "<bytes>"): Model {
  let model: Model;
  try {
    model = ModelProtoType.toObject(ModelProtoType.decode(bytes), {
      arrays: true,
      defaults: false,
    }) as unknown as Model;
  } catch (e) {
    throw new Error(`${source}: not a readable ONNX model (${(e as Error).message})`);
  }
  if (!model.graph || !model.graph.node?.length) {
    throw new Error(`${source}: not an ONNX model (no graph nodes found)`);
  }
  normalizeGraph(model.graph);
  for (const t of model.graph.initializer) {
    if (t.dataLocation === 1 || t.externalData?.length) {
      throw new Error(
        `${source}: initializer '${t.name}' is stored in an external data file; ` +
          `re-export with the weights inside the .onnx file (save_as_external_data=False)`,
      );
    }
  }
  return model;
}

function normalizeGraph(g: Graph): void {
  g.node ??= [];
  g.initializer ??= [];
  g.input ??= [];
  g.output ??= [];
  g.valueInfo ??= [];
  for (const n of g.node) {
    n.input ??= [];
    n.output ??= [];
    n.attribute ??= [];
    n.name ??= "";
    for (const a of n.attribute) if (a.g) normalizeGraph(a.g);
  }
}

export async function readModel(path: string): Promise<Model> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new Error(`--model ${path}: cannot read the file (${(e as Error).message})`);
  }
  return decodeModel(bytes, path);
}

export function encodeModel(model: Model): Uint8Array {
  return ModelProtoType.encode(ModelProtoType.fromObject(model)).finish();
}

/** A structural copy that shares the (large, read-only) tensor payloads with the original. */
export function cloneModel(model: Model): Model {
  const cloneGraph = (g: Graph): Graph => ({
    ...g,
    node: g.node.map((n) => ({
      ...n,
      input: [...n.input],
      output: [...n.output],
      attribute: n.attribute.map((a) => (a.g ? { ...a, g: cloneGraph(a.g) } : { ...a })),
    })),
    initializer: [...g.initializer],
    input: [...g.input],
    output: [...g.output],
    valueInfo: [...g.valueInfo],
  });
  return { ...model, graph: cloneGraph(model.graph) };
}

export function attr(node: Node, name: string): Attribute | undefined {
  return node.attribute.find((a) => a.name === name);
}
export function attrInt(node: Node, name: string, fallback: number): number {
  const a = attr(node, name);
  return a?.i !== undefined ? Number(a.i) : fallback;
}
export function attrFloat(node: Node, name: string, fallback: number): number {
  return attr(node, name)?.f ?? fallback;
}
export function attrInts(node: Node, name: string, fallback: number[]): number[] {
  const a = attr(node, name);
  return a?.ints?.length ? a.ints.map(Number) : fallback;
}
export function attrString(node: Node, name: string, fallback: string): string {
  const a = attr(node, name);
  return a?.s ? new TextDecoder().decode(a.s) : fallback;
}

/** The numbers held by an initializer or Constant tensor, as float64 for inspection. */
export function tensorValues(t: Tensor): Float64Array | BigInt64Array | Float32Array | Int32Array {
  const count = t.dims.reduce((a, b) => a * Number(b), 1);
  if (t.rawData && t.rawData.byteLength > 0) {
    const raw = t.rawData;
    const buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
    switch (t.dataType) {
      case DataType.FLOAT:
        return new Float32Array(buf);
      case DataType.INT64:
        return new BigInt64Array(buf);
      case DataType.INT32:
        return new Int32Array(buf);
      case DataType.DOUBLE:
        return new Float64Array(buf);
    }
    throw new Error(`tensor '${t.name}': data type ${t.dataType} is not supported here`);
  }
  switch (t.dataType) {
    case DataType.FLOAT:
      return Float32Array.from(t.floatData ?? []);
    case DataType.INT64:
      return BigInt64Array.from((t.int64Data ?? []).map((v) => BigInt(v)));
    case DataType.INT32:
      return Int32Array.from(t.int32Data ?? []);
    case DataType.DOUBLE:
      return Float64Array.from(t.doubleData ?? []);
  }
  if (count === 0) return new Float32Array(0);
  throw new Error(`tensor '${t.name}': data type ${t.dataType} is not supported here`);
}

export function floatTensor(name: string, dims: number[], values: Float32Array | number[]): Tensor {
  const data = values instanceof Float32Array ? values : Float32Array.from(values);
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`tensor '${name}': ${data.length} values for dims [${dims}]`);
  return {
    name,
    dims,
    dataType: DataType.FLOAT,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

export function int64Tensor(name: string, dims: number[], values: number[]): Tensor {
  const data = BigInt64Array.from(values.map((v) => BigInt(v)));
  return { name, dims, dataType: DataType.INT64, rawData: new Uint8Array(data.buffer) };
}

/** Static shape of a graph value from inputs, outputs or value_info; symbolic dims become -1. */
export function declaredShape(g: Graph, name: string): number[] | undefined {
  const vi = [...g.input, ...g.output, ...g.valueInfo].find((v) => v.name === name);
  const dims = vi?.type?.tensorType?.shape?.dim;
  if (!dims) return undefined;
  return dims.map((d) => (d.dimValue !== undefined ? Number(d.dimValue) : -1));
}

export function valueInfo(
  name: string,
  dims: (number | string)[],
  elemType: number = DataType.FLOAT,
): ValueInfo {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

/** The graph inputs that are fed at run time (inputs that are not also initializers). */
export function runtimeInputs(g: Graph): ValueInfo[] {
  const inits = new Set(g.initializer.map((t) => t.name));
  return g.input.filter((v) => !inits.has(v.name));
}

/** SHA-256 of a file, hex, for manifests. */
export async function sha256File(path: string): Promise<string> {
  const bytes = await Deno.readFile(path);
  return sha256Hex(bytes);
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
