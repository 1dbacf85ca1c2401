// The attribution flags of the tasks that attribute (attribute, concepts): names, help and defaults come from
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
