// Values of the integer shape arithmetic a torch export computes from its own activations: a transformer's
// attention reads Shape(x), picks dimensions with Gather, scales them (Mul/Div) and joins them (Unsqueeze,
// Concat) into Reshape targets and Slice bounds. Evaluated here from the static shapes, so Reshape and Slice
// get known targets and the gradient rules constants (no Shape op sends the backward pass to the CPU). An entry
// that depends on the batch size is NaN: Reshape accepts one such entry (as its -1), anything else that needs
// it fails naming the value.
import { attrInt, DataType, type Node, tensorValues } from "../onnx/model.ts";
import type { ConstantTable, Shape } from "./shapes.ts";

function elementwise(a: number[], b: number[], f: (x: number, y: number) => number): number[] | undefined {
  if (a.length !== b.length && a.length !== 1 && b.length !== 1) return undefined;
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => f(a[a.length === 1 ? 0 : i], b[b.length === 1 ? 0 : i]));
}

/** Shape vectors are short; a longer integer tensor is data, not shape arithmetic. */
const MAX_ENTRIES = 16;

/** The integer values `node` computes, when its inputs' values are known; undefined otherwise. */
export function shapeValues(
  node: Node,
  shapes: ReadonlyMap<string, Shape>,
  constants: ConstantTable,
): number[] | undefined {
  const value = (i: number) => (node.input[i] ? constants.shapeInts(node.input[i]) : undefined);
  switch (node.opType) {
    case "Shape": {
      const s = shapes.get(node.input[0]);
      if (!s) return undefined;
      const rank = s.length;
      const clamp = (v: number) => Math.min(rank, Math.max(0, v < 0 ? v + rank : v));
      const start = clamp(attrInt(node, "start", 0));
      const end = clamp(attrInt(node, "end", rank));
      return s.slice(start, end).map((d) => (d < 0 ? NaN : d));
    }
    case "Gather": {
      const data = value(0), index = value(1);
      if (!data || !index || attrInt(node, "axis", 0) !== 0) return undefined;
      return index.map((i) => data[i < 0 ? i + data.length : i]);
    }
    // torch's `expand(-1, ...)`: Where(Equal(target, -1), ones, target) over ConstantOfShape(rank).
    case "ConstantOfShape": {
      const dims = value(0);
      const fill = node.attribute.find((a) => a.name === "value")?.t;
      const integer = fill?.dataType === DataType.INT64 || fill?.dataType === DataType.INT32;
      const count = dims?.reduce((a, b) => a * b, 1) ?? NaN;
      if (!integer || !(count <= MAX_ENTRIES)) return undefined;
      return new Array(count).fill(Number(tensorValues(fill!)[0]));
    }
    case "Equal": {
      const a = value(0), b = value(1);
      if (!a || !b) return undefined;
      return elementwise(a, b, (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : x === y ? 1 : 0));
    }
    case "Where": {
      const c = value(0), a = value(1), b = value(2);
      if (!c || !a || !b || !constants.isInteger(node.input[1])) return undefined;
      const n = Math.max(c.length, a.length, b.length);
      if ([c, a, b].some((v) => v.length !== n && v.length !== 1)) return undefined;
      const at = (v: number[], i: number) => v[v.length === 1 ? 0 : i];
      return Array.from({ length: n }, (_, i) => {
        const k = at(c, i);
        return Number.isNaN(k) ? NaN : k ? at(a, i) : at(b, i);
      });
    }
    case "Unsqueeze":
    case "Squeeze":
    case "Cast":
    case "Identity":
      return value(0);
    case "Concat": {
      const parts = node.input.map((_, i) => value(i));
      return parts.every((p) => p) ? parts.flatMap((p) => p!) : undefined;
    }
    case "Add":
    case "Sub":
    case "Mul":
    case "Div": {
      const a = value(0), b = value(1);
      if (!a || !b || !node.input.every((i) => constants.isInteger(i))) return undefined;
      const f = {
        Add: (x: number, y: number) => x + y,
        Sub: (x: number, y: number) => x - y,
        Mul: (x: number, y: number) => x * y,
        Div: (x: number, y: number) => Math.trunc(x / y),
      }[node.opType];
      return elementwise(a, b, f);
    }
  }
  return undefined;
}
