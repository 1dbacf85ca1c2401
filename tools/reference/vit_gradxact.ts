// Dev check: protoscope's Grad x Act at encoder.layers.encoder_layer_7 of a torchvision ViT export against
// torch's float64 autograd (export_vit.py --b32 writes both). Prints the max relative difference.
//   deno run -A tools/reference/vit_gradxact.ts /tmp/vit/vit_b_32.onnx /tmp/vit/vit_b_32_gradxact.npy [wasm|webgpu]
import { buildBackwardGraph, oneHotSeed } from "../../src/backward/mod.ts";
import { resolveLayer } from "../../src/model/layers.ts";
import { probeShapes } from "../../src/model/inspect.ts";
import { headFromTap, trunkWithTaps } from "../../src/model/surgery.ts";
import { readModel } from "../../src/onnx/model.ts";
import { readNpy } from "../../src/io/npy.ts";
import { createSession, ort } from "../../src/runtime/ort.ts";

const [modelPath, referencePath, ep = "wasm"] = Deno.args;
if (!modelPath || !referencePath) {
  console.error("usage: vit_gradxact.ts MODEL.onnx REFERENCE.npy [wasm|webgpu]");
  Deno.exit(2);
}
const model = await readModel(modelPath);
const tap = resolveLayer(model, "encoder.layers.encoder_layer_7").tensor;
const shape = (await probeShapes(model, [tap])).get(tap)!;
// export_vit.py's inputs(1): x[0, c, h, w] = 1.5 sin(0.05 (c + 1) h + 0.031 w) + 0.2 c.
const x = new Float32Array(3 * 224 * 224);
for (let c = 0; c < 3; c++) {
  for (let h = 0; h < 224; h++) {
    for (let w = 0; w < 224; w++) {
      x[(c * 224 + h) * 224 + w] = Math.sin(0.05 * (c + 1) * h + 0.031 * w) * 1.5 + 0.2 * c;
    }
  }
}
const trunk = await createSession(trunkWithTaps(model, [tap], { withLogits: false }), { ep: ep as "wasm" });
const taps = await trunk.session.run({
  [model.graph.input[0].name]: new ort.Tensor("float32", x, [1, 3, 224, 224]),
});
await trunk.session.release();
const head = headFromTap(model, tap, ["N", ...shape.slice(1)]);
const backward = await createSession(
  buildBackwardGraph(head, { method: "gradxact", outputs: ["attribution"] }),
  {
    ep: ep as "wasm",
  },
);
const started = performance.now();
const out = await backward.session.run({
  x: taps[tap],
  seed: new ort.Tensor("float32", oneHotSeed([417], 1000), [1, 1000]),
});
const seconds = (performance.now() - started) / 1000;
const ours = await out.attribution.getData() as Float32Array;
await backward.session.release();
const reference = (await readNpy(referencePath)).data as Float64Array;
let diff = 0, scale = 0;
for (let i = 0; i < reference.length; i++) {
  diff = Math.max(diff, Math.abs(ours[i] - reference[i]));
  scale = Math.max(scale, Math.abs(reference[i]));
}
console.log(
  JSON.stringify({ model: modelPath, tap, shape, ep, backwardSeconds: seconds, maxRelative: diff / scale }),
);
