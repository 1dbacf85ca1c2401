// One encoded file -> the model's uint8 crop (HWC RGB), in the calling thread.
import { DecodeError, decodeImage } from "./decode.ts";
import { DEFAULT_PREPROCESS, type PreprocessSettings, resizeCenterCrop } from "./resize.ts";

/** Bytes of one preprocessed image (crop x crop x 3). */
export function cropBytes(settings: PreprocessSettings = DEFAULT_PREPROCESS): number {
  return settings.crop * settings.crop * 3;
}

/** Decode + torchvision `Resize(resize)` + `CenterCrop(crop)`; throws DecodeError for unusable data. */
export async function preprocessBytes(
  bytes: Uint8Array,
  source: string,
  settings: PreprocessSettings = DEFAULT_PREPROCESS,
  out?: Uint8Array,
  onWarning?: (warning: string) => void,
): Promise<Uint8Array> {
  const image = await decodeImage(bytes, source);
  if (image.warning) onWarning?.(image.warning);
  return resizeCenterCrop(image.pixels, image.width, image.height, image.channels, settings, out);
}

/** Reads and preprocesses one file; an unreadable file is a DecodeError naming the path. */
export async function preprocessFile(
  path: string,
  settings: PreprocessSettings = DEFAULT_PREPROCESS,
  out?: Uint8Array,
  onWarning?: (warning: string) => void,
): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new DecodeError(path, `cannot read file (${(e as Error).message})`);
  }
  return await preprocessBytes(bytes, path, settings, out, onWarning);
}

/** The reason to record for a failed file: DecodeError's reason, or the message of anything else. */
export function failureReason(e: unknown): string {
  if (e instanceof DecodeError) return e.reason;
  return e instanceof Error ? e.message : String(e);
}
