// Crop composites must hold exactly the pixels of the named cells, at the right offsets, for both crop sizes
// the paper uses, and their normalized tensor must equal the model-input formula of kernels/normalize/.
import assert from "node:assert/strict";
import { normalizeOnCpu } from "../kernels/normalize/mod.ts";
import {
  compositeRgbCpu,
  type CropCell,
  CropCompositor,
  cropGrid,
  cropSize,
} from "../kernels/composite/mod.ts";
import { benchComposites } from "../src/bench/composite.ts";
import { createStorageBuffer, readBuffer } from "../src/runtime/gpu.ts";
import { seededRandom } from "../src/runtime/random.ts";
import { gpu, noGpu } from "./_helpers/gpu.ts";

const device = gpu?.device;

const SIDE = 224;
const IMAGE_BYTES = SIDE * SIDE * 3;
const IMAGES = 6;

const random = seededRandom(2024);
const cache = Uint8Array.from({ length: IMAGES * IMAGE_BYTES }, () => Math.floor(random() * 256));

/** The source pixel, straight from the definition: cell origin = cell * size. */
function expected(cell: CropCell, size: number, row: number, col: number, ch: number): number {
  return cache[cell.image * IMAGE_BYTES + ((cell.y * size + row) * SIDE + cell.x * size + col) * 3 + ch];
}

function assertComposites(pixels: Uint8Array, composites: CropCell[][], size: number) {
  const k = composites[0].length;
  composites.forEach((cells, o) => {
    cells.forEach((cell, r) => {
      for (let row = 0; row < size; row++) {
        for (let col = 0; col < size; col++) {
          for (let ch = 0; ch < 3; ch++) {
            const at = ((o * k * size + r * size + row) * size + col) * 3 + ch;
            if (pixels[at] !== expected(cell, size, row, col, ch)) {
              assert.fail(`composite ${o} crop ${r} pixel (${row}, ${col}, ${ch}): ${pixels[at]}`);
            }
          }
        }
      }
    });
  });
}

const cells7: CropCell[][] = [
  [{ image: 0, y: 0, x: 0 }, { image: 5, y: 6, x: 6 }, { image: 2, y: 3, x: 1 }, { image: 2, y: 0, x: 6 }, {
    image: 4,
    y: 6,
    x: 0,
  }, { image: 1, y: 2, x: 5 }],
  [{ image: 3, y: 1, x: 1 }, { image: 0, y: 6, x: 3 }, { image: 5, y: 0, x: 0 }, { image: 3, y: 5, x: 4 }, {
    image: 1,
    y: 4,
    x: 2,
  }, { image: 4, y: 3, x: 6 }],
];
const cells3: CropCell[][] = [
  [{ image: 1, y: 2, x: 2 }, { image: 0, y: 0, x: 1 }, { image: 5, y: 1, x: 0 }],
  [{ image: 2, y: 0, x: 2 }, { image: 2, y: 2, x: 0 }, { image: 4, y: 1, x: 1 }],
  [{ image: 3, y: 2, x: 1 }, { image: 5, y: 0, x: 0 }, { image: 0, y: 1, x: 2 }],
];

Deno.test("crop sizes follow floor(224 / pooled width)", () => {
  assert.equal(cropSize(7), 32);
  assert.equal(cropSize(3), 74);
  assert.throws(() => cropSize(0), /pooledWidth/);
});

Deno.test("CPU composites and grids hold the named cells", () => {
  const { pixels, dims } = compositeRgbCpu(cache, cells7, 7);
  assert.deepEqual(dims, [2, 192, 32, 3]);
  assertComposites(pixels, cells7, 32);
  const grid = cropGrid(cache, [cells3[0], cells3[1].slice(0, 2)], 3, { gap: 2, background: 7 });
  assert.equal(grid.width, 3 * 74 + 2 * 2);
  assert.equal(grid.height, 2 * 74 + 2);
  const at = (row: number, col: number, ch: number) => grid.pixels[(row * grid.width + col) * 3 + ch];
  // Row 1, column 1 starts at (76, 76): crop (2, 0) of image 2.
  assert.equal(at(76 + 10, 76 + 20, 1), expected(cells3[1][1], 74, 10, 20, 1));
  assert.equal(at(73, 73, 2), expected(cells3[0][0], 74, 73, 73, 2));
  assert.equal(at(74, 10, 0), 7, "gap row");
  assert.equal(at(80, 2 * 76 + 5, 0), 7, "empty cell of the short row");
  assert.throws(() => compositeRgbCpu(cache, [[{ image: 0, y: 7, x: 0 }]], 7), /outside the 7x7 grid/);
  assert.throws(() => compositeRgbCpu(cache, [[{ image: 6, y: 0, x: 0 }]], 7), /image 6 is outside/);
});

