// Encoding RGB pixel arrays (row-major, 3 bytes per pixel) as JPEG or PNG files people look at.
import { Image } from "imagescript";

function toImage(rgb: Uint8Array, width: number, height: number): Image {
  if (rgb.length < width * height * 3) {
    throw new Error(
      `image encode: ${rgb.length} bytes for ${width}x${height} RGB (expected ${width * height * 3})`,
    );
  }
  const img = new Image(width, height);
  const bm = img.bitmap;
  for (let i = 0, n = width * height; i < n; i++) {
    bm[i * 4] = rgb[i * 3];
    bm[i * 4 + 1] = rgb[i * 3 + 1];
    bm[i * 4 + 2] = rgb[i * 3 + 2];
    bm[i * 4 + 3] = 255;
  }
  return img;
}

export function encodeJpeg(
  rgb: Uint8Array,
  width: number,
  height: number,
  quality = 90,
): Promise<Uint8Array> {
  return toImage(rgb, width, height).encodeJPEG(quality as Parameters<Image["encodeJPEG"]>[0]);
}

/** PNG with a fixed creation time, so the same pixels always give the same bytes. */
export function encodePng(rgb: Uint8Array, width: number, height: number): Promise<Uint8Array> {
  return toImage(rgb, width, height).encode(1, { creationTime: 0, software: "protoscope" });
}
