// The model cut at a ViT block for the contrast tests (shifting, masking): the head is fed back from the
// positions, so every token must be one (the class token among them, or the reference's axes); the cut
// reproduces the whole model's probabilities.
import assert from "node:assert/strict";
import { SplitModel } from "../src/model/split_model.ts";
import { Classifier, softmaxRows } from "../src/model/classifier.ts";
import { relativeError } from "./_helpers/numeric.ts";
import { pixelInputs, VIT_LAYER, VIT_TINY_DIR } from "./_helpers/vit_tiny.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };
const MODEL = new URL("vit_tiny.onnx", VIT_TINY_DIR).pathname;

Deno.test(
  "SplitModel at a ViT block: the head on the tokens' positions reproduces the model",
  ORT_TEST,
  async () => {
    const pixels = pixelInputs(2);
    const whole = await Classifier.open(MODEL, { ep: "wasm" });
    const expected = softmaxRows((await whole.forward(pixels, 2)).logits!, 1000);
    await whole.release();
    for (const [axes, shape] of [["patches+cls", [24, 1, 50]], ["reference", [50, 24, 1]]] as const) {
      const split = await SplitModel.open(MODEL, VIT_LAYER, "wasm", axes);
      try {
        assert.deepEqual(split.tapShape, shape);
        const activations = await split.activations(pixels, 2);
        assert.equal(activations.length, 2 * 50 * 24);
        const err = relativeError(await split.headProbabilities(activations, 2), expected);
        assert.ok(err < 1e-5, `${axes}: ${err}`);
      } finally {
        await split.release();
      }
    }
    // Patch positions alone cannot feed the head: the class token would be lost.
    await assert.rejects(
      () => SplitModel.open(MODEL, VIT_LAYER, "wasm"),
      /--layer encoder\.layers\.encoder_layer_7: 1 of the 50 tokens are no position under 'patches'/,
    );
  },
);
