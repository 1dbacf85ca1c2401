// onnxruntime-web in Deno: the native WebGPU EP on the shared device, or the wasm EP with threads.
import "./web_worker.ts";
import * as ort from "onnxruntime-web/webgpu";
import { acquireGpu, type GpuContext } from "./gpu.ts";
import { encodeModel, type Model } from "../onnx/model.ts";
import { readAsset } from "./assets.ts";

export { ort };
export type Ep = "webgpu" | "wasm";
/** What users ask for: auto = webgpu on a hardware adapter, wasm on a software one (llvmpipe runs the model
 * ~15x slower than the wasm EP on the same CPU), or no adapter. */
export type EpChoice = Ep | "auto";
export const EP_CHOICES = ["auto", "webgpu", "wasm"] as const;
export const EP_HELP = "execution provider: auto (webgpu on a hardware GPU, else wasm) | webgpu | wasm";

// ORT's threaded wasm loads its worker script by fetching it into a blob: URL and importing that, which Deno
// refuses ("Only file and data URLs are supported"). Remember which file each fetched blob came from, and
// hand ORT the original file: URL instead of a blob: URL for exactly those blobs.
const blobOrigins = new WeakMap<Blob, string>();
const plainFetch = globalThis.fetch;
globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  const response = await plainFetch(input, init);
  if (!url.startsWith("file:") || !url.endsWith(".mjs")) return response;
  const blob = await response.blob();
  blobOrigins.set(blob, url);
  const tagged = new Response(blob, { status: response.status, headers: response.headers });
  tagged.blob = () => Promise.resolve(blob);
  return tagged;
};
const plainCreateObjectURL = URL.createObjectURL;
URL.createObjectURL = (obj: Blob): string => {
  const origin = obj instanceof Blob ? blobOrigins.get(obj) : undefined;
  return origin ?? plainCreateObjectURL(obj);
};

// The wasm build that the /webgpu bundle loads (the asyncify one, for both EPs). It is handed to ORT as bytes
// read through the asset loader rather than fetched by ORT itself, so the compiled binary uses its embedded copy.
const ORT_WASM = new URL(
  "./ort-wasm-simd-threaded.asyncify.wasm",
  import.meta.resolve("onnxruntime-web/webgpu"),
);
let wasmBinary: Promise<void> | undefined;
/** Sets `ort.env.wasm.wasmBinary`; must be done before the first session is created. */
export function loadOrtWasm(): Promise<void> {
  return wasmBinary ??= readAsset(ORT_WASM).then((bytes) => {
    ort.env.wasm.wasmBinary = bytes;
  });
}

let threadsConfigured = false;
/** Threads for the wasm EP; must be set before the first wasm session is created. */
export function configureWasm(threads = Math.max(1, Math.min(navigator.hardwareConcurrency ?? 1, 8))): void {
  if (threadsConfigured) return;
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = "error";
  threadsConfigured = true;
}

export interface SessionHandle {
  session: ort.InferenceSession;
  ep: Ep;
  gpu?: GpuContext;
}

export interface SessionOptions {
  ep: EpChoice;
  /** Outputs that stay on the GPU as GPUBuffers (webgpu only), for handing to WGSL kernels. */
  gpuOutputs?: string[];
  /** Set when an explicit --ep webgpu must not silently become wasm. */
  strict?: boolean;
}

/** Which EP will actually run: webgpu falls back to wasm (with a message) when there is no adapter. */
export async function resolveEp(requested: EpChoice, strict = false): Promise<{ ep: Ep; gpu?: GpuContext }> {
  if (requested === "wasm") return { ep: "wasm" };
  const gpu = await acquireGpu();
  if (requested === "auto") return gpu && !gpu.software ? { ep: "webgpu", gpu } : { ep: "wasm" };
  if (gpu) return { ep: "webgpu", gpu };
  const msg = "no WebGPU adapter is available on this machine";
  if (strict) throw new Error(`--ep webgpu: ${msg}`);
  console.error(`${msg}: falling back to the wasm execution provider`);
  return { ep: "wasm" };
}

export async function createSession(model: Model | Uint8Array, opts: SessionOptions): Promise<SessionHandle> {
  const { ep, gpu } = await resolveEp(opts.ep, opts.strict);
  const bytes = model instanceof Uint8Array ? model : encodeModel(model);
  configureWasm();
  await loadOrtWasm();
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: ep === "webgpu" ? [{ name: "webgpu", device: gpu!.device } as never] : ["wasm"],
    graphOptimizationLevel: "all",
  };
  if (ep === "webgpu" && opts.gpuOutputs?.length) {
    options.preferredOutputLocation = Object.fromEntries(opts.gpuOutputs.map((n) => [n, "gpu-buffer"]));
  }
  const session = await ort.InferenceSession.create(bytes, options);
  return { session, ep, gpu };
}

export function epDescription(handle: { ep: Ep; gpu?: GpuContext }): string {
  return handle.ep === "webgpu"
    ? `webgpu (${handle.gpu?.description})`
    : `wasm (${ort.env.wasm.numThreads} threads)`;
}
