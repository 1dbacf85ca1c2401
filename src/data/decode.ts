// Decodes JPEG/PNG bytes into 8-bit RGB(A) pixels equal to what PIL's `Image.open(f).convert("RGB")` gives.
//
// JPEG: libjpeg-turbo compiled to wasm (@jsquash/jpeg) is the same library PIL links, with the same defaults
// (islow IDCT, fancy upsampling), so its RGB output is bit-identical to PIL's. It cannot convert CMYK/YCCK to
// RGB, so those files go through imagescript's decoder for the raw CMYK values (Adobe-inverted, as PIL
// reads them; within 1 level of libjpeg's) and PIL's own CMYK -> RGB formula.
// PNG: imagescript's decoder gives RGBA for every colour type; dropping alpha equals PIL's convert("RGB")
// (which drops alpha without compositing) for gray, gray+alpha, palette, RGB and RGBA at 8 bits, and at 16
// bits for all but plain gray (PIL keeps the high byte). PIL opens a 16-bit gray PNG as a 32-bit integer image
// and its convert("RGB") clips the 16-bit values to 0..255 instead of scaling them; torchvision pipelines
// see that (mostly white) image, so protoscope reads the raw values with fast-png and clips the same way.
import decodeLibjpeg, { init as initLibjpeg } from "@jsquash/jpeg/decode.js";
import imagescriptJpeg from "imagescript/wasm/node/jpeg.js";
import imagescriptPng from "imagescript/wasm/node/png.js";
import { decode as decodePngSamples } from "fast-png";
import { readAsset } from "../runtime/assets.ts";

/** Decoder packages, recorded in cache manifests so a cache says what produced it. */
export const DECODER_VERSIONS = { libjpeg: "@jsquash/jpeg@1.6.0", imagescript: "imagescript@1.3.1" };

/** Interleaved 8-bit pixels; with 4 channels the 4th is alpha (or padding) and is ignored downstream. */
export interface DecodedImage {
  width: number;
  height: number;
  channels: 3 | 4;
  pixels: Uint8Array;
  /** Something a user should know about this file although it decoded (e.g. PIL's 16-bit gray clipping). */
  warning?: string;
}

/**
 * PIL's decompression-bomb limit (Image.MAX_IMAGE_PIXELS = 1024 * 1024 * 1024 // 4 // 3): above it PIL warns,
 * above twice it refuses. protoscope refuses above it: decoding needs 4 bytes a pixel per worker.
 */
export const MAX_IMAGE_PIXELS = 89_478_485;

/** A file that cannot be turned into an image; `message` names the file and the reason. */
export class DecodeError extends Error {
  constructor(readonly source: string, readonly reason: string) {
    super(`${source}: ${reason}`);
    this.name = "DecodeError";
  }
}

export type ImageFormat = "jpeg" | "png";

/** Format from the magic bytes (not the extension: mislabelled files are common). */
export function sniffFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "jpeg";
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length >= 8 && png.every((b, i) => bytes[i] === b)) return "png";
  return undefined;
}

/**
 * PIL's CMYK -> RGB (`cmyk2rgb`): r = (255-k) - round((255-k) * c / 255) with PIL's integer rounding, i.e.
 * (255-c)(255-k)/255. Input is PIL-convention CMYK (already Adobe-inverted), 4 bytes per pixel; output RGBA.
 */
export function cmykToRgba(cmyk: Uint8Array, out = new Uint8Array(cmyk.length)): Uint8Array {
  for (let i = 0; i < cmyk.length; i += 4) {
    const nk = 255 - cmyk[i + 3];
    for (let c = 0; c < 3; c++) {
      const t = cmyk[i + c] * nk + 128;
      out[i + c] = nk - (((t >> 8) + t) >> 8);
    }
    out[i + 3] = 255;
  }
  return out;
}

// --- libjpeg (wasm) -------------------------------------------------------------------------------------

