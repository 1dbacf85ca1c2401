// The native CPU execution provider: onnxruntime-node, ORT's own C++ CPU kernels loaded through Node-API.
// On a machine without a hardware GPU it runs ResNet-50 about 7x faster than onnxruntime-web's wasm EP on the
// same cores (docs/performance.md). Its linux/macOS/windows libraries ship inside the npm package; Deno runs no
// install script, which is what we want (the script only fetches optional CUDA files).
//
// The one place that loads it. The single binary leaves the package out (`deno task compile` excludes its
// 288 MB of every platform's libraries, see COMPILE_EXCLUDES) and does not try: there, and wherever the library
// cannot load (an unsupported platform, a run without --allow-ffi), sessions fall back to the wasm EP (see
// resolveEp in ./ort.ts). The import names the package through a variable so that `deno compile` does not
// pull it into the binary's module graph either.
import type * as OrtNode from "onnxruntime-node";

export type OrtNodeModule = typeof OrtNode;

/** deno.json's import map entry ("npm:onnxruntime-node@1.30.0", the version of onnxruntime-web). */
export const ORT_NODE_SPECIFIER = "onnxruntime-node";

/** The loaded module and its version, or why it did not load. */
export type NativeOrt =
  | { ort: OrtNodeModule; version: string; reason?: undefined }
  | { ort?: undefined; reason: string };

let loaded: Promise<NativeOrt> | undefined;

/**
 * onnxruntime-node, imported once per process; never throws. `specifier` replaces the package (tests use a
 * missing one to take the binary's path).
 */
export function loadOrtNode(specifier: string = ORT_NODE_SPECIFIER): Promise<NativeOrt> {
  if (specifier !== ORT_NODE_SPECIFIER) return importOrtNode(specifier);
  return loaded ??= importOrtNode(specifier);
}

async function importOrtNode(specifier: string): Promise<NativeOrt> {
  if (Deno.build.standalone) {
    return { reason: "the single binary does not carry onnxruntime-node's native library" };
  }
  try {
    const mod = await import(specifier) as OrtNodeModule & { default?: OrtNodeModule };
    // Deno's CommonJS interop puts the exports on the namespace and on `default`; either has the session.
    const ort = mod.InferenceSession ? mod : mod.default!;
    if (!ort?.InferenceSession) return { reason: `${specifier} has no InferenceSession` };
    return { ort, version: ort.env.versions.node ?? ort.env.versions.common };
  } catch (e) {
    const message = (e as Error).message.split("\n")[0];
    return { reason: `the native onnxruntime library did not load (${message})` };
  }
}
