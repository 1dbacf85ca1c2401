// Command-line flags that several tasks share, defined once so their names, defaults and help agree. Flags of
// one stage live with that stage (src/pipeline/attribute/attribute_flags.ts, src/pipeline/search/run_flags.ts).
import { choiceArg, type Flags, type FlagValues, intArg } from "./cli.ts";
import { TOKEN_AXES, type TokenAxes } from "../model/tokens.ts";
import { EP_CHOICES, EP_HELP, type EpChoice } from "../runtime/ort.ts";

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
export function modelDataFromArgs(a: FlagValues): { model: string; data: string; labels?: string } {
  return { model: a.model as string, data: a.data as string, labels: a.labels as string | undefined };
}

export const RUN_ENV_FLAGS = {
  limit: { type: "string", help: "use only the first N images" },
  ep: { type: "string", default: "auto", help: EP_HELP },
} satisfies Flags;

/** The values of RUN_ENV_FLAGS. */
export function runEnvFromArgs(a: FlagValues): { limit?: number; ep: EpChoice } {
  return { limit: intArg("limit", a.limit), ep: choiceArg("ep", a.ep, EP_CHOICES) };
}

/** For tasks that resume or reuse earlier work in --out: discard work made from other inputs. */
export const FRESH_FLAG = {
  fresh: {
    type: "boolean",
    default: false,
    help: "discard earlier results in --out made from other inputs (otherwise such a folder is refused)",
  },
} satisfies Flags;

/**
 * `--tokens` (src/model/tokens.ts): how a transformer tap's tokens are read (CNN taps ignore it), with the
 * task's default: `patches` where tokens are positions only, `patches+cls` where
 * the rest of the network runs from the tap and needs every token back (shifting-test, masking-test).
 */
export function tokensFlag(byDefault: TokenAxes): Flags {
  return {
    tokens: {
      type: "string",
      default: byDefault,
      help: "a transformer tap's positions: patches (the patch grid) | patches+cls (the class token too) | " +
        "reference (the reference's axes: tokens as features)",
    },
  };
}

/** The value of tokensFlag's flag. */
export function tokensFromArgs(a: FlagValues): TokenAxes {
  return choiceArg("tokens", a.tokens, TOKEN_AXES);
}
