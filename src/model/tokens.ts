// Tokens as positions: a transformer tap [N, T, C] holds T tokens of C features. The patch tokens form the
// spatial grid (what a CNN's H x W positions are); the class token and any register tokens before them are not
// spatial. The patch size comes from the patch embedding, the convolution on the image whose kernel equals its
// stride (torchvision's conv_proj, DINO's patch_embed.proj), so no model family needs to be named.
import { attrInts, type Model, runtimeInputs } from "../onnx/model.ts";
import { IMAGE_SIZE } from "../data/input_spec.ts";

export interface TokenLayout {
  /** Tokens in the tap (T). */
  tokens: number;
  /** Features per token (C). */
  channels: number;
  /** Side of a patch in input pixels. */
  patch: number;
  /** The patch grid: gridH x gridW patch tokens, row-major. */
  gridH: number;
  gridW: number;
  /** Tokens before the patch grid (1 for the class token, more with register tokens). */
  prefix: number;
}

/** How a [N, T, C] tap's rows are read: tokens as positions (with or without the class token), or the reference's axes. */
export type TokenAxes = typeof TOKEN_AXES[number];
export const TOKEN_AXES = ["patches", "patches+cls", "reference"] as const;

/** The patch size of a ViT: kernel (= stride) of the one convolution that reads the image. */
export function patchSize(model: Model): number | undefined {
  const input = runtimeInputs(model.graph)[0]?.name;
  const embeddings = model.graph.node.filter((n) => n.opType === "Conv" && n.input[0] === input);
  if (embeddings.length !== 1) return undefined;
  const kernel = attrInts(embeddings[0], "kernel_shape", []);
  const strides = attrInts(embeddings[0], "strides", [1, 1]);
  if (
    kernel.length !== 2 || kernel[0] !== kernel[1] || strides[0] !== kernel[0] || strides[1] !== kernel[1]
  ) {
    return undefined;
  }
  return kernel[0];
}

/**
 * The token layout of a rank-3 tap of `model` for a square input of side `size`; fails naming the layer when
 * the model has no patch embedding or the tap has fewer tokens than patches.
 */
export function tokenLayout(model: Model, layer: string, tapShape: number[], size = IMAGE_SIZE): TokenLayout {
  if (tapShape.length !== 3) {
    throw new Error(`--layer ${layer}: a token tap is [N, T, C], this one is [${tapShape.join(", ")}]`);
  }
  const [, tokens, channels] = tapShape;
  const patch = patchSize(model);
  if (!patch) {
    throw new Error(
      `--layer ${layer}: the tap is [N, T, C] but the model has no patch embedding (one Conv on the image with ` +
        "kernel = stride), so its tokens cannot be placed on the image",
    );
  }
  const grid = Math.floor(size / patch);
  const prefix = tokens - grid * grid;
  if (prefix < 0) {
    throw new Error(
      `--layer ${layer}: ${tokens} tokens, fewer than the ${grid} x ${grid} patches of ${patch} px at ${size} px`,
    );
  }
  return { tokens, channels, patch, gridH: grid, gridW: grid, prefix };
}

/** Positions per image that `axes` makes rows of: patches, patches plus the class token, or channels. */
export function positionsPerImage(layout: TokenLayout, axes: TokenAxes): number {
  if (axes === "reference") return layout.channels;
  return layout.gridH * layout.gridW + (axes === "patches+cls" ? 1 : 0);
}

/**
 * Rows of a [N, T, C] tap (row-major), one per position: "patches" gives N x gridH x gridW rows of C (image,
 * y, x order, as a CNN's NHWC rows), "patches+cls" puts each image's class token (token 0) before its patches,
 * "reference" gives N x C rows of T (core/core.py's `permute(0, 2, 1).reshape(-1, T)`).
 */
export function tokenRows(tap: Float32Array, n: number, layout: TokenLayout, axes: TokenAxes): Float32Array {
  const { tokens: t, channels: c, prefix } = layout;
  if (tap.length !== n * t * c) throw new Error(`tokenRows: ${tap.length} values for [${n}, ${t}, ${c}]`);
  if (axes === "reference") {
    const out = new Float32Array(n * c * t);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < t; k++) {
        for (let j = 0; j < c; j++) out[(i * c + j) * t + k] = tap[(i * t + k) * c + j];
      }
    }
    return out;
  }
  const patches = layout.gridH * layout.gridW;
  const first = axes === "patches+cls" ? 0 : prefix;
  const per = positionsPerImage(layout, axes);
  const out = new Float32Array(n * per * c);
  for (let i = 0; i < n; i++) {
    let row = i * per;
    if (first === 0) out.set(tap.subarray(i * t * c, i * t * c + c), row++ * c);
    const start = (i * t + prefix) * c;
    out.set(tap.subarray(start, start + patches * c), row * c);
  }
  return out;
}

