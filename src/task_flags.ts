// Command-line flags that several tasks share, defined once so their names, defaults and help agree.
import { choiceArg, type Flags, floatArg, intArg } from "./cli.ts";
import { type AttributionSettings, PAPER_ATTRIBUTION } from "./attribute.ts";
import { EP_HELP } from "./runtime/ort.ts";

export const MODEL_DATA_FLAGS = {
  model: { type: "string", required: true, help: "ONNX image classifier (NCHW float input)" },
  data: {
    type: "string",
    required: true,
    help: "image folder (ImageNet-val, ImageFolder, plain) or prepared cache",
  },
  labels: { type: "string", help: "LOC_val_solution.csv for an ImageNet-val folder" },
} satisfies Flags;

export const RUN_ENV_FLAGS = {
  limit: { type: "string", help: "use only the first N images" },
  ep: { type: "string", default: "auto", help: EP_HELP },
} satisfies Flags;

export const ATTRIBUTION_FLAGS = {
  method: { type: "string", default: PAPER_ATTRIBUTION.method, help: "deeplift | gradxact" },
  samples: {
    type: "string",
    default: String(PAPER_ATTRIBUTION.samples),
    help: "noise-tunnel samples per image",
  },
  sigma: { type: "string", default: String(PAPER_ATTRIBUTION.sigma), help: "noise std (normalized units)" },
  seed: { type: "string", default: "0", help: "noise seed" },
} satisfies Flags;

export function attributionFromArgs(a: Record<string, string | boolean | undefined>): AttributionSettings {
  return {
    method: choiceArg("method", a.method, ["deeplift", "gradxact"]),
    samples: intArg("samples", a.samples)!,
    sigma: floatArg("sigma", a.sigma)!,
    seed: intArg("seed", a.seed, 0)!,
  };
}
