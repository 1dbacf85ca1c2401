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
  },
});