let libjpegModule: WebAssembly.Module | undefined;
let libjpegReady: Promise<void> | undefined;
/** libjpeg's own messages for the decode in progress (warnings and the fatal error, if any). */
let libjpegMessages: string[] = [];

function resetLibjpeg(): Promise<void> {
  libjpegReady = (async () => {
    if (!libjpegModule) {
      const url = new URL(import.meta.resolve("@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm"));
      libjpegModule = await WebAssembly.compile(await readAsset(url));
    }
    const collect = (text: string) => libjpegMessages.push(String(text));
    // The package's typings declare only the options argument; the JS also takes a compiled module first.
    const init = initLibjpeg as unknown as (
      m: WebAssembly.Module,
      o: Record<string, unknown>,
    ) => Promise<void>;
    await init(libjpegModule, { print: collect, printErr: collect });
  })();
  return libjpegReady;
}

/** Serialises decodes: the collected messages must belong to one decode at a time. */
let libjpegQueue: Promise<unknown> = Promise.resolve();

function decodeWithLibjpeg(bytes: Uint8Array): Promise<{ ok: DecodedImage } | { error: string }> {
  const run = libjpegQueue.then(() => decodeWithLibjpegNow(bytes));
  libjpegQueue = run.catch(() => {});
  return run;
}

async function decodeWithLibjpegNow(bytes: Uint8Array): Promise<{ ok: DecodedImage } | { error: string }> {
  await (libjpegReady ?? resetLibjpeg());
  libjpegMessages = [];
  // The codec takes an ArrayBuffer; copy only when the view does not span its whole buffer.
  const buffer = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes.buffer as ArrayBuffer
    : bytes.slice().buffer;
  try {
    const image = await decodeLibjpeg(buffer);
    // libjpeg pads a truncated stream with a fake end marker and only warns; PIL refuses such files.
    const premature = libjpegMessages.find((m) => /premature end/i.test(m));
    if (premature) return { error: `truncated JPEG (${premature})` };
    const data = image.data;
    return {
      ok: {
        width: image.width,
        height: image.height,
        channels: 4,
        pixels: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      },
    };
  } catch (e) {
    // A fatal libjpeg error exits the wasm program without unwinding its stack; reuse degrades it,
    // so the next decode gets a fresh instance.
    await resetLibjpeg();
    const said = libjpegMessages.filter((m) => m.trim().length).join("; ");
    return { error: said || (e as Error).message };
  }
}

// --- imagescript (wasm) ---------------------------------------------------------------------------------

interface ImagescriptJpegFrame {
  width: number;
  height: number;
  /** 0 gray, 1 RGB, 2 CMYK. */
  format: number;
  buffer: Uint8Array;
}

async function decodeCmykJpeg(bytes: Uint8Array, source: string): Promise<DecodedImage> {
  let frame: ImagescriptJpegFrame;
  try {
    frame = (await imagescriptJpeg.init()).decode(bytes) as ImagescriptJpegFrame;
  } catch (e) {
    throw new DecodeError(source, `CMYK JPEG could not be decoded (${(e as Error).message})`);
  }
  const { width, height, format, buffer } = frame;
  if (format !== 2) {
    throw new DecodeError(source, `expected a CMYK JPEG from the fallback decoder, got format ${format}`);
  }
  return { width, height, channels: 4, pixels: cmykToRgba(buffer.subarray(0, width * height * 4)) };
}

/** IHDR bit depth 16, colour type 0 (gray without alpha): the one PNG kind PIL's convert("RGB") clips. */
function isGray16Png(bytes: Uint8Array): boolean {
  return bytes.length > 25 && bytes[24] === 16 && bytes[25] === 0;
}

