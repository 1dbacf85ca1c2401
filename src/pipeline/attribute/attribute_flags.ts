// The attribution flags of the tasks that attribute (attribute, concepts, contrast-vectors): names, help and defaults come from
// PAPER_ATTRIBUTION, so the command line and the library default agree.
import { choiceArg, type Flags, type FlagValues, floatArg, intArg } from "../../cli/cli.ts";
import { type AttributionSettings, PAPER_ATTRIBUTION } from "./attributor.ts";

export const ATTRIBUTION_FLAGS = {
  method: { type: "string", default: PAPER_ATTRIBUTION.method, help: "deeplift | gradxact" },
  samples: {
    type: "string",
    default: String(PAPER_ATTRIBUTION.samples),
    help: "noise-tunnel samples per image",
  },
  sigma: { type: "string", default: String(PAPER_ATTRIBUTION.sigma), help: "noise std (normalized units)" },
  seed: { type: "string", default: String(PAPER_ATTRIBUTION.seed), help: "noise seed" },
} satisfies Flags;

/** The values of ATTRIBUTION_FLAGS. */
export function attributionFromArgs(a: FlagValues): AttributionSettings {
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
  a: FlagValues,
): { maxImages?: number; batch?: number; predictions?: string; attributionCache?: string } {
  return {
    maxImages: intArg("max-images", a["max-images"]),
    batch: intArg("batch", a.batch),
    predictions: a.predictions as string | undefined,
    attributionCache: a["attribution-cache"] as string | undefined,
  };
}
