// deno task fixtures [--dir .cache/fixture] [--resnet50 legacy,dynamo] [--force]
// Generates the planted-truth fixture (model, images, truth.json) and, on request, random ResNet-50s.
import { parseArgs } from "node:util";
import { ensureFixture, ensureResNet50 } from "../fixtures/ensure.ts";
import type { Naming } from "../fixtures/resnet50.ts";

const USAGE = `usage: deno task fixtures [--dir DIR] [--resnet50 legacy,dynamo] [--force]
  --dir DIR        output folder (default .cache/fixture)
  --resnet50 LIST  also write resnet50-<naming>.onnx for each naming (legacy, dynamo)
  --force          regenerate the fixture even if its stamp is current`;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    dir: { type: "string", default: ".cache/fixture" },
    resnet50: { type: "string" },
    force: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const namings = (values.resnet50 ?? "").split(",").map((s) => s.trim()).filter((s) => s);
for (const n of namings) {
  if (n !== "legacy" && n !== "dynamo") {
    console.error(
      `--resnet50 ${values.resnet50}: '${n}' is not a naming (expected legacy or dynamo)\n${USAGE}`,
    );
    Deno.exit(2);
  }
}

const t0 = performance.now();
const paths = await ensureFixture(values.dir, { force: values.force });
console.log(`fixture: ${paths.modelPath}`);
console.log(`  images: ${paths.imageFolder} (ImageFolder), ${paths.valFolder} (ImageNet val layout)`);
console.log(`  labels: ${paths.labelsCsv}; truth: ${paths.truthPath}; classes: ${paths.classesPath}`);
for (const n of namings) console.log(`resnet50 (${n}): ${await ensureResNet50(values.dir, n as Naming)}`);
console.log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
