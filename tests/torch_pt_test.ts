// The .pt reader against files built byte for byte in torch.save's layout.
//
// These archives are assembled here: a zip whose entries
// are archive/data.pkl, archive/.format_version, archive/.storage_alignment, archive/byteorder,
// archive/data/<key>, archive/version and archive/.data/serialization_id (torch 2.x order; storage data aligned
// to 64 bytes by a padding extra field, as torch's writer does), and data.pkl written opcode by opcode the way
// Python's pickler (protocol 2) serializes torch tensors, memo puts and gets included. The three pickles were
// checked byte-identical to CPython 3.11's pickle.Pickler(protocol=2) output for the same objects, with
// torch's classes stubbed by same-named Python classes reducing as torch.Tensor.__reduce_ex__ does.
// Files written by torch.save itself are read in torch_pt_pytorch_test.ts; these cover layouts torch 1.13 does
// not write (torch 2.x's archive/ prefix and alignment) and malformed files.
import assert from "node:assert/strict";
import { zipSync } from "fflate";
import { isTorchTensor, parseTorchPt, readTorchTensor, type TorchTensor } from "../src/io/torch_pt.ts";
import {
  BINPERSID,
  BUILD,
  EMPTY_DICT,
  EMPTY_TUPLE,
  MARK,
  NEWFALSE,
  PickleWriter,
  REDUCE,
  SETITEMS,
  STOP,
  torchZip,
  TUPLE,
  TUPLE1,
  TUPLE2,
} from "./_helpers/torch_pt_files.ts";

/** The data.pkl torch.save writes for one tensor over storage "0" (protocol 2, as CPython's pickler emits it). */
function tensorPickle(
  t: { storage: string; numel: number; offset: number; size: [number, number]; stride: [number, number] },
): Uint8Array {
  return new PickleWriter()
    .op(0x80, 0x02)
    .global("torch._utils", "_rebuild_tensor_v2").put(0)
    .op(MARK)
    .op(MARK).str("storage").put(1).global("torch", t.storage).put(2).str("0").put(3).str("cpu").put(4)
    .int(t.numel).op(TUPLE).put(5).op(BINPERSID)
    .int(t.offset)
    .int(t.size[0]).int(t.size[1]).op(TUPLE2).put(6)
    .int(t.stride[0]).int(t.stride[1]).op(TUPLE2).put(7)
    .op(NEWFALSE)
    .global("collections", "OrderedDict").put(8).op(EMPTY_TUPLE, REDUCE).put(9)
    .op(TUPLE).put(10)
    .op(REDUCE).put(11)
    .op(STOP)
    .finish();
}

/**
 * The exact data.pkl of torch.save(torch.arange(12, dtype=torch.float64).reshape(2, 6), f):
 *   \x80\x02 ctorch._utils\n_rebuild_tensor_v2\n q\x00
 *   ( ( X'storage' q\x01 ctorch\nDoubleStorage\n q\x02 X'0' q\x03 X'cpu' q\x04 K\x0c t q\x05 Q
 *     K\x00  K\x02 K\x06 \x86 q\x06  K\x06 K\x01 \x86 q\x07  \x89  ccollections\nOrderedDict\n q\x08 ) R q\x09
 *   t q\x0a R q\x0b .
 * i.e. _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, backward_hooks=OrderedDict()),
 * the storage as persistent id ("storage", torch.DoubleStorage, "0", "cpu", numel).
 */
function arangePickle(): Uint8Array {
  return tensorPickle({ storage: "DoubleStorage", numel: 12, offset: 0, size: [2, 6], stride: [6, 1] });
}

/**
 * A view saved whole: x = torch.arange(24, dtype=torch.float32).reshape(4, 6); y = x[1:, 1:5].t() gives size
 * (4, 3), stride (1, 6), storage offset 7 over the 24-element FloatStorage.
 */
function transposedViewPickle(): Uint8Array {
  return tensorPickle({ storage: "FloatStorage", numel: 24, offset: 7, size: [4, 3], stride: [1, 6] });
}

/**
 * A state-dict-like OrderedDict {"weight": 2x3 float32 (storage 0), "bias": 3 float32 (storage 1)} with the
 * `_metadata` attribute applied by BUILD. The second tensor reuses memoized objects through BINGET (the
 * rebuild function, "storage", FloatStorage, "cpu", OrderedDict), as the pickler does for repeated objects.
 */
