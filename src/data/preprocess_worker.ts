/// <reference lib="deno.worker" />
// Worker side of PreprocessPool: path in, crop bytes (transferred) or a failure reason out. Never throws, so
// one bad file cannot take the worker down.
import { failureReason, preprocessFile } from "./preprocess.ts";
import type { PreprocessSettings } from "./resize.ts";

export interface PreprocessRequest {
  id: number;
  path: string;
  settings: PreprocessSettings;
}

export type PreprocessReply =
  | { id: number; ok: true; pixels: ArrayBuffer; warning?: string }
  | { id: number; ok: false; reason: string };

self.onmessage = async (event: MessageEvent<PreprocessRequest>) => {
  const { id, path, settings } = event.data;
  let reply: PreprocessReply;
  try {
    let warning: string | undefined;
    const pixels = await preprocessFile(path, settings, undefined, (w) => (warning = w));
    reply = { id, ok: true, pixels: pixels.buffer as ArrayBuffer, ...(warning ? { warning } : {}) };
    self.postMessage(reply, [reply.pixels]);
    return;
  } catch (e) {
    reply = { id, ok: false, reason: failureReason(e) };
  }
  self.postMessage(reply);
};
