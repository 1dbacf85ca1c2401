// deno task fixtures [--dir .cache/fixture] [--resnet50 legacy,dynamo] [--force]
// deno task fixtures --classes K [--channels C] [--size PX] [--per-class N] [--dir .cache/scale-K]
// Generates the planted-truth fixture (model, images, truth.json) and, on request, random ResNet-50s; with
// --classes, the scale fixture of K classes instead (fixtures/scale/).
import { type Flags, intArg, parseCli, runTask, UsageError } from "../src/cli/cli.ts";
import { ensureFixture, ensureResNet50 } from "../fixtures/ensure.ts";
import type { Naming } from "../fixtures/resnet50.ts";
import { ensureScaleFixture } from "../fixtures/scale/scale_images.ts";

const NAMINGS: readonly Naming[] = ["legacy", "dynamo"];

const FIXTURE_FLAGS = {
  dir: { type: "string", help: "output folder (default .cache/fixture, with --classes K .cache/scale-K)" },
  resnet50: {
    type: "string",
    help: `also write resnet50-<naming>.onnx for each naming in this list (${NAMINGS.join(", ")})`,
  },
  force: { type: "boolean", default: false, help: "regenerate the fixture even if its stamp is current" },
  classes: { type: "string", help: "write the scale fixture of K classes (each a unique pair of motifs)" },
  channels: {
    type: "string",
    help: "--classes: tap channels (default: the motifs, rounded up to 2^n, >= 16)",
  },
  size: { type: "string", default: "112", help: "--classes: image side in px (224, 112 or 56)" },
  "per-class": { type: "string", default: "4", help: "--classes: images per class" },
} satisfies Flags;

export async function main(argv: string[]): Promise<void> {
  const values = parseCli(
    "fixtures",
    "Generates the planted-truth test fixture and, on request, random ResNet-50s.",
    FIXTURE_FLAGS,
    argv,
  );
  const classes = intArg("classes", values.classes, 2);
  if (classes !== undefined) {
    const t0 = performance.now();
    const scale = await ensureScaleFixture((values.dir as string | undefined) ?? `.cache/scale-${classes}`, {
      classes,
      channels: intArg("channels", values.channels, 1),
      size: intArg("size", values.size, 1),
      perClass: intArg("per-class", values["per-class"], 1),
      force: values.force as boolean,
    });
    const s = scale.spec;
    console.log(
      `scale fixture: ${scale.modelPath} (${classes} classes, ${s.motifCount} motifs, ${s.channels} ` +
        `tap channels at layer3)`,
    );
    console.log(`  images: ${scale.imageFolder} (ImageFolder, ${s.perClass} per class, ${s.size} px)`);
    console.log(`  truth: ${scale.truthPath}`);
    console.log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return;
  }
  const dir = (values.dir as string | undefined) ?? ".cache/fixture";
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
