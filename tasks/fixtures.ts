// deno task fixtures [--dir .cache/fixture] [--resnet50 legacy,dynamo] [--force]
// Generates the planted-truth fixture (model, images, truth.json) and, on request, random ResNet-50s.
import { type Flags, parseCli, runTask, UsageError } from "../src/cli/cli.ts";
import { ensureFixture, ensureResNet50 } from "../fixtures/ensure.ts";
import type { Naming } from "../fixtures/resnet50.ts";

const NAMINGS: readonly Naming[] = ["legacy", "dynamo"];

const FIXTURE_FLAGS = {
  dir: { type: "string", default: ".cache/fixture", help: "output folder" },
  resnet50: {
    type: "string",
    help: `also write resnet50-<naming>.onnx for each naming in this list (${NAMINGS.join(", ")})`,
  },
  force: { type: "boolean", default: false, help: "regenerate the fixture even if its stamp is current" },
} satisfies Flags;

export async function main(argv: string[]): Promise<void> {
  const values = parseCli(
    "fixtures",
    "Generates the planted-truth test fixture and, on request, random ResNet-50s.",
    FIXTURE_FLAGS,
    argv,
  );
  const dir = values.dir as string;
  const list = (values.resnet50 as string | undefined) ?? "";
  const namings = list.split(",").map((s) => s.trim()).filter((s) => s);
  for (const n of namings) {
    if (!NAMINGS.includes(n as Naming)) {
      throw new UsageError(`--resnet50 ${list}: '${n}' is not a naming (expected ${NAMINGS.join(" or ")})`);
    }
  }

  const t0 = performance.now();
  const paths = await ensureFixture(dir, { force: values.force as boolean });
  console.log(`fixture: ${paths.modelPath}`);
  console.log(`  images: ${paths.imageFolder} (ImageFolder), ${paths.valFolder} (ImageNet val layout)`);
  console.log(`  labels: ${paths.labelsCsv}; truth: ${paths.truthPath}; classes: ${paths.classesPath}`);
  for (const n of namings) console.log(`resnet50 (${n}): ${await ensureResNet50(dir, n as Naming)}`);
  console.log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

if (import.meta.main) await runTask(() => main(Deno.args));
