// Upload bodies read with a cap: a declared Content-Length above the cap is refused before reading, and a
// body that grows past it while streaming (chunked, or a lying header) is cut off there, so no upload ever
// holds more than the cap in memory.
import { HttpError } from "./http_error.ts";

/** Largest upload (bytes): a phone photo is a few MB; decoding then applies the tasks' pixel limit. */
export const UPLOAD_CAP_BYTES = 20 << 20;

export async function readCappedBody(req: Request, cap = UPLOAD_CAP_BYTES): Promise<Uint8Array> {
  const tooLarge = () =>
    new HttpError(
      413,
      `the upload is larger than the cap of ${(cap / 2 ** 20).toFixed(0)} MiB (${cap} bytes)`,
    );
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (declared > cap) {
    await req.body?.cancel().catch(() => {});
    throw tooLarge();
  }
  if (!req.body) throw new HttpError(400, "no body: send the image file's bytes as the request body");
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > cap) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  if (size === 0) throw new HttpError(400, "empty body: send the image file's bytes as the request body");
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
