// Dev-only: protoscope's DeepLift at a layer of any ONNX classifier (e.g. a real torchvision export from
// export_torchvision.py) on fixtures/captum_cases.ts's images, plus the normalized inputs, for
// captum_layer_deeplift.py to recompute:
//   deno run -A tools/reference/attribute_export.ts MODEL.onnx LAYER OUT_DIR [wasm|webgpu]
// writes OUT_DIR/inputs.npy, OUT_DIR/attributions.npy and prints the tap tensor and the captum command.
import { join, resolve } from "node:path";
import { readModel, sha256File } from "../../src/onnx/model.ts";
import { Attributor } from "../../src/pipeline/attribute/attributor.ts";
import { writeNpy } from "../../src/io/npy.ts";
import { normalizeOnCpu } from "../../kernels/normalize/mod.ts";
import { resolveLayer } from "../../src/model/layers.ts";
import { captumPixels } from "../../fixtures/captum_cases.ts";

const [modelPath, layer, outDir, ep = "wasm"] = Deno.args;
if (!outDir) throw new Error("usage: attribute_export.ts MODEL.onnx LAYER OUT_DIR [wasm|webgpu]");
const targets = [3, 7];
const n = targets.length;
const pixels = captumPixels(n);
const model = await readModel(modelPath);
const att = await Attributor.open(
  model,
  { path: modelPath, sha256: await sha256File(modelPath) },
  layer,
  { method: "deeplift", samples: 1, sigma: 0, seed: 0 },
  { ep: ep as "wasm" | "webgpu", saveRaw: true },
);
const result = await att.attribute(pixels, n, targets, 0);
await Deno.mkdir(outDir, { recursive: true });
await writeNpy(join(outDir, "inputs.npy"), normalizeOnCpu(pixels, n, 224, 224), [n, 3, 224, 224]);
await writeNpy(join(outDir, "attributions.npy"), result.attributions!, [n, ...att.tapShape]);
await att.release();
const tap = resolveLayer(model, layer).tensor;
console.log(
  `tap ${tap}\ncaptum: cd tools/reference && PYTHONPATH=CAPTUM python3 captum_layer_deeplift.py ` +
    `${resolve(modelPath)} ${tap} ${resolve(outDir)}/inputs.npy 1 ${targets.join(",")} ${
      resolve(outDir)
    }/captum.npy`,
);
