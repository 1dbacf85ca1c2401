// Reads PyTorch .pt files (torch.save's zip format, torch >= 1.6) without Python: the reference's NMF bases
// (`<class>/nmf/nmf_basis.pt`, a k x C float64 tensor) and similar tensors or dicts of tensors.
//
// Format: a zip archive whose entries share one folder prefix (usually "archive", or the file's stem):
// `<prefix>/data.pkl` is a pickle (protocol 2) of the saved object in which each tensor is
// torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks) and each
// storage is a persistent id ("storage", torch.<Type>Storage, key, location, numel) whose raw bytes are the
// entry `<prefix>/data/<key>`; `<prefix>/byteorder` says "little" or "big" (absent: little).
import { unzipSync } from "fflate";
import { forEachStrided } from "./strided.ts";

export type TorchDtype =
  | "float64"
  | "float32"
  | "float16"
  | "bfloat16"
  | "int64"
  | "int32"
  | "int16"
  | "int8"
  | "uint8"
  | "bool";

export type TorchData =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

export interface TorchTensor {
  dtype: TorchDtype;
  shape: number[];
  /** Strides (in elements) as stored in the file. */
  stride: number[];
  /** Offset (in elements) of the first value in its storage, as stored in the file. */
  storageOffset: number;
  /**
   * The values in row-major order of `shape` (strides and offset already applied). float16 and bfloat16 are
   * widened to Float32Array, int64 is a BigInt64Array, bool a Uint8Array of 0/1.
   */
  data: TorchData;
  requiresGrad: boolean;
}

/** A Python object the reader does not model (an unknown class or callable), kept for inspection. */
export class PickleObject {
  state: unknown = undefined;
  constructor(readonly callable: string, readonly args: unknown[]) {}
}

/** A module-level name (class or function) referenced by GLOBAL. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

interface Storage {
  dtype: TorchDtype;
  numel: number;
  bytes: Uint8Array;
}

const STORAGE_TYPES: Record<string, TorchDtype> = {
  DoubleStorage: "float64",
  FloatStorage: "float32",
  HalfStorage: "float16",
  BFloat16Storage: "bfloat16",
  LongStorage: "int64",
  IntStorage: "int32",
  ShortStorage: "int16",
  CharStorage: "int8",
  ByteStorage: "uint8",
  BoolStorage: "bool",
};

const ELEMENT_BYTES: Record<TorchDtype, number> = {
  float64: 8,
  float32: 4,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

export function isTorchTensor(value: unknown): value is TorchTensor {
  return typeof value === "object" && value !== null && "dtype" in value && "shape" in value &&
    "data" in value && ArrayBuffer.isView((value as TorchTensor).data);
}

/** The object saved in a .pt file: a TorchTensor, an object of them, an array, numbers, strings... */
export async function readTorchPt(path: string): Promise<unknown> {
  return parseTorchPt(await Deno.readFile(path), path);
}

/** Reads a .pt file that must hold a single tensor. */
export async function readTorchTensor(path: string): Promise<TorchTensor> {
  const value = await readTorchPt(path);
  if (!isTorchTensor(value)) throw new Error(`${path}: expected a single tensor, found ${describe(value)}`);
  return value;
}

function describe(value: unknown): string {
  if (value === null) return "None";
  if (Array.isArray(value)) return `a sequence of ${value.length}`;
  if (value instanceof PickleObject) return `an object of ${value.callable}`;
  if (typeof value === "object") return `an object with keys ${Object.keys(value).slice(0, 5).join(", ")}`;
  return typeof value;
}

