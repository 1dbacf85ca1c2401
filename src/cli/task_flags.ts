// Command-line flags that several tasks share, defined once so their names, defaults and help agree.
import { choiceArg, type Flags, floatArg, intArg } from "./cli.ts";
import { type AttributionSettings, PAPER_ATTRIBUTION } from "../pipeline/attribute/attributor.ts";
import { EP_CHOICES, EP_HELP, type EpChoice } from "../runtime/ort.ts";

type Args = Record<string, string | boolean | undefined>;

export const MODEL_DATA_FLAGS = {
  model: { type: "string", required: true, help: "ONNX image classifier (NCHW float input)" },
  data: {
    type: "string",
    required: true,
    help: "image folder (ImageNet-val, ImageFolder, plain) or prepared cache",
  },
  labels: { type: "string", help: "LOC_val_solution.csv for an ImageNet-val folder" },
} satisfies Flags;

/** The values of MODEL_DATA_FLAGS. */
export function modelDataFromArgs(a: Args): { model: string; data: string; labels?: string } {
  return { model: a.model as string, data: a.data as string, labels: a.labels as string | undefined };
}

export const RUN_ENV_FLAGS = {
  limit: { type: "string", help: "use only the first N images" },
  ep: { type: "string", default: "auto", help: EP_HELP },
} satisfies Flags;

/** The values of RUN_ENV_FLAGS. */
export function runEnvFromArgs(a: Args): { limit?: number; ep: EpChoice } {
  return { limit: intArg("limit", a.limit), ep: choiceArg("ep", a.ep, EP_CHOICES) };
}

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

export function attributionFromArgs(a: Args): AttributionSettings {
  return {
    method: choiceArg("method", a.method, ["deeplift", "gradxact"]),
    samples: intArg("samples", a.samples)!,
    sigma: floatArg("sigma", a.sigma)!,
    seed: intArg("seed", a.seed, 0)!,
  };
}

/** Which images a per-class stage attributes, and the attribution-map cache the stages can share. */
export const CLASS_ATTRIBUTION_FLAGS = {
  "max-images": { type: "string", default: "60", help: "images predicted as the class, at most" },
  batch: { type: "string", default: "4", help: "images per attribution pass" },
  predictions: {
    type: "string",
    help: "existing predictions folder (default: <out>/predictions, computed if missing)",
  },
  "attribution-cache": {
    type: "string",
    help: "folder of per-class attribution maps shared by concepts and contrast-vectors: " +
      "give both the same one and each class is attributed once",
  },
} satisfies Flags;

/** The values of CLASS_ATTRIBUTION_FLAGS. */
export function classAttributionFromArgs(
  a: Args,
): { maxImages?: number; batch?: number; predictions?: string; attributionCache?: string } {
  return {
    maxImages: intArg("max-images", a["max-images"]),
    batch: intArg("batch", a.batch),
    predictions: a.predictions as string | undefined,
    attributionCache: a["attribution-cache"] as string | undefined,
  };
}
