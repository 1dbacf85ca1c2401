// The random family: the GPU fill (fill.wgsl) and its CPU twin give the same values bit for bit, about half of
// them 0 and the rest in (0, 1); a different seed gives different values; and a fill too large for one grid
// row (a 2-D grid) still writes every element once.
import assert from "node:assert/strict";
import { fillSparseRandom, sparseRandomCpu } from "../kernels/random/mod.ts";
import { createStorageBuffer, readBuffer } from "../src/runtime/gpu.ts";
import { gpu, noGpu } from "./_helpers/gpu.ts";

Deno.test("the CPU twin draws sparse values in [0, 1) that depend on the seed", () => {
  const a = sparseRandomCpu(10000, 3);
  const zeros = a.filter((x) => x === 0).length;
  assert.ok(zeros > 4700 && zeros < 5300, `${zeros} zeros of 10000`);
  assert.ok(a.every((x) => x >= 0 && x < 1));
  assert.notDeepEqual(sparseRandomCpu(100, 4), a.subarray(0, 100));
});

Deno.test({
  name: "the GPU fill equals its CPU twin bit for bit, also on a 2-D grid",
  ignore: noGpu,
  fn: async () => {
    const device = gpu!.device;
    // More than 65535 workgroups of 256: the grid needs a second row.
    const counts = [1000, 65536 * 256 + 5];
    const buffers = counts.map((count) => createStorageBuffer(device, count * 4, 0, "fill test"));
    await fillSparseRandom(device, counts.map((count, i) => ({ buffer: buffers[i], count, seed: 11 + i })));
    for (const [i, count] of counts.entries()) {
      const got = new Float32Array(await readBuffer(device, buffers[i], count * 4));
      const want = sparseRandomCpu(count, 11 + i);
      const first = got.findIndex((x, j) => x !== want[j]);
      assert.equal(first, -1, `fill ${i}: element ${first} is ${got[first]}, the twin's ${want[first]}`);
      buffers[i].destroy();
    }
  },
});
