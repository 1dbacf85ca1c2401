// Deno's Web Worker constructor, captured at startup: onnxruntime-web's threaded wasm replaces
// globalThis.Worker with node:worker_threads' Worker when its first session starts (it detects Node APIs),
// and that one refuses file: URLs. Modules that spawn workers use this captured constructor.
export const WebWorker: typeof Worker = globalThis.Worker;