function stateDictPickle(): Uint8Array {
  return new PickleWriter()
    .op(0x80, 0x02)
    .global("collections", "OrderedDict").put(0).op(EMPTY_TUPLE, REDUCE).put(1)
    .op(MARK)
    .str("weight").put(2)
    .global("torch._utils", "_rebuild_tensor_v2").put(3)
    .op(MARK)
    .op(MARK).str("storage").put(4).global("torch", "FloatStorage").put(5).str("0").put(6).str("cpu").put(7)
    .int(6).op(TUPLE).put(8).op(BINPERSID)
    .int(0).int(2).int(3).op(TUPLE2).put(9).int(3).int(1).op(TUPLE2).put(10).op(NEWFALSE)
    .get(0).op(EMPTY_TUPLE, REDUCE).put(11)
    .op(TUPLE).put(12).op(REDUCE).put(13)
    .str("bias").put(14)
    .get(3)
    .op(MARK)
    .op(MARK).get(4).get(5).str("1").put(15).get(7).int(3).op(TUPLE).put(16).op(BINPERSID)
    .int(0).int(3).op(TUPLE1).put(17).int(1).op(TUPLE1).put(18).op(NEWFALSE)
    .get(0).op(EMPTY_TUPLE, REDUCE).put(19)
    .op(TUPLE).put(20).op(REDUCE).put(21)
    .op(SETITEMS)
    .op(EMPTY_DICT).put(22).str("_metadata").put(23).op(EMPTY_DICT).put(24).op(0x73) // SETITEM
    .op(BUILD)
    .op(STOP)
    .finish();
}

function float64Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float64Array.from(values).buffer);
}

function float32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

Deno.test("reads torch.save(torch.arange(12, dtype=float64).reshape(2, 6)) from its exact bytes", async () => {
  const storage = float64Bytes(range(12));
  const zip = torchZip(arangePickle(), [storage]);
  // The layout really aligns the storage: its bytes start at a multiple of 64.
  const at = findBytes(zip, storage);
  assert.equal(at % 64, 0);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/arange.pt`, zip);
    const t = await readTorchTensor(`${dir}/arange.pt`);
    assert.equal(t.dtype, "float64");
    assert.deepEqual(t.shape, [2, 6]);
    assert.deepEqual(t.stride, [6, 1]);
    assert.equal(t.storageOffset, 0);
    assert.equal(t.requiresGrad, false);
    assert.ok(t.data instanceof Float64Array);
    assert.deepEqual(Array.from(t.data as Float64Array), range(12));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("applies storage offset and transposed strides", () => {
  const x = range(24);
  const t = parseTorchPt(torchZip(transposedViewPickle(), [float32Bytes(x)]), "view.pt") as TorchTensor;
  assert.equal(t.dtype, "float32");
  assert.deepEqual(t.shape, [4, 3]);
  assert.deepEqual(t.stride, [1, 6]);
  assert.equal(t.storageOffset, 7);
  // y[i][j] = x[1 + j][1 + i] = (1 + j) * 6 + 1 + i
  const want = range(4).flatMap((i) => range(3).map((j) => (1 + j) * 6 + 1 + i));
  assert.deepEqual(Array.from(t.data as Float32Array), want);
});

Deno.test("reads an OrderedDict of tensors with memo references, any archive prefix", () => {
  const weight = [0.5, -1, 2, 3.25, 4, -5];
  const bias = [7, 8, 9];
  const dict = parseTorchPt(
    torchZip(stateDictPickle(), [float32Bytes(weight), float32Bytes(bias)], "nmf_basis"),
    "state.pt",
  ) as Record<string, TorchTensor>;
  assert.deepEqual(Object.keys(dict), ["weight", "bias"]);
  assert.ok(isTorchTensor(dict.weight) && isTorchTensor(dict.bias));
  assert.deepEqual(dict.weight.shape, [2, 3]);
  assert.deepEqual(Array.from(dict.weight.data as Float32Array), weight);
  assert.deepEqual(dict.bias.shape, [3]);
  assert.deepEqual(Array.from(dict.bias.data as Float32Array), bias);
});

Deno.test("errors name the file and what was unexpected", async () => {
  assert.throws(() => parseTorchPt(new Uint8Array([0x80, 2, 0x8a, 10]), "old.pt"), /old\.pt: .*legacy/);
  assert.throws(
    () => parseTorchPt(zipSync({ "x/y.txt": new Uint8Array(1) }), "other.zip"),
    /other\.zip: .*data\.pkl/,
  );
  // Storage too small for the view.
  assert.throws(
    () => parseTorchPt(torchZip(transposedViewPickle(), [float32Bytes(range(20))]), "short.pt"),
    /short\.pt: storage 0 holds 80 bytes/,
  );
  // Truncated pickle.
  const cut = arangePickle().slice(0, 40);
  assert.throws(
    () => parseTorchPt(torchZip(cut, [float64Bytes(range(12))]), "cut.pt"),
    /cut\.pt: data\.pkl ends early/,
  );
  // An unknown opcode.
  const bad = Uint8Array.from([0x80, 0x02, 0x46, 0x2e]);
  assert.throws(() => parseTorchPt(torchZip(bad, []), "bad.pt"), /bad\.pt: .*unsupported pickle opcode 0x46/);
  // A dict where a tensor was expected.
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/dict.pt`;
    await Deno.writeFile(file, torchZip(stateDictPickle(), [float32Bytes(range(6)), float32Bytes(range(3))]));
    await assert.rejects(
      () => readTorchTensor(file),
      /dict\.pt: expected a single tensor, found an object with keys weight, bias/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function findBytes(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
