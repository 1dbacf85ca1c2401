// deno task insert-test --model M --data D --into B --crop PATH:top,left,height,width [--watch A] --out O:
// the paper's insert test (Table 4, Figure 9): does pasting a crop of an A image into B's images raise p(A)
// more than a plain patch of the same size at the same place?
import { choiceArg, intArg, parseCli, runTask, UsageError } from "../src/cli/cli.ts";
import { MODEL_DATA_FLAGS, modelDataFromArgs, RUN_ENV_FLAGS, runEnvFromArgs } from "../src/cli/task_flags.ts";
import { CONTROL_KINDS } from "../src/pipeline/contrast/insert/insert_patch.ts";
import { INSERT_MAX_IMAGES, runInsertTest } from "../src/pipeline/contrast/insert/insert.ts";
import { runInsertAuto } from "../src/pipeline/contrast/insert/insert_auto.ts";
import { skippedLine } from "../src/io/skipped.ts";

export async function main(argv: string[]): Promise<void> {
  const a = parseCli(
    "insert-test",
    "Pastes a crop (PATH is an image file, preprocessed like the data: Resize + CenterCrop; the box is in " +
      "that prepared image) into every image predicted as --into B (at most --max-images) and reports mean " +
      "p(A) and p(B) before, with the crop, and with a control patch of the same size at the same place. " +
      "Writes insert_test.json and Figure 9's JPEGs (inserted.jpg, control.jpg, crop.jpg).",
    {
      ...MODEL_DATA_FLAGS,
      into: { type: "string", help: "class B whose images receive the crop (index or name)" },
      crop: {
        type: "string",
        help: "PATH:top,left,height,width, e.g. malamute.jpg:20,135,160,60 (rows 20:180, cols 135:195)",
      },
      watch: {
        type: "string",
        help:
          "class A whose probability should rise (default: the class the crop's own image is predicted as)",
      },
      position: {
        type: "string",
        default: "bottom-right",
        help: "where the crop goes: bottom-right (the reference) | top-left | x,y (column, row)",
      },
      control: {
        type: "string",
        default: "mean",
        help: "control patch: mean (zero in normalized space = the ImageNet mean colour: the reference's " +
          "'black') | black (real black) | noise (seeded uniform noise)",
      },
      seed: {
        type: "string",
        default: "0",
        help: "seed of the noise control, and of --auto's pair sampling and NMF",
      },
      "max-images": {
        type: "string",
        default: String(INSERT_MAX_IMAGES),
        help: "images of class B (predicted as B, as concepts)",
      },
      batch: { type: "string", default: "16", help: "images per model call" },
      predictions: {
        type: "string",
        help: "existing predictions folder (default: <out>/predictions, computed if missing)",
      },
      out: { type: "string", required: true, help: "output folder" },
      auto: {
        type: "string",
        help:
          "beyond the paper: instead of --crop, N seeded pairs (A, B), each pasting the top crop of the " +
          "'why A, not B' prototypes into B's images; needs --layer and --hyperplanes",
      },
      layer: { type: "string", help: "--auto: the tap layer of the hyperplanes, e.g. layer3.5" },
      hyperplanes: { type: "string", help: "--auto: hyperplane folder (deno task hyperplanes)" },
      k: { type: "string", default: "6", help: "--auto: 'why A, not B' prototypes per pair" },
      ...RUN_ENV_FLAGS,
    },
    argv,
  );
  const control = choiceArg("control", a.control, CONTROL_KINDS);
  const common = {
    ...modelDataFromArgs(a),
    ...runEnvFromArgs(a),
    out: a.out as string,
    position: a.position as string,
    control,
    seed: intArg("seed", a.seed, 0),
    maxImages: intArg("max-images", a["max-images"]),
    batch: intArg("batch", a.batch),
    predictions: a.predictions as string | undefined,
  };
  if (a.auto !== undefined) {
    for (const flag of ["crop", "into", "watch"] as const) {
      if (a[flag] !== undefined) throw new UsageError(`--${flag} and --auto exclude each other`);
    }
    for (const flag of ["layer", "hyperplanes"] as const) {
      if (a[flag] === undefined) throw new UsageError(`--auto needs --${flag} (see --help)`);
    }
    const report = await runInsertAuto({
      ...common,
      auto: intArg("auto", a.auto)!,
      layer: a.layer as string,
      hyperplanes: a.hyperplanes as string,
      k: intArg("k", a.k),
    });
    console.log(report.table);
    const skippedAuto = skippedLine(report.skipped, `${a.out}/insert_test.json`);
    if (skippedAuto) console.error(skippedAuto);
    console.log(`per pair and summary: ${a.out}/insert_test.json; figures: ${a.out}/pairs/`);
    return;
  }
  for (const flag of ["into", "crop"] as const) {
    if (a[flag] === undefined) throw new UsageError(`--${flag} is required without --auto (see --help)`);
  }
  const report = await runInsertTest({
    ...common,
    into: a.into as string,
    crop: a.crop as string,
    watch: a.watch as string | undefined,
  });
  console.log(report.table);
  const skipped = skippedLine(report.skipped, `${a.out}/insert_test.json`);
  if (skipped) console.error(skipped);
  console.log(`per image and means: ${a.out}/insert_test.json; Figure 9: ${a.out}/inserted.jpg, control.jpg`);
}

if (import.meta.main) await runTask(() => main(Deno.args));