Deno.test({
  name: "GPU uint8 composites are pixel-exact for 32 px and 74 px cells, from every image source",
  ignore: noGpu,
  fn: async () => {
    const compositor = await CropCompositor.create(device!);
    const loaded: number[] = [];
    const loader = (i: number) => (loaded.push(i), cache.subarray(i * IMAGE_BYTES, (i + 1) * IMAGE_BYTES));
    const onGpu = createStorageBuffer(device!, cache);
    try {
      for (const source of [cache, loader, onGpu]) {
        const seven = await compositor.rgb(source, cells7, 7);
        assert.deepEqual(seven.dims, [2, 192, 32, 3]);
        assertComposites(seven.pixels, cells7, 32);
        const three = await compositor.rgb(source, cells3, 3);
        assert.deepEqual(three.dims, [3, 222, 74, 3]);
        assertComposites(three.pixels, cells3, 74);
      }
      // Only the needed images were fetched, each once per call.
      assert.deepEqual(loaded.slice(0, 6), [0, 1, 2, 3, 4, 5]);
      assert.deepEqual(loaded.slice(6), [0, 1, 2, 3, 4, 5]);
      const two = await compositor.rgb(loader, [[{ image: 4, y: 1, x: 1 }]], 3);
      assertComposites(two.pixels, [[{ image: 4, y: 1, x: 1 }]], 74);
      assert.deepEqual(loaded.slice(12), [4]);
    } finally {
      onGpu.destroy();
    }
  },
});

Deno.test({
  name: "GPU normalized composite tensor equals the CPU normalization formula",
  ignore: noGpu,
  fn: async () => {
    const compositor = await CropCompositor.create(device!);
    for (const [cells, pooled, size] of [[cells7, 7, 32], [cells3, 3, 74]] as const) {
      const tensor = compositor.normalized(cache, cells as CropCell[][], pooled);
      const k = cells[0].length;
      assert.deepEqual(tensor.dims, [cells.length, 3, k * size, size]);
      const got = new Float32Array(
        await readBuffer(device!, tensor.buffer, tensor.dims.reduce((a, b) => a * b) * 4),
      );
      tensor.buffer.destroy();
      const rgb = compositeRgbCpu(cache, cells as CropCell[][], pooled);
      const want = normalizeOnCpu(rgb.pixels, cells.length, k * size, size);
      assert.equal(got.length, want.length);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
      assert.ok(worst < 1e-5, `max |GPU - CPU| = ${worst}`);
      // Spot check one value against the formula itself: composite 1, channel 2, crop 1, pixel (5, 9).
      const byte = expected(cells[1][1], size, 5, 9, 2);
      const at = ((1 * 3 + 2) * k * size + size + 5) * size + 9;
      assert.ok(Math.abs(got[at] - (byte / 255 - 0.406) / 0.225) < 1e-5);
    }
  },
});

Deno.test({
  name: "benchComposites measures composites per second",
  ignore: noGpu,
  fn: async () => {
    const r = await benchComposites(device!, { classes: 4, k: 6, size: 32, repeats: 2 });
    assert.ok(r.compositesPerSecond > 0 && Number.isFinite(r.compositesPerSecond));
    assert.ok(r.compositesPerSecondWithUpload > 0);
    await assert.rejects(() => benchComposites(device!, { classes: 1, k: 1, size: 33 }), /not floor/);
  },
});