/** The tokens that are positions under `axes` ("patches" or "patches+cls"), in position order. */
export function positionTokens(layout: TokenLayout, axes: Exclude<TokenAxes, "reference">): number[] {
  const patches = Array.from({ length: layout.gridH * layout.gridW }, (_, p) => layout.prefix + p);
  return axes === "patches+cls" ? [0, ...patches] : patches;
}

/**
 * The [C, h, w] a token tap shows the stages that read a CNN's positions: the patch grid [C, gridH, gridW];
 * with the class token, one row of positions [C, 1, 1 + patches] (no longer a spatial grid); the reference's
 * axes [T, C, 1], tokens as channels and channels as positions (its `permute(0, 2, 1)` rows, unmoved).
 */
export function tokenView(layout: TokenLayout, axes: TokenAxes): [number, number, number] {
  if (axes === "reference") return [layout.tokens, layout.channels, 1];
  if (axes === "patches+cls") return [layout.channels, 1, positionTokens(layout, axes).length];
  return [layout.channels, layout.gridH, layout.gridW];
}

/** The position tokens of a [N, T, C] tap as [N, C, positions] (row-major over the grid), the CNN layout. */
export function tokensAsGrid(
  tap: Float32Array,
  n: number,
  layout: TokenLayout,
  axes: Exclude<TokenAxes, "reference"> = "patches",
): Float32Array {
  const { tokens: t, channels: c } = layout;
  const picked = positionTokens(layout, axes);
  const hw = picked.length;
  const out = new Float32Array(n * c * hw);
  for (let i = 0; i < n; i++) {
    picked.forEach((token, p) => {
      const src = (i * t + token) * c;
      for (let j = 0; j < c; j++) out[(i * c + j) * hw + p] = tap[src + j];
    });
  }
  return out;
}

/**
 * The image grid a tap's positions lie on, for what is drawn on the image (masks, overlays): h x w positions
 * after `prefix` positions that are no place on the image (the class token under "patches+cls"). A CNN's
 * [C, h, w] is its own grid; undefined under the reference's axes, whose positions are channels.
 */
export function positionGrid(
  tapShape: readonly number[],
  tokens?: { layout: TokenLayout; axes: TokenAxes },
): { h: number; w: number; prefix: number } | undefined {
  if (!tokens) return { h: tapShape[1], w: tapShape[2], prefix: 0 };
  if (tokens.axes === "reference") return undefined;
  return { h: tokens.layout.gridH, w: tokens.layout.gridW, prefix: tokens.axes === "patches+cls" ? 1 : 0 };
}

/** The input box [top, left, height, width] in pixels of patch token p (0-based over the grid). */
export function patchBox(layout: TokenLayout, p: number): [number, number, number, number] {
  const y = Math.floor(p / layout.gridW), x = p % layout.gridW;
  return [y * layout.patch, x * layout.patch, layout.patch, layout.patch];
}

/** Per-token maps [N, T] (the backward graph's `featureAxis` 2) at the position tokens: [N, positions]. */
export function patchMaps(
  maps: Float32Array,
  n: number,
  layout: TokenLayout,
  axes: Exclude<TokenAxes, "reference"> = "patches",
): Float32Array {
  const t = layout.tokens;
  if (maps.length !== n * t) throw new Error(`patchMaps: ${maps.length} values for [${n}, ${t}]`);
  const picked = positionTokens(layout, axes);
  const out = new Float32Array(n * picked.length);
  for (let i = 0; i < n; i++) {
    picked.forEach((token, p) => (out[i * picked.length + p] = maps[i * t + token]));
  }
  return out;
}

/**
 * The inverse of tokensAsGrid where every token is a position ("patches+cls" with one class token, no register
 * token): [N, C, T] back to the tap's [N, T, C], e.g. shifted activations going into the head. Fails naming
 * the layer when some token is no position (the head needs it, and the grid does not hold it).
 */
export function gridAsTokens(
  view: Float32Array,
  n: number,
  layout: TokenLayout,
  axes: Exclude<TokenAxes, "reference">,
  layer: string,
): Float32Array {
  const picked = positionTokens(layout, axes);
  const { tokens: t, channels: c } = layout;
  if (picked.length !== t) {
    throw new Error(
      `--layer ${layer}: ${
        t - picked.length
      } of the ${t} tokens are no position under '${axes}', so the head ` +
        "cannot be fed from positions alone; use the class token as a position (patches+cls) or the reference's axes",
    );
  }
  const out = new Float32Array(n * t * c);
  for (let i = 0; i < n; i++) {
    picked.forEach((token, p) => {
      for (let j = 0; j < c; j++) out[(i * t + token) * c + j] = view[(i * c + j) * t + p];
    });
  }
  return out;
}
