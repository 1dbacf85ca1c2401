// deno task decompose --model M --image X [--images X,Y,..] --concepts O --class A --out O2: explains new images
// in class A's prototypes (src/pipeline/decompose/decompose.ts).
import { choiceArg, floatArg, intArg, parseCli, runTask, UsageError } from "../src/cli/cli.ts";
import { MODEL_DATA_FLAGS, RUN_ENV_FLAGS } from "../src/cli/task_flags.ts";
import { RUN_FLAGS } from "../src/pipeline/search/run_flags.ts";
import { EP_CHOICES } from "../src/runtime/ort.ts";
import { resolveClassArg } from "../src/data/class_names.ts";
import { modelClasses } from "../src/model/model_classes.ts";
import { runDecompose } from "../src/pipeline/decompose/decompose.ts";
import { skippedLine } from "../src/io/skipped.ts";
import { NNLS_TOLERANCE } from "../kernels/nnls/mod.ts";

export async function main(argv: string[]): Promise<void> {
  const a = parseCli(
    "decompose",
    "Explains new images in one class's prototypes: the image's activations at the concepts' layer as\n" +
      "non-negative combinations of class A's k prototypes per position, solved exactly (NNLS). Writes per\n" +
      "image a contribution map and overlay per prototype, and O2/decompose.json with totals, peaks,\n" +
      "reconstruction errors and the image's top-5.",
    {
      model: MODEL_DATA_FLAGS.model,
      image: { type: "string", help: "an image file (JPEG or PNG)" },
      images: { type: "string", help: "several image files, comma-separated" },
      concepts: RUN_FLAGS.concepts,
      class: {
        type: "string",
        required: true,
        help: "class whose prototypes explain the images (index or name)",
      },
      out: RUN_FLAGS.out,
      layer: {
        type: "string",
        help: "layer, only for concepts that do not record theirs (reference layout)",
      },
      batch: { type: "string", default: "8", help: "images per forward pass" },
      tolerance: { type: "string", help: `relative KKT tolerance of the solver (default ${NNLS_TOLERANCE})` },
      ep: RUN_ENV_FLAGS.ep,
    },
    argv,
  );
  const images = [
    ...(a.image ? [a.image as string] : []),
    ...((a.images as string | undefined)?.split(",").map((s) => s.trim()).filter(Boolean) ?? []),
  ];
  if (images.length === 0) {
    throw new UsageError("--image or --images is required: the image file(s) to explain");
  }
  const { numClasses, names } = await modelClasses(a.model as string, {});
  let cls: number;
  try {
    cls = resolveClassArg(a.class as string, numClasses ?? Number.MAX_SAFE_INTEGER, names);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const report = await runDecompose({
    model: a.model as string,
    images,
    concepts: a.concepts as string,
    cls,
    out: a.out as string,
    ...(a.layer ? { layer: a.layer as string } : {}),
    batch: intArg("batch", a.batch),
    tolerance: floatArg("tolerance", a.tolerance, 0),
    ep: choiceArg("ep", a.ep, EP_CHOICES),
  });
  for (const image of report.images) {
    const best = [...image.prototypes].sort((x, y) => y.share - x.share)[0];
    console.log(
      `${image.path}: predicted ${image.top5[0].name ?? image.top5[0].class} (${
        image.top5[0].probability.toFixed(3)
      }); prototype ${best.prototype} carries ${(100 * best.share).toFixed(1)}% of the contribution; ` +
        `relative reconstruction error ${image.reconstruction.relative.toFixed(3)}`,
    );
  }
  const skipped = skippedLine(report.skipped, `${a.out}/decompose.json`);
  if (skipped) console.log(skipped);
  console.log(
    `wrote ${a.out}/decompose.json and ${report.images.length} image folder(s) (solver: ${report.solver})`,
  );
}

if (import.meta.main) await runTask(() => main(Deno.args));
