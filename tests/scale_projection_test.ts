// docs/scale.md's ImageNet projection rests on ResNet-50's FLOP split at layer3.5 and on each stage's counts;
// a wrong block formula or a dropped factor would move the whole table.
import assert from "node:assert/strict";
import {
  BACKWARD_OVER_FORWARD,
  IMAGENET_PROJECTION,
  projectImageNet,
  projectionTable,
  resnet50Macs,
  splitFlop,
} from "../src/bench/scale_projection.ts";

Deno.test("ResNet-50's MACs: torchvision's 4.09 G in all, 0.81 G after layer3.5, 16 bottlenecks", () => {
  const macs = resnet50Macs();
  const total = Object.values(macs).reduce((a, b) => a + b);
  // Counted by forward hooks on torchvision 0.14's resnet50 (Conv2d: output size x kernel x in channels,
  // Linear: in x out): 4,089,184,256 in all, 811,286,528 in layer4 and fc; the model card's 4.09 GFLOPS.
  assert.equal(total, 4_089_184_256);
  assert.equal(Object.keys(macs).filter((k) => k.startsWith("layer")).length, 16);
  const { trunk, head, full } = splitFlop("layer3.5");
  assert.equal(full, 2 * total);
  assert.equal(head, 2 * 811_286_528);
  assert.equal(trunk + head, full);
  // layer4.2 leaves only the fc layer after it.
  assert.equal(splitFlop("layer4.2").head, 2 * 2048 * 1000);
  assert.throws(() => splitFlop("layer5.0"), /no module layer5\.0/);
});

Deno.test("each stage's FLOP is its counts times the model's parts", () => {
  const rows = new Map(projectImageNet().map((r) => [r.stage, r]));
  const f = splitFlop("layer3.5"), p = IMAGENET_PROJECTION;
  const N = p.classes * p.imagesPerClass;
  assert.equal(rows.get("predict")!.flop, N * f.full);
  assert.equal(
    rows.get("shifting-test")!.flop,
    p.shiftingDraws * p.shiftingOffsets * p.imagesPerClass * f.head,
  );
  assert.equal(rows.get("masking-test")!.flop, p.maskingDraws * p.maskLevels * p.imagesPerClass * f.full);
  const attribution = N * p.noiseSamples * (f.trunk + (1 + BACKWARD_OVER_FORWARD) * f.head);
  assert.ok(rows.get("concepts")!.flop > attribution && rows.get("concepts")!.flop < 1.1 * attribution);
  // Quadratic in K: the hyperplanes' FLOP scale with the pairs.
  const small = projectImageNet({ ...p, classes: 100 }).find((r) => r.stage === "hyperplanes")!;
  assert.ok(rows.get("hyperplanes")!.flop / small.flop > 50);
  const table = projectionTable();
  for (const stage of rows.keys()) assert.ok(table.includes(`\n| ${stage} |`), stage);
  assert.match(table, /^\| all \| \| \| \| \d+ \(\d+\.\d\d h\) \| \d+ \|$/m);
  // Decoding is paid once, by prepare; the later stages read the 224 px cache.
  assert.equal(rows.get("predict")!.hostSeconds * 2, rows.get("component-test + visualize")!.hostSeconds);
  assert.ok(rows.get("prepare")!.hostSeconds > 10 * rows.get("predict")!.hostSeconds);
});
