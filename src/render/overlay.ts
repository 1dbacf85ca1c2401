// Attribution maps drawn over their images: the map is upsampled bilinearly to the image and blended in with a
// black-red-yellow-white heat scale, so strong evidence reads at a glance.
export function heatColor(t: number): [number, number, number] {
  const v = Math.min(1, Math.max(0, t));
  return [Math.min(1, v * 3), Math.min(1, Math.max(0, v * 3 - 1)), Math.max(0, v * 3 - 2)].map((c) =>
    Math.round(c * 255)
  ) as [number, number, number];
}

/** RGB (size x size x 3) of `image` with `map` (mh x mw) blended on top; `scale` is the map value drawn hottest. */
export function overlayMap(
  image: Uint8Array,
  size: number,
  map: Float32Array,
  mh: number,
  mw: number,
  scale: number,
): Uint8Array {
  const out = new Uint8Array(size * size * 3);
  const inv = scale > 0 ? 1 / scale : 0;
  for (let y = 0; y < size; y++) {
    // Pixel centres mapped onto map cell centres (align_corners = false).
    const fy = Math.min(mh - 1, Math.max(0, ((y + 0.5) * mh) / size - 0.5));
    const y0 = Math.floor(fy), y1 = Math.min(mh - 1, y0 + 1), wy = fy - y0;
    for (let x = 0; x < size; x++) {
      const fx = Math.min(mw - 1, Math.max(0, ((x + 0.5) * mw) / size - 0.5));
      const x0 = Math.floor(fx), x1 = Math.min(mw - 1, x0 + 1), wx = fx - x0;
      const v = (1 - wy) * ((1 - wx) * map[y0 * mw + x0] + wx * map[y0 * mw + x1]) +
        wy * ((1 - wx) * map[y1 * mw + x0] + wx * map[y1 * mw + x1]);
      const t = Math.min(1, Math.max(0, v * inv));
      const [r, g, b] = heatColor(t);
      const alpha = 0.15 + 0.5 * t;
      const i = (y * size + x) * 3;
      // Dim the photo so the heat stands out, then blend.
      out[i] = Math.round((1 - alpha) * image[i] * 0.6 + alpha * r);
      out[i + 1] = Math.round((1 - alpha) * image[i + 1] * 0.6 + alpha * g);
      out[i + 2] = Math.round((1 - alpha) * image[i + 2] * 0.6 + alpha * b);
    }
  }
  return out;
}
