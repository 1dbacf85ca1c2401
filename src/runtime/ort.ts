// onnxruntime in Deno: the native WebGPU EP on the shared device, the native CPU EP (onnxruntime-node), or the
// wasm EP with threads. One session type for all three: callers feed web `ort.Tensor`s and read outputs the same
// way whichever runs (both packages implement onnxruntime-common's interfaces).
import "./web_worker.ts";
import * as ort from "onnxruntime-web/webgpu";
import { acquireGpu, type GpuContext } from "./gpu.ts";
import { encodeModel, type Model } from "../onnx/model.ts";
import { readAsset } from "./assets.ts";
import { loadOrtNode, type NativeOrt, type OrtNodeModule } from "./ort_node.ts";

export { ort };
export type Ep = "webgpu" | "cpu" | "wasm";
/** What users ask for: auto = webgpu on a hardware adapter; else the native CPU EP where onnxruntime-node loads
 * (llvmpipe runs the model ~15x slower than the wasm EP, the wasm EP ~7x slower than the native one); else wasm. */
export type EpChoice = Ep | "auto";
export const EP_CHOICES = ["auto", "webgpu", "cpu", "wasm"] as const;
export const EP_HELP =
  "execution provider: auto (webgpu on a hardware GPU, else cpu where the native library loads, else wasm) | " +
  "webgpu | cpu (onnxruntime-node) | wasm";

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

/** Overrides the wasm EP's thread count (an integer from 1 to 64). */
export const WASM_THREADS_ENV = "PROTOSCOPE_WASM_THREADS";

/**
 * The wasm EP's threads: PROTOSCOPE_WASM_THREADS, else the cores (at most 8). The threaded build runs its
 * pthreads on node:worker_threads inside Deno; in a long test process under heavy load one of them has spun
 * at 100% of a core for good, twice (docs/reliability.md), so the suite runs it with 1.
 */
export function wasmThreads(): number {
  const raw = Deno.env.get(WASM_THREADS_ENV);
  if (raw === undefined || raw === "") return Math.max(1, Math.min(navigator.hardwareConcurrency ?? 1, 8));
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new Error(`${WASM_THREADS_ENV}=${raw}: expected an integer from 1 to 64`);
  }
  return n;
}

let threadsConfigured = false;
/** Threads for the wasm EP; must be set before the first wasm session is created. */
export function configureWasm(threads = wasmThreads()): void {
  if (threadsConfigured) return;
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = "error";
  threadsConfigured = true;
}

export interface SessionHandle {
  session: ort.InferenceSession;
  ep: Ep;
  gpu?: GpuContext;
  /** onnxruntime-node's version, for the cpu EP. */
  nativeVersion?: string;
}

export interface SessionOptions {
  ep: EpChoice;
  /** Outputs that stay on the GPU as GPUBuffers (webgpu only), for handing to WGSL kernels. */
  gpuOutputs?: string[];
  /** Set when an explicit --ep webgpu or --ep cpu must not silently become wasm. */
  strict?: boolean;
  /** A helper session (e.g. probing shapes), not the model run: does not announce its EP. */
  quiet?: boolean;
}

export interface ResolvedEp {
  ep: Ep;
  gpu?: GpuContext;
  native?: OrtNodeModule;
  nativeVersion?: string;
}

/**
 * Which EP will actually run. webgpu falls back to wasm when there is no adapter, cpu when onnxruntime-node
 * does not load (inside the single binary, on an unsupported platform), each with a message. `loadNative`
 * replaces the loader (tests take the binary's path with it).
 */
export async function resolveEp(
  requested: EpChoice,
  strict = false,
  loadNative: () => Promise<NativeOrt> = loadOrtNode,
): Promise<ResolvedEp> {
  if (requested === "wasm") return { ep: "wasm" };
  if (requested === "auto") {
    const gpu = await acquireGpu();
    if (gpu && !gpu.software) return { ep: "webgpu", gpu };
  }
  if (requested === "cpu" || requested === "auto") {
    const native = await loadNative();
    if (native.ort) return { ep: "cpu", native: native.ort, nativeVersion: native.version };
    if (strict && requested === "cpu") throw new Error(`--ep cpu: ${native.reason}`);
    sayOnce(`${native.reason}: falling back to the wasm execution provider`);
    return { ep: "wasm" };
  }
  const gpu = await acquireGpu();
  if (gpu) return { ep: "webgpu", gpu };
  const msg = "no WebGPU adapter is available on this machine";
  if (strict) throw new Error(`--ep webgpu: ${msg}`);
  sayOnce(`${msg}: falling back to the wasm execution provider`);
  return { ep: "wasm" };
}

export async function createSession(model: Model | Uint8Array, opts: SessionOptions): Promise<SessionHandle> {
  const { ep, gpu, native, nativeVersion } = await resolveEp(opts.ep, opts.strict);
  const bytes = model instanceof Uint8Array ? model : encodeModel(model);
  let session: ort.InferenceSession;
  if (native) {
    session = await native.InferenceSession.create(bytes, {
      executionProviders: ["cpu"],
      graphOptimizationLevel: "all",
      // ORT's own default thread count (the physical cores); warnings (e.g. unused initializers) stay quiet
      // as they do on the wasm EP.
      logSeverityLevel: 3,
    });
  } else {
    configureWasm();
    await loadOrtWasm();
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: ep === "webgpu" ? [{ name: "webgpu", device: gpu!.device } as never] : ["wasm"],
      graphOptimizationLevel: "all",
    };
    if (ep === "webgpu" && opts.gpuOutputs?.length) {
      options.preferredOutputLocation = Object.fromEntries(opts.gpuOutputs.map((n) => [n, "gpu-buffer"]));
    }
    session = await ort.InferenceSession.create(bytes, options);
  }
  const handle = { session, ep, gpu, nativeVersion };
  // Which EP runs the model, said once per process (on stderr: stdout may be a task's JSON).
  if (!opts.quiet) sayOnce(`model runs on ${epDescription(handle)}`);
  return handle;
}

export function epDescription(handle: { ep: Ep; gpu?: GpuContext; nativeVersion?: string }): string {
  if (handle.ep === "webgpu") return `webgpu (${handle.gpu?.description})`;
  if (handle.ep === "cpu") return `cpu (onnxruntime-node ${handle.nativeVersion}, native)`;
  return `wasm (${ort.env.wasm.numThreads} threads)`;
}

const said = new Set<string>();
/** Prints a line on stderr the first time it comes up in this process. */
function sayOnce(line: string): void {
  if (said.has(line)) return;
  said.add(line);
  console.error(line);
}
