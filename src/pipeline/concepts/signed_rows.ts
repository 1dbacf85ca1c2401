// NMF needs non-negative rows. A CNN block ends in a ReLU, but a transformer block outputs the signed residual
// stream, so a signed tap is made non-negative first (`--signed`, the lead's decision on issue 21):
// - split: each C-vector x becomes [ReLU(x), ReLU(-x)] (2C features; nothing of x is lost, and x = x+ - x-),
//   and a prototype p of 2C features reads back in the tap's space as its signed C-vector p+ - p-;
// - relu: negative entries are clipped (what the prototype can say about negative features is lost);
// - refuse: the run fails naming the first negative entry (the behaviour before the flag).
import { choiceArg, type Flags, type FlagValues, UsageError } from "../../cli/cli.ts";

export const SIGNED_MODES = ["split", "relu", "refuse"] as const;
export type SignedMode = typeof SIGNED_MODES[number];

/** `--signed` of the tasks that factorize activations (concepts, contrast); no default: see defaultSignedMode. */
export const SIGNED_FLAG = {
  signed: {
    type: "string",
    help: "a signed tap (a transformer block output) as NMF rows: split ([ReLU(x), ReLU(-x)], 2C features; " +
      "basis.npy holds p+ - p-, basis_split.npy the 2C prototypes) | relu (clip) | refuse; default split " +
      "for a transformer tap, refuse otherwise",
  },
} satisfies Flags;

/** The value of SIGNED_FLAG; undefined when not given (the tap decides). */
export function signedFromArgs(a: FlagValues): SignedMode | undefined {
  return a.signed === undefined ? undefined : choiceArg("signed", a.signed, SIGNED_MODES);
}

/**
 * The mode when `--signed` is not given: `split` for a transformer token tap (a block output is signed),
 * `refuse` for a CNN tap (after a ReLU it is non-negative; a negative entry means a wrong layer, said loudly).
 */
export function defaultSignedMode(tokenTap: boolean): SignedMode {
  return tokenTap ? "split" : "refuse";
}

/** Features per NMF row under `mode` for a tap of `channels` channels. */
export function nmfChannels(mode: SignedMode, channels: number): number {
  return mode === "split" ? 2 * channels : channels;
}

/**
 * The activations NMF rows are built from (images x C' x hw, C' = nmfChannels) under `mode`. The maps (the
 * channel mean of ReLU(attribution)) are non-negative, so the rows' signs are the activations' signs.
 * `refuse` fails (where a row is negative: a zero map entry makes its row zero) naming the layer and the first negative entry rather than deep inside NMF.
 */
export function nonNegativeActivations(
  activations: Float32Array,
  maps: Float32Array,
  channels: number,
  hw: number,
  mode: SignedMode,
  layer: string,
): Float32Array {
  if (mode === "relu") return activations.map((x) => (x > 0 ? x : 0));
  if (mode === "refuse") {
    const at = activations.findIndex((x, j) => x * maps[Math.floor(j / (channels * hw)) * hw + (j % hw)] < 0);
    if (at < 0) return activations;
    const [image, channel, position] = [
      Math.floor(at / (channels * hw)),
      Math.floor(at / hw) % channels,
      at % hw,
    ];
    throw new UsageError(
      `--layer ${layer}: the weighted activations are negative (image ${image}, position ${position}, channel ` +
        `${channel}: ${activations[at]}), and NMF needs non-negative rows. A transformer block outputs the ` +
        "signed residual stream; use --signed split (x as [ReLU(x), ReLU(-x)]) or --signed relu, or tap a " +
        "non-negative layer (after a ReLU).",
    );
  }
  const per = channels * hw;
  const images = activations.length / per;
  const out = new Float32Array(images * 2 * per);
  for (let i = 0; i < images; i++) {
    for (let j = 0; j < per; j++) {
      const x = activations[i * per + j];
      out[i * 2 * per + j] = x > 0 ? x : 0;
      out[i * 2 * per + per + j] = x < 0 ? -x : 0;
    }
  }
  return out;
}

/** Prototypes of 2C features (k x 2C, row-major) as signed C-vectors p+ - p- (k x C). */
export function signedPrototypes(split: Float32Array, k: number, channels: number): Float32Array {
  const out = new Float32Array(k * channels);
  for (let r = 0; r < k; r++) {
    for (let c = 0; c < channels; c++) {
      out[r * channels + c] = split[r * 2 * channels + c] - split[r * 2 * channels + channels + c];
    }
  }
  return out;
}
