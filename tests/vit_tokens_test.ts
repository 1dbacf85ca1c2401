// Tokens as positions on a torchvision ViT tap: the patch grid from the patch embedding, the class token apart,
// and the reference's transposed axes as an option.
import assert from "node:assert/strict";
import { patchBox, patchSize, tokenLayout, tokenRows, tokensAsGrid } from "../src/model/tokens.ts";
import { buildFixtureModel } from "../fixtures/fixture_model.ts";
import { readVitTiny, VIT_LAYER } from "./_helpers/vit_tiny.ts";

/** A [n, t, c] tap whose value names its place: image * 10000 + token * 100 + channel. */
function labelledTap(n: number, t: number, c: number): Float32Array {
  return Float32Array.from({ length: n * t * c }, (_, k) => {
    const i = Math.floor(k / (t * c)), tok = Math.floor(k / c) % t, ch = k % c;
    return i * 10000 + tok * 100 + ch;
  });
}

Deno.test("torchvision ViT B/32 layout: 32 px patches, a 7 x 7 grid after one class token", async () => {
  const model = await readVitTiny();
  assert.equal(patchSize(model), 32);
  const layout = tokenLayout(model, VIT_LAYER, [1, 50, 24]);
  assert.deepEqual(layout, { tokens: 50, channels: 24, patch: 32, gridH: 7, gridW: 7, prefix: 1 });
  assert.deepEqual(patchBox(layout, 0), [0, 0, 32, 32]);
  assert.deepEqual(patchBox(layout, 9), [32, 64, 32, 32]);
  assert.throws(() => tokenLayout(model, VIT_LAYER, [1, 40, 24]), /40 tokens, fewer than the 7 x 7 patches/);
  assert.throws(() => tokenLayout(model, VIT_LAYER, [1, 24, 7, 7]), /a token tap is \[N, T, C\]/);
});

Deno.test("a CNN has no patch embedding, and a rank-3 tap on it fails naming the layer", () => {
  const model = buildFixtureModel();
  assert.equal(patchSize(model), undefined);
  assert.throws(() => tokenLayout(model, "layer3", [1, 50, 24]), /--layer layer3: .* no patch embedding/);
});

Deno.test("token rows: patches only, with the class token, and the reference's axes", () => {
  const layout = { tokens: 5, channels: 3, patch: 32, gridH: 2, gridW: 2, prefix: 1 };
  const tap = labelledTap(2, 5, 3);
  const patches = tokenRows(tap, 2, layout, "patches");
  assert.equal(patches.length, 2 * 4 * 3);
  // Row 5 is image 1's second patch, i.e. token 2.
  assert.deepEqual([...patches.subarray(15, 18)], [10200, 10201, 10202]);
  const withCls = tokenRows(tap, 2, layout, "patches+cls");
  assert.equal(withCls.length, 2 * 5 * 3);
  assert.deepEqual([...withCls.subarray(15, 18)], [10000, 10001, 10002]);
  assert.deepEqual([...withCls.subarray(18, 21)], [10100, 10101, 10102]);
  // core/core.py: rows are (image, channel), features the 5 tokens.
  const reference = tokenRows(tap, 2, layout, "reference");
  assert.equal(reference.length, 2 * 3 * 5);
  assert.deepEqual([...reference.subarray(4 * 5, 5 * 5)], [10001, 10101, 10201, 10301, 10401]);
  const grid = tokensAsGrid(tap, 2, layout);
  // [n, c, y, x]: image 1, channel 2, y 1, x 0 is patch 2, token 3.
  assert.equal(grid[((1 * 3 + 2) * 2 + 1) * 2 + 0], 10302);
});
