// onnxruntime-node's CPU kernels (MLAS, BLAS-speed GEMMs) for protoscope's own matrix products: small ONNX
// graphs generated for the GEMM-heavy steps (hyperplanes, NMF products) run here when no hardware GPU does
// them. The library is the model's native CPU EP's (./ort_node.ts loads it once for both); where it cannot
// load (inside the single binary, on a platform the npm package has no library for, or with
// PROTOSCOPE_NO_NATIVE=1) callers fall back to the CPU twins and print the reason this module gives.
import type * as OrtNode from "onnxruntime-node";
import type { Model } from "../onnx/model.ts";
import { encodeModel } from "../onnx/model.ts";
import { loadOrtNode, type OrtNodeModule } from "./ort_node.ts";

export type NativeOrt = OrtNodeModule;
export type NativeSession = OrtNode.InferenceSession;

export type NativeCpu =
  | { ort: NativeOrt; description: string }
  | { ort: undefined; reason: string };

/** The native runtime (loaded once, by ./ort_node.ts, which the model's CPU EP uses too), or why it is not there. Never throws. */
export async function loadNativeCpu(): Promise<NativeCpu> {
  // Checked on every call (not cached): a test turns the native path off and on again.
  if (Deno.env.get("PROTOSCOPE_NO_NATIVE") === "1") {
    return { ort: undefined, reason: "PROTOSCOPE_NO_NATIVE=1" };
  }
  const loaded = await loadOrtNode();
  return loaded.ort
    ? { ort: loaded.ort, description: `onnxruntime-node ${loaded.version} CPU` }
    : { ort: undefined, reason: loaded.reason };
}

/**
 * A session on the native CPU EP for a generated graph. `threads` defaults to ORT's own choice (the
 * physical cores). Without ORT's memory arena: sessions live as long as the process, and an arena would keep
 * the largest tile's buffers (hundreds of MB) after the work is done; a fresh allocation per run costs little
 * next to the GEMMs.
 */
export function createNativeSession(
  ort: NativeOrt,
  model: Model,
  threads?: number,
): Promise<NativeSession> {
  return ort.InferenceSession.create(encodeModel(model), {
    executionProviders: ["cpu"],
    graphOptimizationLevel: "all",
    enableCpuMemArena: false,
    // Idle pool threads sleep instead of spinning: on a shared or busy CPU spinning threads take the cores
    // from the ones with work (measured here: 2 spinning threads ran NMF's products 2x slower than 1).
    extra: { session: { intra_op: { allow_spinning: "0" } } },
    ...(threads ? { intraOpNumThreads: threads } : {}),
  });
}

const sessions = new Map<string, Promise<NativeSession>>();

/**
 * The process's one session for the graph named `key` (with `threads`), created from `model()` on first use:
 * generated graphs are the same for every call with the same key, and building a session is the costly part.
 */
export function cachedNativeSession(
  ort: NativeOrt,
  key: string,
  model: () => Model,
  threads?: number,
): Promise<NativeSession> {
  const id = `${key}/${threads ?? "default"}`;
  let session = sessions.get(id);
  if (!session) {
    session = createNativeSession(ort, model(), threads);
    sessions.set(id, session);
  }
  return session;
}