function decodeGray16PngAsPil(bytes: Uint8Array): DecodedImage {
  const { width, height, data, channels } = decodePngSamples(bytes);
  if (channels !== 1 || !(data instanceof Uint16Array)) throw new Error("expected 16-bit gray samples");
  const pixels = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const v = Math.min(data[i], 255);
    pixels[i * 4] = pixels[i * 4 + 1] = pixels[i * 4 + 2] = v;
    pixels[i * 4 + 3] = 255;
  }
  return {
    width,
    height,
    channels: 4,
    pixels,
    warning: '16-bit grayscale PNG: values are clipped to 0..255 as PIL\'s convert("RGB") does, ' +
      "so the image is mostly white",
  };
}

async function decodePng(bytes: Uint8Array, source: string): Promise<DecodedImage> {
  try {
    if (isGray16Png(bytes)) return decodeGray16PngAsPil(bytes);
    const { width, height, framebuffer } = (await imagescriptPng.init()).decode(bytes) as {
      width: number;
      height: number;
      framebuffer: Uint8Array;
    };
    return { width, height, channels: 4, pixels: framebuffer };
  } catch (e) {
    throw new DecodeError(source, `PNG could not be decoded (${(e as Error).message})`);
  }
}

/** Width and height from a PNG's IHDR or a JPEG's SOF marker, without decoding; undefined if not found. */
export function imageDimensions(
  bytes: Uint8Array,
  format: ImageFormat,
): { width: number; height: number } | undefined {
  const u16 = (i: number) => (bytes[i] << 8) | bytes[i + 1];
  if (format === "png") {
    if (bytes.length < 24) return undefined;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return { width: view.getUint32(16), height: view.getUint32(20) };
  }
  let i = 2;
  while (i + 3 < bytes.length) {
    if (bytes[i] !== 0xff) return undefined;
    const marker = bytes[i + 1];
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    // Start-of-frame markers C0-CF, except DHT (C4), JPG (C8) and DAC (CC), carry the size.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return i + 8 < bytes.length ? { height: u16(i + 5), width: u16(i + 7) } : undefined;
    }
    if (marker === 0xda || marker === 0xd9) return undefined;
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      i += 2;
      continue;
    }
    i += 2 + u16(i + 2);
  }
  return undefined;
}

function checkPixelLimit(bytes: Uint8Array, format: ImageFormat, source: string): void {
  const size = imageDimensions(bytes, format);
  if (size && size.width * size.height > MAX_IMAGE_PIXELS) {
    throw new DecodeError(
      source,
      `image is ${size.width}x${size.height} = ${
        (size.width * size.height / 1e6).toFixed(1)
      } million pixels, ` +
        `above the limit of ${
          (MAX_IMAGE_PIXELS / 1e6).toFixed(1)
        } million (PIL's decompression-bomb limit); ` +
        "downscale it first",
    );
  }
}

// --- entry point ----------------------------------------------------------------------------------------

/** Decodes one encoded image. Throws DecodeError (naming `source`) for anything PIL would not open. */
export async function decodeImage(bytes: Uint8Array, source: string): Promise<DecodedImage> {
  const format = sniffFormat(bytes);
  if (format) checkPixelLimit(bytes, format, source);
  if (format === "png") return await decodePng(bytes, source);
  if (format !== "jpeg") {
    const kind = bytes.length === 0 ? "empty file" : "not a JPEG or PNG file (unrecognised leading bytes)";
    throw new DecodeError(source, kind);
  }
  const result = await decodeWithLibjpeg(bytes);
  if ("ok" in result) {
    const { width, height } = result.ok;
    if (!(width > 0 && height > 0)) {
      throw new DecodeError(source, `JPEG has an empty size ${width}x${height}`);
    }
    return result.ok;
  }
  // libjpeg decodes YCbCr/gray/RGB to RGB but refuses CMYK and YCCK: those take the fallback decoder.
  if (/unsupported color conversion/i.test(result.error)) return await decodeCmykJpeg(bytes, source);
  if (result.error.startsWith("truncated")) throw new DecodeError(source, result.error);
  throw new DecodeError(source, `JPEG could not be decoded (${result.error})`);
}
