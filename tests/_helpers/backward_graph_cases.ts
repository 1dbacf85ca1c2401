// The backward graphs whose bytes are pinned by tests/backward_graph_hashes_test.ts: every head the backward
// tests use (toy heads, the fixture classifier and the captum ResNet cut at their taps) under both methods,
// both conv input-gradient forms, one and several samples per image, and the default and full output lists.
// The pinned SHA-256 of `encodeModel` per case makes a refactor of src/backward/ provably behaviour-neutral:
// any change in node names, ops, attributes or initializers changes a hash. The ResNet-50 head (slow to
// build) is left to tools/reference/backward_graph_hashes.ts --resnet50.
import { type BackwardOptions, buildBackwardGraph } from "../../src/backward/mod.ts";
import { resolveLayer } from "../../src/model/layers.ts";
import { headFromTap } from "../../src/model/surgery.ts";
import { encodeModel, type Model, sha256Hex } from "../../src/onnx/model.ts";
import { buildCaptumModel } from "../../fixtures/captum_cases.ts";
import { buildFixtureModel } from "../../fixtures/fixture_model.ts";
import { buildResNet50 } from "../../fixtures/resnet50.ts";
import { FIXTURE_TAP_LAYER3, STAGE_CHANNELS } from "../../fixtures/spec.ts";
import { opZooHead, toyResNetHead } from "./toy_heads.ts";

export interface HeadCase {
  name: string;
  head: () => Model;
}

/** The heads of the fast cases. */
export function fastHeads(): HeadCase[] {
  const captum = (layer: string, dims: number[]) => () => {
    const model = buildCaptumModel();
    return headFromTap(model, resolveLayer(model, layer).tensor, ["N", ...dims]);
  };
  return [
    { name: "toy-resnet", head: () => toyResNetHead() },
    { name: "toy-resnet-seed3-nomaxpool", head: () => toyResNetHead({ seed: 3, maxPool: false }) },
    { name: "op-zoo", head: () => opZooHead() },
    { name: "op-zoo-sum", head: () => opZooHead({ product: false }) },
    ...[11, 13, 18].map((opset) => ({ name: `op-zoo-opset${opset}`, head: () => opZooHead({ opset }) })),
    {
      name: "fixture-layer3.1",
      head: () =>
        headFromTap(buildFixtureModel(), FIXTURE_TAP_LAYER3, ["batch", STAGE_CHANNELS.layer3, 14, 14]),
    },
    { name: "captum-layer3.5", head: captum("layer3.5", [128, 14, 14]) },
    { name: "captum-layer4.2", head: captum("layer4.2", [256, 7, 7]) },
  ];
}

/** The ResNet-50 heads of tests/attribution_resnet50_test.ts (BN kept and folded). */
export function resnet50Heads(): HeadCase[] {
  const cut = (foldBatchNorm: boolean) => () =>
    headFromTap(
      buildResNet50({ seed: 3, naming: "legacy", foldBatchNorm }),
      "/layer3/layer3.5/relu_2/Relu_output_0",
      ["batch", 1024, 14, 14],
    );
  return [{ name: "resnet50-layer3.5", head: cut(false) }, {
    name: "resnet50-layer3.5-folded",
    head: cut(true),
  }];
}

/** Generator options of every case, named. */
export function optionVariants(): { name: string; opts: BackwardOptions }[] {
  const out: { name: string; opts: BackwardOptions }[] = [];
  for (const method of ["gradxact", "deeplift"] as const) {
    for (const convInputGradient of ["conv", "convtranspose"] as const) {
      for (const samplesPerImage of [1, 3]) {
        out.push({
          name: `${method}/${convInputGradient}/s${samplesPerImage}`,
          opts: { method, convInputGradient, samplesPerImage },
        });
      }
    }
    out.push({
      name: `${method}/all-outputs`,
      opts: { method, outputs: ["attribution", "map", "logits", "grad"] },
    });
  }
  return out;
}

/** SHA-256 of every (head, options) backward model, keyed "head/method/...". */
export async function backwardGraphHashes(heads: HeadCase[]): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {};
  for (const { name, head } of heads) {
    const model = head();
    for (const v of optionVariants()) {
      hashes[`${name}/${v.name}`] = await sha256Hex(encodeModel(buildBackwardGraph(model, v.opts)));
    }
  }
  return hashes;
}
