// Our DeepLift against captum's: LayerDeepLift (baseline all 1.0, multiplied by inputs) averaged over the
// noise tunnel's copies, computed once by captum 0.8 on torch 1.13 for the models and inputs of
// fixtures/captum_cases.ts (tools/reference/make_captum_cases.ts). On the wasm EP, the native CPU EP where
// onnxruntime-node loads and, where an adapter exists, on WebGPU.
import assert from "node:assert/strict";
import { Attributor } from "../src/pipeline/attribute/attributor.ts";
import { readNpy } from "../src/io/npy.ts";
import { encodeModel, sha256Hex } from "../src/onnx/model.ts";
import { TEST_EPS } from "./_helpers/eps.ts";
import { configureWasm } from "../src/runtime/ort.ts";
import { buildCaptumModel, CAPTUM_CASES, captumPixels } from "../fixtures/captum_cases.ts";
import { relativeError } from "./_helpers/numeric.ts";

configureWasm(1);
const ORT = { sanitizeResources: false, sanitizeOps: false };
const DIR = new URL("./testdata/captum/", import.meta.url).pathname;

/** The paper's map: channel mean of ReLU(attribution), n x h x w. */
function channelMeanOfRelu(a: Float32Array, n: number, c: number, hw: number): Float32Array {
  const out = new Float32Array(n * hw);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      for (let p = 0; p < hw; p++) out[i * hw + p] += Math.max(0, a[(i * c + ch) * hw + p]) / c;
    }
  }
  return out;
}

const model = buildCaptumModel();
const bytes = encodeModel(model);
const sha256 = await sha256Hex(bytes);

Deno.test("captum cases: the generated model is the one captum saw", async () => {
  const recorded = JSON.parse(await Deno.readTextFile(`${DIR}cases.json`));
  assert.equal(sha256, recorded.model.sha256, "fixtures/resnet50.ts changed: rerun make_captum_cases.ts");
});

for (const c of CAPTUM_CASES) {
  for (const { ep, ignore } of TEST_EPS) {
    Deno.test({
      name: `DeepLift = captum LayerDeepLift${
        c.settings.samples > 1 ? " + noise tunnel" : ""
      }: ${c.name}, ${ep}`,
      ignore,
      ...ORT,
      fn: async () => {
        const expected = await readNpy(`${DIR}${c.name}.npy`);
        const [n, channels, h, w] = expected.shape;
        const want = expected.data as Float32Array;
        const att = await Attributor.open(model, { path: "captum-case.onnx", sha256 }, c.layer, c.settings, {
          ep,
          saveRaw: true,
        });
        try {
          assert.deepEqual(att.tapShape, [channels, h, w]);
          const got = await att.attribute(captumPixels(n), n, c.targets, 0);
          const attributionError = relativeError(got.attributions!, want);
          const mapError = relativeError(got.maps, channelMeanOfRelu(want, n, channels, h * w));
          console.log(`${c.name} ${ep}: relative error attributions ${attributionError}, maps ${mapError}`);
          assert.ok(want.some((v) => v > 0) && want.some((v) => v < 0), "captum's attributions are trivial");
          assert.ok(attributionError < 1e-4, `attributions: relative error ${attributionError}`);
          assert.ok(mapError < 1e-4, `maps: relative error ${mapError}`);
        } finally {
          await att.release();
        }
      },
    });
  }
}
