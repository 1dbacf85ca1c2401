// How a signed tap becomes NMF rows (src/pipeline/concepts/signed_rows.ts), and the attribution-cache key of
// a transformer tap naming its token reading while a CNN's key stays what it was.
import assert from "node:assert/strict";
import {
  defaultSignedMode,
  nmfChannels,
  nonNegativeActivations,
  signedPrototypes,
} from "../src/pipeline/concepts/signed_rows.ts";
import { AttributionCache } from "../src/pipeline/attribute/class_attribution.ts";
import type { Attributor } from "../src/pipeline/attribute/attributor.ts";

// 2 images x C = 2 channels x hw = 3 positions (NCHW).
const ACTS = Float32Array.from([1, -2, 0, 3, -1, 4, -5, 6, 0.5, 0, 0, -7]);
const MAPS = Float32Array.from([1, 1, 1, 1, 1, 0]);

Deno.test("split: [ReLU(x), ReLU(-x)] per image, 2C features, and p+ - p- gives x back", () => {
  const split = nonNegativeActivations(ACTS, MAPS, 2, 3, "split", "L");
  assert.equal(nmfChannels("split", 2), 4);
  assert.deepEqual(
    [...split],
    [1, 0, 0, 3, 0, 4, 0, 2, 0, 0, 1, 0, 0, 6, 0.5, 0, 0, 0, 5, 0, 0, 0, 0, 7],
  );
  // Read as "prototypes" (rows of 2C), the images' split vectors at position 0 return to their signed values.
  const rows = Float32Array.from([1, 3, 0, 0, 0, 0, 5, 0]);
  assert.deepEqual([...signedPrototypes(rows, 2, 2)], [1, 3, -5, 0]);
});

Deno.test("relu clips; refuse names the first negative weighted entry and passes one under a zero map", () => {
  assert.deepEqual([...nonNegativeActivations(ACTS, MAPS, 2, 3, "relu", "L")], [
    1,
    0,
    0,
    3,
    0,
    4,
    0,
    6,
    0.5,
    0,
    0,
    0,
  ]);
  assert.throws(
    () => nonNegativeActivations(ACTS, MAPS, 2, 3, "refuse", "blk"),
    /--layer blk: the weighted activations are negative \(image 0, position 1, channel 0: -2\).*--signed split/,
  );
  // Image 1 alone: -5 at position 0 is refused; its -7 sits where the map is 0 (a zero row), which passes.
  const one = ACTS.slice(6), oneMap = MAPS.slice(3);
  assert.throws(
    () => nonNegativeActivations(one, oneMap, 2, 3, "refuse", "blk"),
    /position 0, channel 0: -5/,
  );
  one[0] = 5;
  assert.equal(nonNegativeActivations(one, oneMap, 2, 3, "refuse", "blk"), one);
  assert.equal(defaultSignedMode(true), "split");
  assert.equal(defaultSignedMode(false), "refuse");
});

Deno.test("attribution-cache key: a ViT tap's --tokens is part of it, a CNN tap's key is unchanged", async () => {
  const root = await Deno.makeTempDir();
  try {
    const settings = { method: "deeplift", samples: 20, sigma: 0.25, seed: 0 };
    const fake = (axes?: string) =>
      ({ tapTensor: "t", settings, tokens: axes ? { axes } : undefined }) as unknown as Attributor;
    const key = async (axes?: string) => (await AttributionCache.forRun(root, fake(axes), "sha", 4))!.key;
    const cnn = await AttributionCache.open(root, { modelSha256: "sha", tapTensor: "t", settings, batch: 4 });
    assert.equal(await key(), cnn.key);
    const keys = new Set([
      await key(),
      await key("patches"),
      await key("patches+cls"),
      await key("reference"),
    ]);
    assert.equal(keys.size, 4);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
