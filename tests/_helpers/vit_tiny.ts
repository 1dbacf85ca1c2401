// The small torchvision ViT that tools/reference/export_vit.py exported with torch 1.13 (vit_b_32's token
// layout and depth at width 24) and the inputs its reference data was computed on.
import { readModel } from "../../src/onnx/model.ts";
import type { Model } from "../../src/onnx/model.ts";
import { readNpy } from "../../src/io/npy.ts";

export const VIT_TINY_DIR = new URL("../testdata/vit/", import.meta.url);
export const VIT_LAYER = "encoder.layers.encoder_layer_7";
export const VIT_TAP = "/encoder/layers/encoder_layer_7/Add_1_output_0";

export function readVitTiny(): Promise<Model> {
  return readModel(new URL("vit_tiny.onnx", VIT_TINY_DIR).pathname);
}

/** export_vit.py's `inputs(n)`: normalized-space images [n, 3, 224, 224] from a formula, not a file. */
export function vitInputs(n: number): Float32Array {
  const x = new Float32Array(n * 3 * 224 * 224);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      for (let h = 0; h < 224; h++) {
        for (let w = 0; w < 224; w++) {
          x[((i * 3 + c) * 224 + h) * 224 + w] =
            Math.sin(0.05 * (c + 1) * h + 0.031 * (i + 1) * w + i) * 1.5 +
            0.2 * c;
        }
      }
    }
  }
  return x;
}

/** export_vit.py's `pixel_inputs(n)`: n x 224 x 224 x 3 uint8. */
export function pixelInputs(n: number): Uint8Array {
  const px = new Uint8Array(n * 224 * 224 * 3);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < 224; y++) {
      for (let x = 0; x < 224; x++) {
        for (let c = 0; c < 3; c++) {
          px[((i * 224 + y) * 224 + x) * 3 + c] = (37 * i + 3 * y + 5 * x + 61 * c + ((x * y) % 17)) % 256;
        }
      }
    }
  }
  return px;
}

/** The reference data's targets and torch's float64 logits [n, 1000], row-major. */
export async function vitReference(): Promise<{ targets: number[]; logits: Float64Array; shape: number[] }> {
  const json = JSON.parse(await Deno.readTextFile(new URL("vit_tiny_gradxact.json", VIT_TINY_DIR)));
  const logits = await readNpy(new URL("vit_tiny_logits.npy", VIT_TINY_DIR).pathname);
  return { targets: json.targets, logits: logits.data as Float64Array, shape: json.shape };
}
