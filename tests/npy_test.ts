import assert from "node:assert/strict";
import { decodeNpy, encodeNpy, readNpy, writeNpy } from "../src/io/npy.ts";

Deno.test("npy round trip for every dtype, with a 64-byte aligned header numpy accepts", async () => {
  const dir = await Deno.makeTempDir();
  const cases = [
    { data: Float32Array.from([1.5, -2, 3e-8, 4, 5, 6]), shape: [2, 3], descr: "<f4" },
    { data: Float64Array.from([Math.PI]), shape: [1], descr: "<f8" },
    { data: Int32Array.from([-1, 0, 7, 9]), shape: [4], descr: "<i4" },
    { data: BigInt64Array.from([1n, -5n]), shape: [2, 1], descr: "<i8" },
    { data: Uint8Array.from([0, 255, 128, 1, 2, 3, 4, 5]), shape: [2, 2, 2], descr: "|u1" },
  ];
  for (const c of cases) {
    const bytes = encodeNpy(c.data, c.shape);
    const headerLen = new DataView(bytes.buffer).getUint16(8, true);
    assert.equal((10 + headerLen) % 64, 0);
    const text = new TextDecoder().decode(bytes.subarray(10, 10 + headerLen));
    assert.match(text, new RegExp(`'descr': '${c.descr.replace("|", "\\|")}'`));
    const path = `${dir}/a.npy`;
    await writeNpy(path, c.data, c.shape);
    const back = await readNpy(path);
    assert.deepEqual(back.shape, c.shape);
    assert.deepEqual(back.data, c.data);
  }
});

Deno.test("npy errors name the file and what was expected", () => {
  assert.throws(() => decodeNpy(new Uint8Array(20), "x.npy"), /x\.npy: not a \.npy file/);
  const bytes = encodeNpy(Float32Array.from([1, 2, 3, 4]), [4]);
  assert.throws(() => decodeNpy(bytes.subarray(0, bytes.length - 4), "t.npy"), /t\.npy: truncated/);
  assert.throws(() => encodeNpy(Float32Array.from([1, 2, 3]), [2, 2]), /do not fill shape/);
});

Deno.test("a Fortran-ordered .npy (as numpy saves a transposed array) reads back in row-major order", () => {
  // numpy.save(f, numpy.arange(6, dtype=numpy.float64).reshape(2, 3).T): column-major data 0 1 2 3 4 5 of the
  // 3 x 2 array [[0, 3], [1, 4], [2, 5]].
  const header = "{'descr': '<f8', 'fortran_order': True, 'shape': (3, 2), }";
  const padded = header.padEnd(117, " ") + "\n";
  const bytes = new Uint8Array(10 + padded.length + 48);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(bytes.buffer).setUint16(8, padded.length, true);
  bytes.set(new TextEncoder().encode(padded), 10);
  new Float64Array(bytes.buffer, 10 + padded.length, 6).set([0, 1, 2, 3, 4, 5]);
  const a = decodeNpy(bytes, "f.npy");
  assert.deepEqual(a.shape, [3, 2]);
  assert.deepEqual(Array.from(a.data as Float64Array), [0, 3, 1, 4, 2, 5]);
  const cube = "{'descr': '|u1', 'fortran_order': True, 'shape': (2, 3, 2), }".padEnd(117, " ") + "\n";
  const cubeBytes = new Uint8Array(10 + cube.length + 12);
  cubeBytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(cubeBytes.buffer).setUint16(8, cube.length, true);
  cubeBytes.set(new TextEncoder().encode(cube), 10);
  cubeBytes.set(Array.from({ length: 12 }, (_, i) => i), 10 + cube.length);
  // element (i, j, k) sits at i + 2 j + 6 k in column-major order
  const expected = [];
  for (let i = 0; i < 2; i++) {
    for (let j = 0; j < 3; j++) for (let k = 0; k < 2; k++) expected.push(i + 2 * j + 6 * k);
  }
  assert.deepEqual(Array.from(decodeNpy(cubeBytes, "c.npy").data as Uint8Array), expected);
});

Deno.test({
  name: "numpy reads what we write (when python3 with numpy is on the machine)",
  ignore: !(await new Deno.Command("python3", { args: ["-c", "import numpy"], stderr: "null" }).output()
    .then((o) => o.success).catch(() => false)),
  fn: async () => {
    const dir = await Deno.makeTempDir();
    await writeNpy(`${dir}/m.npy`, Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    const out = await new Deno.Command("python3", {
      args: ["-c", `import numpy as n; a=n.load('${dir}/m.npy'); print(a.dtype, a.shape, a[1,2])`],
    }).output();
    assert.equal(new TextDecoder().decode(out.stdout).trim(), "float32 (2, 3) 6.0");
    // and what numpy writes column-major reads back as numpy sees it
    const fortran = await new Deno.Command("python3", {
      args: [
        "-c",
        `import numpy as n; n.save('${dir}/f.npy', n.asfortranarray(n.arange(24.0).reshape(2, 3, 4)))`,
      ],
    }).output();
    assert.ok(fortran.success);
    const back = await readNpy(`${dir}/f.npy`);
    assert.deepEqual(back.shape, [2, 3, 4]);
    assert.deepEqual(Array.from(back.data as Float64Array), Array.from({ length: 24 }, (_, i) => i));
  },
});
