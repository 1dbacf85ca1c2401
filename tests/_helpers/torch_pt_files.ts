// Builders of PyTorch .pt files for tests (there is no PyTorch on the development machines): pickles written
// opcode by opcode the way CPython's pickler (protocol 2) serializes torch tensors, and zips in torch.save's
// layout. Shared by the .pt reader test and the tests that read the reference's nmf_basis.pt folders.
import { zipSync } from "fflate";

/** Pickle bytes, written the way CPython's pickler emits them. */
export class PickleWriter {
  private bytes: number[] = [];
  op(...codes: number[]): this {
    this.bytes.push(...codes);
    return this;
  }
  text(s: string): this {
    for (const b of new TextEncoder().encode(s)) this.bytes.push(b);
    return this;
  }
  /** BINUNICODE: 'X', u32 length, utf-8. */
  str(s: string): this {
    const utf8 = new TextEncoder().encode(s);
    const n = utf8.length;
    return this.op(0x58, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24, ...utf8);
  }
  /** GLOBAL: 'c' module '\n' name '\n'. */
  global(module: string, name: string): this {
    return this.op(0x63).text(`${module}\n${name}\n`);
  }
  put(i: number): this {
    return this.op(0x71, i); // BINPUT
  }
  get(i: number): this {
    return this.op(0x68, i); // BINGET
  }
  /** Non-negative ints as CPython picks the opcode: BININT1 below 256, BININT2 below 65536, else BININT. */
  int(v: number): this {
    if (v < 0x100) return this.op(0x4b, v);
    if (v < 0x10000) return this.op(0x4d, v & 0xff, v >> 8);
    return this.op(0x4a, v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24);
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

export const MARK = 0x28, TUPLE = 0x74, TUPLE1 = 0x85, TUPLE2 = 0x86, BINPERSID = 0x51, NEWFALSE = 0x89;
export const EMPTY_TUPLE = 0x29, REDUCE = 0x52, STOP = 0x2e, EMPTY_DICT = 0x7d, SETITEMS = 0x75, BUILD = 0x62;

/** A zip in torch.save's layout: stored entries, storage data starting at 64-byte multiples. */
export function torchZip(pickle: Uint8Array, storages: Uint8Array[], prefix = "archive"): Uint8Array {
  const records: [string, Uint8Array][] = [
    [`${prefix}/data.pkl`, pickle],
    [`${prefix}/.format_version`, new TextEncoder().encode("1")],
    [`${prefix}/.storage_alignment`, new TextEncoder().encode("64")],
    [`${prefix}/byteorder`, new TextEncoder().encode("little")],
    ...storages.map((s, key): [string, Uint8Array] => [`${prefix}/data/${key}`, s]),
    [`${prefix}/version`, new TextEncoder().encode("3\n")],
    [
      `${prefix}/.data/serialization_id`,
      new TextEncoder().encode("1045289342198472340918273645091827364501"),
    ],
  ];
  const files: Record<string, [Uint8Array, { level: 0; mtime: Date; extra?: Record<number, Uint8Array> }]> =
    {};
  let offset = 0;
  const mtime = new Date(2024, 0, 1);
  for (const [name, data] of records) {
    const headerEnd = offset + 30 + name.length + 4; // local header + name + extra field header
    const pad = (64 - (headerEnd % 64)) % 64;
    // Padding field 'FB' (0x4246) filled with 'Z', like torch's writer.
    files[name] = [data, { level: 0, mtime, extra: { 0x4246: new Uint8Array(pad).fill(0x5a) } }];
    offset = headerEnd + pad + data.length;
  }
  return zipSync(files);
}

/**
 * The data.pkl of torch.save(t) for a contiguous tensor t of the given shape whose storage is
 * torch.<storageType> (e.g. "DoubleStorage") with `numel` elements: _rebuild_tensor_v2(storage, 0, size,
 * stride, False, OrderedDict()).
 */
export function contiguousTensorPickle(storageType: string, shape: number[]): Uint8Array {
  const numel = shape.reduce((a, b) => a * b, 1);
  const stride = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const w = new PickleWriter()
    .op(0x80, 0x02)
    .global("torch._utils", "_rebuild_tensor_v2").put(0)
    .op(MARK)
    .op(MARK).str("storage").put(1).global("torch", storageType).put(2).str("0").put(3).str("cpu").put(4)
    .int(numel).op(TUPLE).put(5).op(BINPERSID)
    .int(0);
  const tuple = (values: number[], memo: number) => {
    if (values.length === 1) w.int(values[0]).op(TUPLE1);
    else if (values.length === 2) w.int(values[0]).int(values[1]).op(TUPLE2);
    else {
      w.op(MARK);
      for (const v of values) w.int(v);
      w.op(TUPLE);
    }
    w.put(memo);
  };
  tuple(shape, 6);
  tuple(stride, 7);
  return w.op(NEWFALSE)
    .global("collections", "OrderedDict").put(8).op(EMPTY_TUPLE, REDUCE).put(9)
    .op(TUPLE).put(10)
    .op(REDUCE).put(11)
    .op(STOP)
    .finish();
}

/** torch.save(torch.tensor(values, dtype=float64).reshape(shape)) as bytes. */
export function float64TensorPt(values: ArrayLike<number>, shape: number[]): Uint8Array {
  const bytes = new Uint8Array(Float64Array.from(values).buffer);
  return torchZip(contiguousTensorPickle("DoubleStorage", shape), [bytes]);
}
