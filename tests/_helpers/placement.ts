// Which execution provider ORT assigns each node of a model to on the WebGPU EP. ORT only reports this in
// its verbose log, which the wasm runtime writes straight to stderr, so a child Deno process creates the
// session and the parent parses the child's stderr. Used to check that generated graphs never fall back
// to the CPU (a fallback costs GPU<->CPU copies in the middle of the graph).
// Run directly: deno run -A tests/_helpers/placement.ts model.onnx
import { encodeModel, type Model } from "../../src/onnx/model.ts";

export interface Placement {
  /** Nodes per execution provider, e.g. { WebGpuExecutionProvider: 142, CPUExecutionProvider: 2 }. */
  counts: Record<string, number>;
  /** "OpType (node name)" of every node ORT put on the CPU EP. */
  cpuNodes: string[];
}

/** Creates a WebGPU session for `model` in a child process and reports ORT's node placement. */
export async function webgpuPlacement(model: Model | Uint8Array): Promise<Placement> {
  const bytes = model instanceof Uint8Array ? model : encodeModel(model);
  const path = await Deno.makeTempFile({ suffix: ".onnx" });
  try {
    await Deno.writeFile(path, bytes);
    const child = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL(import.meta.url).pathname, path],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const log = new TextDecoder().decode(child.stderr) + new TextDecoder().decode(child.stdout);
    if (!child.success) throw new Error(`webgpuPlacement: the child session failed:\n${log.slice(-2000)}`);
    return parsePlacement(log);
  } finally {
    await Deno.remove(path);
  }
}

/** Parses ORT's "Node placements" verbose log section. */
export function parsePlacement(log: string): Placement {
  const counts: Record<string, number> = {};
  const cpuNodes: string[] = [];
  let current = "";
  for (const line of log.split("\n")) {
    const head = line.match(/(?:All nodes|Node\(s\)) placed on \[(\w+)\]\. Number of nodes: (\d+)/);
    if (head) {
      current = head[1];
      counts[current] = Number(head[2]);
      continue;
    }
    const node = line.match(/VerifyEachNodeIsAssignedToAnEp\]\s{3}(\S.*)$/);
    if (node && current === "CPUExecutionProvider") cpuNodes.push(node[1].trim());
  }
  if (!Object.keys(counts).length) throw new Error("parsePlacement: no node placement found in ORT's log");
  return { counts, cpuNodes };
}

if (import.meta.main) {
  const { ort } = await import("../../src/runtime/ort.ts");
  const { acquireGpu } = await import("../../src/runtime/gpu.ts");
  const gpu = await acquireGpu();
  if (!gpu) throw new Error("placement: no WebGPU adapter on this machine");
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = "verbose";
  const session = await ort.InferenceSession.create(await Deno.readFile(Deno.args[0]), {
    executionProviders: [{ name: "webgpu", device: gpu.device } as never],
    graphOptimizationLevel: "all",
    logSeverityLevel: 0,
    logVerbosityLevel: 0,
  });
  await session.release();
}
