// NumPy .npy (format 1.0/2.0) reading and writing for the dtypes protoscope exchanges with numpy users.
import { temporaryPath, writeAll, writeFileAtomic } from "./atomic.ts";
import { columnMajorStrides, forEachStrided } from "./strided.ts";

export type NpyDtype = "<f4" | "<f8" | "<i4" | "<i8" | "|u1";
export type NpyData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export interface NpyArray<T extends NpyData = NpyData> {
  dtype: NpyDtype;
  shape: number[];
  data: T;
}

const dtypeOf = (data: NpyData): NpyDtype => {
  if (data instanceof Float32Array) return "<f4";
  if (data instanceof Float64Array) return "<f8";
  if (data instanceof Int32Array) return "<i4";
  if (data instanceof BigInt64Array) return "<i8";
  return "|u1";
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

/** Header bytes for an array; exposed so large arrays can be streamed to disk after it. */
export function npyHeader(dtype: NpyDtype, shape: number[]): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const pre = 10;
  const pad = 64 - ((pre + dict.length + 1) % 64);
  dict = dict + " ".repeat(pad % 64) + "\n";
  const out = new Uint8Array(pre + dict.length);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, dict.length, true);
  out.set(new TextEncoder().encode(dict), pre);
  return out;
}

export function encodeNpy(data: NpyData, shape: number[]): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`npy: ${data.length} values do not fill shape [${shape}]`);
  const header = npyHeader(dtypeOf(data), shape);
  const out = new Uint8Array(header.length + data.byteLength);
  out.set(header, 0);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), header.length);
  return out;
}

export function writeNpy(path: string, data: NpyData, shape: number[]): Promise<void> {
  return writeFileAtomic(path, encodeNpy(data, shape));
}

export interface NpyLayout {
  dtype: NpyDtype;
  shape: number[];
  /** Byte offset of the first element. */
  offset: number;
  /** Column-major data (numpy's fortran_order, e.g. scikit-learn's components_ saved as is). */
  fortranOrder: boolean;
}

/** Parses the header; `source` names the file in errors. */
export function parseNpyHeader(bytes: Uint8Array, source: string): NpyLayout {
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) {
    throw new Error(`${source}: not a .npy file (bad magic bytes)`);
  }
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const text = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(text)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(text)?.[1];
  if (!descr || !fortran || shapeText === undefined) {
    throw new Error(`${source}: unreadable .npy header '${text}'`);
  }
  const known: Record<string, NpyDtype> = {
    "<f4": "<f4",
    "<f8": "<f8",
    "<i4": "<i4",
    "<i8": "<i8",
    "|u1": "|u1",
    "<u1": "|u1",
  };
  const dtype = known[descr];
  if (!dtype) {
    throw new Error(
      `${source}: dtype '${descr}' is not supported (expected float32, float64, int32, int64 or uint8)`,
    );
  }
  const shape = shapeText.split(",").map((s) => s.trim()).filter((s) => s.length).map(Number);
  return { dtype, shape, offset: start + headerLen, fortranOrder: fortran === "True" };
}

/** Column-major values of `shape` in row-major order. */
function fromFortranOrder<T extends NpyData>(data: T, shape: number[]): T {
  const out = new (data.constructor as new (n: number) => T)(data.length);
  forEachStrided(shape, columnMajorStrides(shape), 0, (i, src) => (out[i] = data[src]));
  return out;
}

/** Decodes a whole .npy; Fortran-ordered arrays come back in row-major order. */
export function decodeNpy(bytes: Uint8Array, source = "<npy>"): NpyArray {
  const { dtype, shape, offset, fortranOrder } = parseNpyHeader(bytes, source);
  const count = shape.reduce((a, b) => a * b, 1);
  const width = { "<f4": 4, "<f8": 8, "<i4": 4, "<i8": 8, "|u1": 1 }[dtype];
  if (bytes.length - offset < count * width) {
    throw new Error(
      `${source}: truncated .npy (${bytes.length - offset} data bytes, expected ${count * width})`,
    );
  }
  const buf = bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + count * width);
  const data = dtype === "<f4"
    ? new Float32Array(buf)
    : dtype === "<f8"
    ? new Float64Array(buf)
    : dtype === "<i4"
    ? new Int32Array(buf)
    : dtype === "<i8"
    ? new BigInt64Array(buf)
    : new Uint8Array(buf);
  return { dtype, shape, data: fortranOrder && shape.length > 1 ? fromFortranOrder(data, shape) : data };
}

export async function readNpy(path: string): Promise<NpyArray> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read (${(e as Error).message})`);
  }
  return decodeNpy(bytes, path);
}

/** Writes a large array row block by row block to `path` (via a temporary file, renamed when complete). */
export class NpyStreamWriter {
  private written = 0;
  private constructor(
    private readonly file: Deno.FsFile,
    private readonly tmp: string,
    private readonly path: string,
    private readonly expected: number,
  ) {}

  static async create(path: string, dtype: NpyDtype, shape: number[]): Promise<NpyStreamWriter> {
    await Deno.mkdir(path.slice(0, Math.max(0, path.lastIndexOf("/"))) || ".", { recursive: true });
    const tmp = temporaryPath(path);
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    const header = npyHeader(dtype, shape);
    await writeAll(file, header);
    const width = { "<f4": 4, "<f8": 8, "<i4": 4, "<i8": 8, "|u1": 1 }[dtype];
    return new NpyStreamWriter(file, tmp, path, shape.reduce((a, b) => a * b, 1) * width);
  }

  async append(data: NpyData): Promise<void> {
    await writeAll(this.file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.written += data.byteLength;
  }

  async finish(): Promise<void> {
    this.file.close();
    if (this.written !== this.expected) {
      throw new Error(`${this.path}: wrote ${this.written} data bytes, the header promises ${this.expected}`);
    }
    await Deno.rename(this.tmp, this.path);
  }
}
