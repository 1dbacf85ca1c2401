// Every output folder gets a manifest: what produced it, from what, with which settings and versions.
import { sha256Hex } from "../onnx/model.ts";
import { ort } from "../runtime/ort.ts";
import type { RunIdentity } from "./run_identity.ts";

export const PROTOSCOPE_VERSION = "0.1.0";

export interface ManifestInput {
  task: string;
  model?: { path: string; sha256: string };
  layer?: { name: string; tensor: string };
  data?: { path: string; count: number; files: string[] };
  device?: string;
  settings: Record<string, unknown>;
  /** What the outputs were computed from, for resumes and reuse (io/run_identity.ts). */
  identity?: RunIdentity;
  /** The part of the work this run did (`--shard`) and its --out, for `deno task merge`. */
  shard?: { index: number; count: number; out: string };
}

export async function buildManifest(input: ManifestInput): Promise<Record<string, unknown>> {
  const data = input.data
    ? {
      path: input.data.path,
      count: input.data.count,
      // The data list is identified by a hash of its file paths, so a resumed or repeated run can tell that it
      // sees the same images in the same order.
      listSha256: await sha256Hex(new TextEncoder().encode(input.data.files.join("\n"))),
    }
    : undefined;
  return {
    task: input.task,
    created: new Date().toISOString(),
    model: input.model,
    layer: input.layer,
    data,
    device: input.device,
    settings: input.settings,
    ...(input.identity ? { identity: input.identity } : {}),
    ...(input.shard ? { shard: input.shard } : {}),
    versions: {
      protoscope: PROTOSCOPE_VERSION,
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      onnxruntimeWeb: ort.env.versions.web ?? ort.env.versions.common,
    },
  };
}
