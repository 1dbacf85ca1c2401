// A small RGB drawing surface for the figures: blit crops and images (scaled), frames, captions in the
// built-in bitmap font, JPEG output through imagescript.
import { encodeJpeg } from "./image_file.ts";
import { glyph, GLYPH_HEIGHT, GLYPH_WIDTH, textWidth } from "./font.ts";

export type Rgb = readonly [number, number, number];

export const WHITE: Rgb = [255, 255, 255];
export const BLACK: Rgb = [0, 0, 0];
export const GRAY: Rgb = [160, 160, 160];
export const RED: Rgb = [230, 30, 30];
/** Frame colours: a crop from an image predicted as the class / as another class. */
export const OWN_CLASS: Rgb = [40, 170, 60];
export const OTHER_CLASS: Rgb = [240, 140, 0];

/** uint8 RGB pixels, row-major, height x width x 3. */
export interface RgbImage {
  pixels: Uint8Array;
  width: number;
  height: number;
}

export class Canvas implements RgbImage {
  readonly pixels: Uint8Array;
  constructor(readonly width: number, readonly height: number, background: Rgb = WHITE) {
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
      throw new Error(`Canvas: size must be positive integers, got ${width}x${height}`);
    }
    this.pixels = new Uint8Array(width * height * 3);
    this.fillRect(0, 0, width, height, background);
  }

  fillRect(x: number, y: number, w: number, h: number, color: Rgb): void {
    const x0 = Math.max(0, Math.round(x)), y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w)), y1 = Math.min(this.height, Math.round(y + h));
    for (let yy = y0; yy < y1; yy++) {
      for (let xx = x0; xx < x1; xx++) this.pixels.set(color, (yy * this.width + xx) * 3);
    }
  }

  /** A frame of `thickness` pixels whose outer edge is the rectangle (x, y, w, h). */
  frame(x: number, y: number, w: number, h: number, color: Rgb, thickness = 2): void {
    this.fillRect(x, y, w, thickness, color);
    this.fillRect(x, y + h - thickness, w, thickness, color);
    this.fillRect(x, y, thickness, h, color);
    this.fillRect(x + w - thickness, y, thickness, h, color);
  }

  /**
   * Draws `src` into the rectangle (x, y, w, h): nearest neighbour when enlarging, the mean of the covered
   * source pixels when shrinking (so a 224 px image shrinks without aliasing).
   */
  blit(src: RgbImage, x: number, y: number, w = src.width, h = src.height): void {
    for (let ty = 0; ty < h; ty++) {
      const dy = y + ty;
      if (dy < 0 || dy >= this.height) continue;
      const sy0 = Math.floor((ty * src.height) / h);
      const sy1 = Math.max(sy0 + 1, Math.floor(((ty + 1) * src.height) / h));
      for (let tx = 0; tx < w; tx++) {
        const dx = x + tx;
        if (dx < 0 || dx >= this.width) continue;
        const sx0 = Math.floor((tx * src.width) / w);
        const sx1 = Math.max(sx0 + 1, Math.floor(((tx + 1) * src.width) / w));
        let r = 0, g = 0, b = 0;
        for (let sy = sy0; sy < sy1; sy++) {
          for (let sx = sx0; sx < sx1; sx++) {
            const o = (sy * src.width + sx) * 3;
            r += src.pixels[o];
            g += src.pixels[o + 1];
            b += src.pixels[o + 2];
          }
        }
        const n = (sy1 - sy0) * (sx1 - sx0);
        const o = (dy * this.width + dx) * 3;
        this.pixels[o] = Math.round(r / n);
        this.pixels[o + 1] = Math.round(g / n);
        this.pixels[o + 2] = Math.round(b / n);
      }
    }
  }

  /** Writes `text` with its top-left corner at (x, y); returns the x after the last character. */
  text(x: number, y: number, text: string, color: Rgb = BLACK, scale = 2): number {
    let cx = x;
    for (const ch of text) {
      const g = glyph(ch);
      for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
        for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
          if (g[gy][gx]) this.fillRect(cx + gx * scale, y + gy * scale, scale, scale, color);
        }
      }
      cx += (GLYPH_WIDTH + 1) * scale;
    }
    return cx;
  }

  async toJpeg(quality = 92): Promise<Uint8Array> {
    return await rgbToJpeg(this, quality);
  }
}

/** Height in pixels of one line of text at `scale`. */
export function lineHeight(scale = 2): number {
  return GLYPH_HEIGHT * scale;
}

export { textWidth };

/** uint8 RGB as a JPEG. */
export function rgbToJpeg(image: RgbImage, quality = 92): Promise<Uint8Array> {
  return encodeJpeg(image.pixels, image.width, image.height, quality);
}

/** File-name-safe form of a class name: letters, digits, '-' and '_' only. */
export function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 60);
}
