// `--crop-patches P`: how much of the image a transformer token's hit shows. A token is one patch, and its crop
// is that patch's box by default (P = 1); P = 3 shows the 3 x 3 patches centred on it (96 px for B/32), for
// context the patch alone lacks (attention reaches past the patch, so the token is not about its patch alone).
// The box is kernels/composite/crop_cells.ts cropBox: moved inside the image at the border, whole, like a CNN's
// cell crops. A CNN tap refuses the flag: its crop is the cell of the pooled grid (docs/vit.md).
import { UsageError } from "../../cli/cli.ts";
import { patchSize, type TokenLayout } from "../../model/tokens.ts";
import { readModel } from "../../onnx/model.ts";

/** The flag, shared by visualize, explain and component-test (run_flags.ts RUN_FLAGS). */
export const CROP_PATCHES_FLAG = {
  "crop-patches": {
    type: "string",
    default: "1",
    help:
      "on a transformer's token tap, a crop is the P x P patches centred on the hit token (odd P; 1 = the " +
      "patch itself, 3 = 96 px on B/32), moved inside the image at the border; refused on a CNN tap",
  },
} as const;

/** `--crop-patches` as a number: an odd integer >= 1 (undefined: absent). */
export function cropPatchesArg(value: string | boolean | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === "string" && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  checkCropPatchesArg(n, String(value));
  return n;
}

/** Fails with a usage error naming the flag unless `patches` is an odd integer >= 1. */
export function checkCropPatchesArg(patches: number, given = String(patches)): void {
  if (!Number.isInteger(patches) || patches < 1 || patches % 2 === 0) {
    throw new UsageError(
      `--crop-patches expects an odd integer >= 1 (the patches per side of a box centred on the token), ` +
        `got '${given}'`,
    );
  }
}

/**
 * The early check, before predictions are computed: P > 1 needs a model with a patch embedding (a CNN has
 * none, so its refusal comes here, not after a pass). The tap itself is checked when the search sees it.
 */
export async function checkCropPatchesModel(model: string, layer: string, patches: number): Promise<void> {
  checkCropPatchesArg(patches);
  if (patches === 1) return;
  if (patchSize(await readModel(model)) === undefined) cnnRefusal(patches, layer);
}

function cnnRefusal(patches: number, layer: string): never {
  throw new UsageError(
    `--crop-patches ${patches}: --layer ${layer} is a CNN tap, whose crop is one cell of its pooled grid; ` +
      "the flag is for a transformer's token tap (omit it here)",
  );
}

/** `--crop-patches` against the tap: 1 anywhere; on a token tap an odd number up to the patch grid's side. */
export function checkCropPatches(patches: number, layer: string, tokens: TokenLayout | undefined): void {
  checkCropPatchesArg(patches);
  if (patches === 1) return;
  if (!tokens) cnnRefusal(patches, layer);
  if (patches > tokens.gridW) {
    throw new UsageError(
      `--crop-patches ${patches}: --layer ${layer} has a ${tokens.gridH} x ${tokens.gridW} patch grid, so a crop ` +
        `spans at most ${tokens.gridW} patches (${tokens.gridW * tokens.patch} px)`,
    );
  }
}

/**
 * What a figure or report says about its crops: "96 px (3 x 3 patches around the token)" (centred on it, moved
 * inside the image at its border), "32 px (the token's patch)", "32 px (one cell of the grid)" on a CNN.
 */
export function cropCaption(side: number, patches: number, onTokens: boolean): string {
  if (!onTokens) return `${side} px (one cell of the grid)`;
  return patches === 1
    ? `${side} px (the token's patch)`
    : `${side} px (${patches} x ${patches} patches around the token)`;
}