/** Parses the bytes of a .pt file; `fileName` names it in errors. */
export function parseTorchPt(bytes: Uint8Array, fileName: string): unknown {
  const zipMagic = bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
  if (!zipMagic) {
    const legacy = bytes[0] === 0x80
      ? " (this looks like the legacy pre-1.6 torch.save format; re-save it with torch >= 1.6)"
      : "";
    throw new Error(`${fileName}: not a torch.save zip archive${legacy}`);
  }
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes);
  } catch (e) {
    throw new Error(`${fileName}: unreadable zip archive: ${(e as Error).message}`);
  }
  const pickles = Object.keys(entries).filter((name) => /^[^/]*\/data\.pkl$/.test(name));
  if (pickles.length !== 1) {
    const names = Object.keys(entries).slice(0, 8).join(", ");
    throw new Error(
      `${fileName}: expected exactly one <prefix>/data.pkl entry, found ${pickles.length} (entries: ${names})`,
    );
  }
  const prefix = pickles[0].slice(0, -"data.pkl".length);
  const order = entries[`${prefix}byteorder`];
  const byteOrder = order ? new TextDecoder().decode(order).trim() : "little";
  if (byteOrder !== "little" && byteOrder !== "big") {
    throw new Error(`${fileName}: unknown byteorder record "${byteOrder}"`);
  }
  const storages = new Map<string, Storage>();
  const persistentLoad = (pid: unknown): Storage => {
    if (!Array.isArray(pid) || pid[0] !== "storage" || pid.length < 5) {
      throw new Error(`${fileName}: unexpected persistent id ${JSON.stringify(pid)}`);
    }
    const [, type, key, , numel] = pid;
    if (!(type instanceof PyGlobal) || !(type.name in STORAGE_TYPES)) {
      const name = type instanceof PyGlobal ? type.qualified : String(type);
      throw new Error(`${fileName}: unsupported storage type ${name}`);
    }
    const cached = storages.get(String(key));
    if (cached) return cached;
    const dtype = STORAGE_TYPES[type.name];
    const raw = entries[`${prefix}data/${key}`];
    if (!raw) throw new Error(`${fileName}: storage entry ${prefix}data/${key} is missing`);
    if (raw.length < Number(numel) * ELEMENT_BYTES[dtype]) {
      throw new Error(`${fileName}: storage ${key} holds ${raw.length} bytes, need ${numel} x ${dtype}`);
    }
    const storage = { dtype, numel: Number(numel), bytes: raw };
    storages.set(String(key), storage);
    return storage;
  };
  const rebuild = (callable: PyGlobal, args: unknown[]): unknown => {
    switch (callable.qualified) {
      case "torch._utils._rebuild_tensor_v2":
      case "torch._utils._rebuild_tensor":
        return rebuildTensor(args, byteOrder === "little", fileName);
      case "torch._utils._rebuild_parameter":
      case "torch._utils._rebuild_parameter_with_state":
        return args[0];
      case "collections.OrderedDict":
      case "builtins.dict":
        return new Map(Array.isArray(args[0]) ? (args[0] as [unknown, unknown][]) : []);
      default:
        return new PickleObject(callable.qualified, args);
    }
  };
  return toPlain(unpickle(entries[pickles[0]], { fileName, persistentLoad, rebuild }), new Map());
}

function rebuildTensor(args: unknown[], littleEndian: boolean, fileName: string): TorchTensor {
  const [storage, offset, size, stride, requiresGrad] = args as [
    Storage,
    number,
    number[],
    number[],
    boolean,
  ];
  if (!storage || typeof storage !== "object" || !("bytes" in storage)) {
    throw new Error(`${fileName}: tensor without a storage`);
  }
  const shape = (size ?? []).map(Number);
  const strides = (stride ?? []).map(Number);
  if (shape.length !== strides.length) {
    throw new Error(
      `${fileName}: tensor size ${JSON.stringify(shape)} and stride ${
        JSON.stringify(strides)
      } differ in rank`,
    );
  }
  const storageOffset = Number(offset ?? 0);
  const numel = shape.reduce((a, b) => a * b, 1);
  if (numel > 0) {
    let last = storageOffset;
    shape.forEach((n, d) => (last += (n - 1) * strides[d]));
    if (storageOffset < 0 || strides.some((s) => s < 0) || last >= storage.numel) {
      throw new Error(
        `${fileName}: tensor view (offset ${storageOffset}, size ${JSON.stringify(shape)}, stride ${
          JSON.stringify(strides)
        }) reaches outside its storage of ${storage.numel} elements`,
      );
    }
  }
  const view = new DataView(storage.bytes.buffer, storage.bytes.byteOffset, storage.bytes.byteLength);
  const data = allocate(storage.dtype, numel);
  const read = elementReader(storage.dtype, view, littleEndian);
  forEachStrided(shape, strides, storageOffset, (i, src) => {
    (data as { [i: number]: number | bigint })[i] = read(src);
  });
  return {
    dtype: storage.dtype,
    shape,
    stride: strides,
    storageOffset,
    data,
    requiresGrad: requiresGrad === true,
  };
}

