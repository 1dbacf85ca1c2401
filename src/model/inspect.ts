// Shapes of intermediate tensors, found by running the model once on a blank image: exporters do not always
// record them, and ORT knows them exactly.
import type { Model } from "../onnx/model.ts";
import { createSession, ort } from "../runtime/ort.ts";
import { loadOrtNode } from "../runtime/ort_node.ts";
import { imageInput, trunkWithTaps, withDynamicInput } from "./surgery.ts";
import { layerCandidates, moduleOutputs } from "./layers.ts";
import { IMAGE_SIZE } from "../data/input_spec.ts";

export async function probeShapes(
  model: Model,
  tensors: string[],
  size = IMAGE_SIZE,
): Promise<Map<string, number[]>> {
  const dynamic = withDynamicInput(model);
  const input = imageInput(dynamic);
  // On the CPU whatever runs the model: a run on the native EP then never starts the wasm runtime.
  const ep = (await loadOrtNode()).ort ? "cpu" : "wasm";
  const handle = await createSession(trunkWithTaps(dynamic, tensors, { withLogits: false }), {
    ep,
    quiet: true,
  });
  try {
    const blank = new ort.Tensor("float32", new Float32Array(3 * size * size), [1, 3, size, size]);
    const out = await handle.session.run({ [input.name]: blank });
    return new Map(tensors.map((t) => [t, [...out[t].dims]]));
  } finally {
    await handle.session.release();
  }
}

export interface LayerRow {
  layer: string;
  tensor: string;
  shape: number[];
}

/** The taps a user can name, with their output shapes for a 224x224 input. */
export async function listLayers(model: Model, opts: { all?: boolean } = {}): Promise<LayerRow[]> {
  const modules = moduleOutputs(model.graph);
  const names = opts.all ? [...modules.keys()] : layerCandidates(model);
  const tensors = [...new Set(names.map((n) => modules.get(n)!.tensor))];
  if (!tensors.length) {
    // No module scopes (e.g. Model Zoo files): offer the outputs of every Relu/Add, the usual block ends.
    const fallback = model.graph.node.filter((n) => n.opType === "Relu" || n.opType === "Add").map((n) =>
      n.output[0]
    );
    const shapes = await probeShapes(model, fallback);
    return fallback.map((t) => ({ layer: t, tensor: t, shape: shapes.get(t)! }));
  }
  const shapes = await probeShapes(model, tensors);
  return names.map((n) => ({
    layer: n,
    tensor: modules.get(n)!.tensor,
    shape: shapes.get(modules.get(n)!.tensor)!,
  }));
}

/**
 * When the graph starts with elementwise arithmetic on its input (x - mean, / std: a normalizing wrapper was
 * exported), a sentence saying so; protoscope normalizes before the model, so such a model sees its input
 * normalized twice. undefined for a graph whose input goes straight into a convolution.
 */
export function inputNormalizationWarning(model: Model, path: string): string | undefined {
  const initializers = new Set(model.graph.initializer.map((t) => t.name));
  const input = model.graph.input.find((i) => !initializers.has(i.name));
  if (!input) return undefined;
  const first = model.graph.node.filter((n) => n.input.includes(input.name));
  const arithmetic = first.filter((n) => ["Sub", "Div", "Mul", "Add"].includes(n.opType));
  if (!arithmetic.length || arithmetic.length !== first.length) return undefined;
  return `--model ${path}: the graph begins with ${
    arithmetic.map((n) => n.opType).join("/")
  } on its input, ` +
    "which looks like input normalization inside the model; protoscope already applies ImageNet's mean and std, " +
    "so the model would see them twice. Export the classifier without its normalizing wrapper.";
}
