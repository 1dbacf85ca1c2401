// Small classifier heads with random, seeded weights for checking the backward-graph generator: a
// ResNet-like head (bottleneck blocks, downsample branch, strided convs, BN, MaxPool, GAP, Flatten, Gemm)
// and an "op zoo" head that exercises the remaining gradient rules.
import { GraphBuilder } from "../../src/onnx/builder.ts";
import type { Model } from "../../src/onnx/model.ts";
import { seededRandom } from "../../src/runtime/random.ts";

export function seededNormal(seed: number): () => number {
  const u = seededRandom(seed);
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

class RandomWeights {
  private readonly normal: () => number;
  private readonly uniform: () => number;
  constructor(readonly b: GraphBuilder, seed: number) {
    this.normal = seededNormal(seed);
    this.uniform = seededRandom(seed + 1);
  }
  gaussian(name: string, dims: number[], std: number): string {
    const n = dims.reduce((a, c) => a * c, 1);
    return this.b.weight(name, dims, Float32Array.from({ length: n }, () => this.normal() * std));
  }
  between(name: string, dims: number[], lo: number, hi: number): string {
    const n = dims.reduce((a, c) => a * c, 1);
    return this.b.weight(name, dims, Float32Array.from({ length: n }, () => lo + (hi - lo) * this.uniform()));
  }
  conv(
    x: string,
    name: string,
    cin: number,
    cout: number,
    k: number,
    attrs: Record<string, number | number[]>,
  ) {
    const group = typeof attrs.group === "number" ? attrs.group : 1;
    const w = this.gaussian(
      `${name}.weight`,
      [cout, cin / group, k, k],
      Math.sqrt(2 / ((cin / group) * k * k)),
    );
    return this.b.node("Conv", [x, w], { kernel_shape: [k, k], ...attrs }, { name });
  }
  bn(x: string, name: string, c: number): string {
    const scale = this.between(`${name}.weight`, [c], 0.5, 1.5);
    const bias = this.gaussian(`${name}.bias`, [c], 0.1);
    const mean = this.gaussian(`${name}.running_mean`, [c], 0.1);
    const variance = this.between(`${name}.running_var`, [c], 0.5, 1.5);
    return this.b.node("BatchNormalization", [x, scale, bias, mean, variance], { epsilon: { f: 1e-5 } }, {
      name,
    });
  }
}

export interface ToyResNetOptions {
  seed?: number;
  /** Tap channels and spatial size, bottleneck widths, number of blocks, stride of the first, classes. */
  channels?: number;
  size?: number;
  mid?: number;
  wide?: number;
  blocks?: number;
  stride?: number;
  classes?: number;
  /** A MaxPool (k3, s2, p1) before the global average pool. */
  maxPool?: boolean;
}

/**
 * Tap [N, channels, size, size] -> bottleneck with a strided downsample branch -> identity bottlenecks ->
 * (MaxPool) -> GAP -> Flatten -> Gemm (transB) -> logits [N, classes]. Node names follow torchvision's
 * module paths (block0.conv1, block0.downsample.0, ...).
 */
export function toyResNetHead(opts: ToyResNetOptions = {}): Model {
  const { seed = 1, channels = 8, size = 8, mid = 4, wide = 16, blocks = 2, stride = 2, classes = 5 } = opts;
  const maxPool = opts.maxPool ?? true;
  const b = new GraphBuilder("toy_resnet_head");
  const w = new RandomWeights(b, seed);
  const x = b.input("tap", ["batch", channels, size, size]);
  const bottleneck = (input: string, name: string, cin: number, s: number): string => {
    let h = b.node("Relu", [w.bn(w.conv(input, `${name}.conv1`, cin, mid, 1, {}), `${name}.bn1`, mid)]);
    h = b.node("Relu", [
      w.bn(
        w.conv(h, `${name}.conv2`, mid, mid, 3, { pads: [1, 1, 1, 1], strides: [s, s] }),
        `${name}.bn2`,
        mid,
      ),
    ]);
    h = w.bn(w.conv(h, `${name}.conv3`, mid, wide, 1, {}), `${name}.bn3`, wide);
    const shortcut = cin === wide && s === 1 ? input : w.bn(
      w.conv(input, `${name}.downsample.0`, cin, wide, 1, { strides: [s, s] }),
      `${name}.downsample.1`,
      wide,
    );
    return b.node("Relu", [b.node("Add", [h, shortcut])], {}, { name: `${name}.relu_out` });
  };
  let h = bottleneck(x, "block0", channels, stride);
  for (let i = 1; i < blocks; i++) h = bottleneck(h, `block${i}`, wide, 1);
  if (maxPool) {
    h = b.node("MaxPool", [h], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, {
      name: "pool",
    });
  }
  h = b.node("GlobalAveragePool", [h]);
  h = b.node("Flatten", [h], { axis: 1 });
  const fcW = w.gaussian("fc.weight", [classes, wide], Math.sqrt(1 / wide));
  const fcB = w.gaussian("fc.bias", [classes], 0.1);
  b.node("Gemm", [h, fcW, fcB], { transB: 1 }, { name: "fc", outputs: ["logits"] });
  b.output("logits", ["batch", classes]);
  return b.model(17);
}

export interface OpZooOptions {
  seed?: number;
  /** Multiply two tap-dependent values (breaks DeepLift's summation-to-delta, which needs no products). */
  product?: boolean;
  /** Opset of the model (11..18): changes the forms of Squeeze/Unsqueeze here and of the generated
   * ReduceSum/ReduceMean. */
  opset?: number;
}

/**
 * Tap [N, 6, 6, 6]. One branch: grouped dilated Conv -> Sigmoid, Clip, Tanh, LeakyRelu, Mul or Add, Concat,
 * AveragePool (pads, count_include_pad=0), broadcast Add/Sub/Div with constants, GAP, Squeeze, Unsqueeze,
 * Reshape. Another: strided Conv whose transpose needs output_padding -> Flatten. Then Concat, MatMul +
 * Gemm(transA, alpha) on a Transpose -> logits [N, 5].
 */
export function opZooHead(opts: OpZooOptions = {}): Model {
  const { seed = 7, product = true, opset = 17 } = opts;
  const b = new GraphBuilder("op_zoo_head");
  const w = new RandomWeights(b, seed);
  const x = b.input("tap", ["batch", 6, 6, 6]);
  const a = w.conv(x, "gconv", 6, 4, 3, { group: 2, dilations: [2, 2], pads: [2, 2, 2, 2] });
  const sig = b.node("Sigmoid", [a]);
  const clipped = b.node("Clip", [a, b.weight("clip.min", [], [-0.5]), b.weight("clip.max", [], [0.8])]);
  const mixed = b.node(product ? "Mul" : "Add", [sig, clipped]);
  const th = b.node("Tanh", [b.node("Identity", [a])]);
  const cat = b.node("Concat", [mixed, th], { axis: 1 }); // [N,8,6,6]
  const pooled = b.node("AveragePool", [cat], {
    kernel_shape: [3, 3],
    strides: [2, 2],
    pads: [1, 1, 1, 1],
    count_include_pad: 0,
  }); // [N,8,3,3]
  const leaky = b.node("LeakyRelu", [pooled], { alpha: { f: 0.1 } });
  const shifted = b.node("Add", [leaky, w.gaussian("shift", [1, 8, 1, 1], 0.5)]);
  const lowered = b.node("Sub", [shifted, w.gaussian("lower", [3, 1], 0.5)]);
  const divided = b.node("Div", [lowered, w.between("divisor", [8, 1, 1], 0.5, 2)]);
  const neg = b.node("Neg", [divided]);
  // Broadcast between two tap-dependent values: the gradient of the [N,8,1,1] side is a ReduceSum.
  const centered = b.node("Sub", [
    neg,
    b.node("Mul", [b.node("GlobalAveragePool", [neg]), b.weight("half", [], [0.5])]),
  ]);
  const gap = b.node("GlobalAveragePool", [b.node("LeakyRelu", [centered], { alpha: { f: 0.2 } })]);
  // Squeeze/Unsqueeze take axes as attributes before opset 13 and as inputs since.
  const axes = (name: string, values: number[]): { inputs: string[]; attrs: Record<string, number[]> } =>
    opset >= 13 ? { inputs: [b.int64s(name, values)], attrs: {} } : { inputs: [], attrs: { axes: values } };
  const sq = axes("squeeze_axes", [2, 3]);
  const squeezed = b.node("Squeeze", [gap, ...sq.inputs], sq.attrs); // [N,8]
  const usq = axes("unsqueeze_axes", [-1]);
  const unsqueezed = b.node("Unsqueeze", [squeezed, ...usq.inputs], usq.attrs); // [N,8,1]
  const flatA = b.node("Reshape", [unsqueezed, b.int64s("flat_shape", [0, 8])]); // [N,8]
  const s = w.conv(x, "sconv", 6, 2, 3, { strides: [2, 2] }); // [N,2,2,2]
  const flatB = b.node("Flatten", [b.node("Relu", [s])], { axis: 1 }); // [N,8]
  const z = b.node("Concat", [flatA, flatB], { axis: 1 }); // [N,16]
  const m = b.node("MatMul", [z, w.gaussian("proj", [16, 5], 0.25)]);
  const zt = b.node("Transpose", [z], { perm: [1, 0] }); // [16,N]
  const gm = b.node("Gemm", [zt, w.gaussian("gemm.w", [16, 5], 0.25), w.gaussian("gemm.c", [5], 0.1)], {
    transA: 1,
    alpha: { f: 0.5 },
    beta: { f: 2 },
  });
  b.node("Add", [m, gm], {}, { outputs: ["logits"] });
  b.output("logits", ["batch", 5]);
  return b.model(opset);
}