function allocate(dtype: TorchDtype, n: number): TorchData {
  switch (dtype) {
    case "float64":
      return new Float64Array(n);
    case "float32":
    case "float16":
    case "bfloat16":
      return new Float32Array(n);
    case "int64":
      return new BigInt64Array(n);
    case "int32":
      return new Int32Array(n);
    case "int16":
      return new Int16Array(n);
    case "int8":
      return new Int8Array(n);
    case "uint8":
    case "bool":
      return new Uint8Array(n);
  }
}

function elementReader(dtype: TorchDtype, view: DataView, le: boolean): (i: number) => number | bigint {
  switch (dtype) {
    case "float64":
      return (i) => view.getFloat64(i * 8, le);
    case "float32":
      return (i) => view.getFloat32(i * 4, le);
    case "float16":
      return (i) => halfToFloat(view.getUint16(i * 2, le));
    case "bfloat16": {
      const scratch = new DataView(new ArrayBuffer(4));
      return (i) => (scratch.setUint32(0, view.getUint16(i * 2, le) << 16), scratch.getFloat32(0));
    }
    case "int64":
      return (i) => view.getBigInt64(i * 8, le);
    case "int32":
      return (i) => view.getInt32(i * 4, le);
    case "int16":
      return (i) => view.getInt16(i * 2, le);
    case "int8":
      return (i) => view.getInt8(i);
    case "uint8":
      return (i) => view.getUint8(i);
    case "bool":
      return (i) => (view.getUint8(i) ? 1 : 0);
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Dicts with only string keys become plain objects (state dicts read naturally); identity is preserved. */
function toPlain(value: unknown, seen: Map<unknown, unknown>): unknown {
  if (typeof value !== "object" || value === null || ArrayBuffer.isView(value)) return value;
  if (seen.has(value)) return seen.get(value);
  if (value instanceof Map) {
    if ([...value.keys()].every((k) => typeof k === "string")) {
      const out: Record<string, unknown> = {};
      seen.set(value, out);
      for (const [k, v] of value) {
        Object.defineProperty(out, k, {
          value: toPlain(v, seen),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    const out = new Map();
    seen.set(value, out);
    for (const [k, v] of value) out.set(toPlain(k, seen), toPlain(v, seen));
    return out;
  }
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    seen.set(value, out);
    for (const v of value) out.push(toPlain(v, seen));
    return out;
  }
  if (value instanceof PickleObject) {
    seen.set(value, value);
    value.state = toPlain(value.state, seen);
    return value;
  }
  return value;
}

export interface UnpickleOptions {
  /** Names the pickle's file in errors. */
  fileName: string;
  /** Resolves BINPERSID ids (torch: storages). */
  persistentLoad: (pid: unknown) => unknown;
  /** Applies REDUCE / NEWOBJ of a global callable to its arguments. */
  rebuild: (callable: PyGlobal, args: unknown[]) => unknown;
}

const MARK = Symbol("mark");

/**
 * A minimal pickle virtual machine (protocols 2-5) for the opcodes torch.save emits. Tuples and lists become
 * arrays, dicts Maps, None null, ints numbers (bigint beyond 2^53), bytes Uint8Array.
 */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions): unknown {
  const { fileName } = opts;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const latin1 = new TextDecoder("latin1");
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  let pos = 0;

  const fail = (what: string): never => {
    throw new Error(`${fileName}: data.pkl ${what} at byte ${pos}`);
  };
  const need = (n: number) => {
    if (pos + n > bytes.length) fail("ends early");
  };
  const u8 = () => (need(1), bytes[pos++]);
  const u16 = () => (need(2), pos += 2, view.getUint16(pos - 2, true));
  const i32 = () => (need(4), pos += 4, view.getInt32(pos - 4, true));
  const u32 = () => (need(4), pos += 4, view.getUint32(pos - 4, true));
  const u64 = () => (need(8), pos += 8, Number(view.getBigUint64(pos - 8, true)));
  const take = (n: number) => (need(n), pos += n, bytes.subarray(pos - n, pos));
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail("has an unterminated text line");
    const text = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return text;
  };
  const pop = () => (stack.length === 0 ? fail("pops an empty stack") : stack.pop());
  const top = () => (stack.length === 0 ? fail("reads an empty stack") : stack[stack.length - 1]);
  const popMark = (): unknown[] => {
    const at = stack.lastIndexOf(MARK);
    if (at < 0) fail("has no MARK for a sequence");
    const items = stack.splice(at);
    items.shift();
    return items;
  };
  const long = (raw: Uint8Array): number | bigint => {
    let v = 0n;
    for (let i = raw.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(raw[i]);
    if (raw.length > 0 && raw[raw.length - 1] & 0x80) v -= 1n << BigInt(8 * raw.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const setItems = (dict: unknown, items: unknown[]) => {
    if (!(dict instanceof Map)) fail("sets items on a non-dict");
    for (let i = 0; i + 1 < items.length; i += 2) (dict as Map<unknown, unknown>).set(items[i], items[i + 1]);
  };
  const apply = (callable: unknown, args: unknown): unknown => {
    if (!(callable instanceof PyGlobal)) fail("calls something that is not a global");
    if (!Array.isArray(args)) fail("calls with non-tuple arguments");
    return opts.rebuild(callable as PyGlobal, args as unknown[]);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) fail(`stops with ${stack.length} values on the stack`);
        return stack[0];
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(long(take(u8())));
        break;
      case 0x8b: // LONG4
        stack.push(long(take(u32())));
        break;
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        pos += 8;
        stack.push(view.getFloat64(pos - 8, false));
        break;
      case 0x58: // BINUNICODE
        stack.push(utf8.decode(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8.decode(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8.decode(take(u64())));
        break;
      case 0x54: // BINSTRING
        stack.push(latin1.decode(take(i32())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1.decode(take(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
        stack.push(take(u64()).slice());
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x74: // TUPLE
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x61: { // APPEND
        const v = pop();
        const list = top();
        if (!Array.isArray(list)) fail("appends to a non-list");
        (list as unknown[]).push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) fail("appends to a non-list");
        (list as unknown[]).push(...items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: { // DICT
        const dict = new Map();
        setItems(dict, popMark());
        stack.push(dict);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: { // ADDITEMS
        const items = popMark();
        const set = top();
        if (!(set instanceof Set)) fail("adds items to a non-set");
        for (const v of items) (set as Set<unknown>).add(v);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()));
        break;
      case 0x63: { // GLOBAL
        const module = line();
        stack.push(new PyGlobal(module, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof name !== "string" || typeof module !== "string") {
          fail("has a STACK_GLOBAL without strings");
        }
        stack.push(new PyGlobal(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        stack.push(apply(pop(), args));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop();
        stack.push(apply(pop(), args));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        pop(); // kwargs
        const args = pop();
        stack.push(apply(pop(), args));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        // Tensors and dicts carry no state the reader needs (e.g. a state dict's _metadata).
        if (obj instanceof PickleObject) obj.state = state;
        break;
      }
      case 0x51: // BINPERSID
        stack.push(opts.persistentLoad(pop()));
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: { // LONG_BINGET
        const key = op === 0x68 ? u8() : u32();
        if (!memo.has(key)) fail(`refers to memo ${key}, which was never stored`);
        stack.push(memo.get(key));
        break;
      }
      default:
        pos--;
        fail(`has unsupported pickle opcode 0x${op.toString(16).padStart(2, "0")}`);
    }
  }
}
