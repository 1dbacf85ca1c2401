// Friendly layer names ("layer3.5", "layer4.2", any torchvision module path) resolved to the tensor that is
// the module's output, for models from torchvision's legacy exporter (scoped node names like
// "/layer3/layer3.5/relu_2/Relu"), its dynamo exporter (node metadata pkg.torch.onnx.name_scopes), and any
// model by raw tensor name.
import type { Graph, Model, Node } from "../onnx/model.ts";

export interface Tap {
  /** What the user asked for. */
  layer: string;
  /** The graph value that holds the module's output. */
  tensor: string;
  /** How the name was matched. */
  via: "tensor" | "legacy-scope" | "dynamo-scope";
}

const SCOPE_KEY = "pkg.torch.onnx.name_scopes";

/**
 * The scope directories of a graph's legacy node names ("/layer3/layer3.5/relu"): a segment "x_N" is the
 * N-th repeated call of module x only when "x" itself is a directory beside it. torchvision's Bottleneck calls
 * self.relu three times ("relu", "relu_1", "relu_2"), while a ViT's blocks are modules named "encoder_layer_0"
 * .. "encoder_layer_11" with no "encoder_layer" beside them.
 */
export function legacyScopeDirs(graph: Graph): Set<string> {
  const dirs = new Set<string>();
  for (const node of graph.node) {
    if (!node.name.startsWith("/")) continue;
    const segments = node.name.split("/").filter((s) => s).slice(0, -1);
    for (let i = 1; i <= segments.length; i++) dirs.add(`/${segments.slice(0, i).join("/")}`);
  }
  return dirs;
}

/**
 * Module paths a node belongs to, outermost first, e.g. ["layer3", "layer3.5", "layer3.5.relu"]. `dirs`
 * (legacyScopeDirs of the node's graph) tells a repeated call's "_N" from a name that ends in digits; without
 * it every "_N" counts as a repeated call.
 */
export function nodeScopes(
  node: Node,
  dirs?: ReadonlySet<string>,
): { scopes: string[]; via: Tap["via"] } | undefined {
  const meta = node.metadataProps?.find((p) => p.key === SCOPE_KEY);
  if (meta) {
    // The value is a Python list repr, e.g. "['', 'layer3', 'layer3.5']"; accept JSON quoting too.
    const scopes = [...meta.value.matchAll(/'([^']*)'|"([^"]*)"/g)].map((m) => m[1] ?? m[2]).filter((s) => s);
    return { scopes, via: "dynamo-scope" };
  }
  if (!node.name.startsWith("/")) return undefined;
  const segments = node.name.split("/").filter((s) => s).slice(0, -1);
  const scopes: string[] = [];
  let path = "";
  let dir = "";
  for (const seg of segments) {
    // A Sequential's child is named "<sequential>.<index>" ("layer1.0", "downsample.0"); any other child by
    // its attribute name, with "_N" appended when the module is called again ("relu_2").
    const repeated = seg.replace(/_\d+$/, "");
    const name = repeated !== seg && dirs && !dirs.has(`${dir}/${repeated}`) ? seg : repeated;
    dir += `/${seg}`;
    const dot = seg.indexOf(".");
    if (path && dot > 0 && seg.slice(0, dot) === path.slice(path.lastIndexOf(".") + 1)) {
      path += seg.slice(dot);
    } else path = path ? `${path}.${name}` : name;
    scopes.push(path);
  }
  return { scopes, via: "legacy-scope" };
}

/** Every module path in graph order, with the value that is its output (the last value its nodes produce). */
export function moduleOutputs(graph: Graph): Map<string, { tensor: string; via: Tap["via"] }> {
  const outputs = new Map<string, { tensor: string; via: Tap["via"] }>();
  const dirs = legacyScopeDirs(graph);
  for (const node of graph.node) {
    const s = nodeScopes(node, dirs);
    if (!s || !node.output.length) continue;
    for (const scope of s.scopes) outputs.set(scope, { tensor: node.output[0], via: s.via });
  }
  return outputs;
}

/** Resolves a layer name or a raw tensor name; an unknown name fails with the list of candidates. */
export function resolveLayer(model: Model, layer: string): Tap {
  const graph = model.graph;
  const produced = new Set(graph.node.flatMap((n) => n.output));
  if (produced.has(layer)) return { layer, tensor: layer, via: "tensor" };
  const modules = moduleOutputs(graph);
  const hit = modules.get(layer);
  if (hit) return { layer, tensor: hit.tensor, via: hit.via };
  // A classifier exported inside a wrapper (a normalizing Sequential, robustness's AttackerModel) scopes its
  // modules under the wrapper's path ("model.layer3.5", "1.layer3.5"): take the one module that ends so.
  const wrapped = [...modules.keys()].filter((m) => m.endsWith(`.${layer}`));
  if (wrapped.length === 1) {
    const w = modules.get(wrapped[0])!;
    return { layer, tensor: w.tensor, via: w.via };
  }
  if (wrapped.length > 1) {
    throw new Error(`--layer ${layer}: ambiguous, it names ${wrapped.join(", ")}; pass the full path`);
  }
  const candidates = layerCandidates(model);
  const near = candidates.filter((c) => c.startsWith(layer.split(".")[0])).slice(0, 40);
  const shown = (near.length ? near : candidates.slice(0, 60)).join(", ");
  throw new Error(
    `--layer ${layer}: no module or tensor of that name in the model. ` +
      (candidates.length
        ? `Candidates: ${shown}${candidates.length > 60 ? ", ..." : ""}. `
        : "The model has no torchvision module scopes; ") +
      "Raw tensor names also work (see `deno task layers --model M --all`).",
  );
}

/** Module paths that name blocks, i.e. not leaf ops: what `deno task layers` offers by default. */
export function layerCandidates(model: Model): string[] {
  const modules = moduleOutputs(model.graph);
  const names = [...modules.keys()];
  // A module with sub-modules (a stage or a block) is what users tap; leaves like "layer3.5.conv1" are listed
  // only with --all.
  return names.filter((n) => names.some((m) => m.startsWith(`${n}.`)));
}
