// deno task hyperplanes --vectors V --out H [--classes ..] [--epochs 100] [--lr 0.01] [--init torch|zeros]
//   [--seed S] [--cpu | --gpu | --twin]
import { choiceArg, floatArg, intArg, parseCli, runTask, UsageError } from "../src/cli/cli.ts";
import { parseClassList } from "../src/data/class_names.ts";
import {
  formatHyperplaneSummary,
  trainHyperplanes,
} from "../src/pipeline/contrast/hyperplanes/hyperplanes.ts";
import { contrastVectorsInfo } from "../src/pipeline/contrast/vectors/vectors_io.ts";
import { HYPERPLANE_INITS, REFERENCE_TRAINING } from "../kernels/hyperplane/settings.ts";
import { parseShard, SHARD_FLAG } from "../src/cli/shard.ts";
import { FRESH_FLAG } from "../src/cli/task_flags.ts";

export async function main(argv: string[]): Promise<void> {
  const a = parseCli(
    "hyperplanes",
    "Every ordered class pair's logistic hyperplane, as the reference trains them (class i's contrast vectors\n" +
      "label 0, class j's label 1; full-batch gradient descent on mean BCE-with-logits; train accuracy from the\n" +
      "last epoch's logits), all pairs together on the GPU. Writes H/<i>.npy (K x C: row j = normal of (i, j)),\n" +
      "H/bias_<i>.npy, H/accuracy_<i>.npy, H/hyperplanes.json and the manifest; reruns resume.",
    {
      vectors: {
        type: "string",
        required: true,
        help: "contrast-vectors folder (<class>.npy, vectors.json)",
      },
      out: { type: "string", required: true, help: "output folder H" },
      classes: { type: "string", help: "classes to contrast: indices, ranges, names (default: all in V)" },
      epochs: { type: "string", default: String(REFERENCE_TRAINING.epochs), help: "gradient steps" },
      lr: { type: "string", default: String(REFERENCE_TRAINING.lr), help: "learning rate" },
      init: {
        type: "string",
        default: REFERENCE_TRAINING.init,
        help: "torch: weights U(-1/sqrt(C), 1/sqrt(C)) as nn.Linear, seeded per pair; zeros: from 0, so " +
          "(j, i) = -(i, j) and each unordered pair is trained once",
      },
      seed: { type: "string", default: String(REFERENCE_TRAINING.seed), help: "seed of --init torch" },
      cpu: {
        type: "boolean",
        help: "train on the CPU: onnxruntime-node's batched GEMMs (the CPU twin where it cannot load)",
      },
      twin: { type: "boolean", help: "train with the CPU twin, pair by pair (the reference; slow)" },
      gpu: {
        type: "boolean",
        help: "train on the GPU even on a software adapter (default: the GPU on hardware, else --cpu)",
      },
      ...SHARD_FLAG,
      ...FRESH_FLAG,
    },
    argv,
  );
  if ([a.cpu, a.gpu, a.twin].filter(Boolean).length > 1) {
    throw new UsageError("--cpu, --gpu and --twin exclude each other");
  }
  const vectors = a.vectors as string;
  let classes: number[] | undefined;
  if (a.classes !== undefined) {
    const info = await contrastVectorsInfo(vectors);
    try {
      classes = parseClassList(a.classes as string, info.numClasses, info.names);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const summary = await trainHyperplanes({
    vectors,
    out: a.out as string,
    classes,
    training: {
      epochs: intArg("epochs", a.epochs)!,
      lr: floatArg("lr", a.lr)!,
      init: choiceArg("init", a.init, HYPERPLANE_INITS),
      seed: intArg("seed", a.seed, 0)!,
    },
    solver: a.cpu ? "cpu" : a.gpu ? "gpu" : a.twin ? "twin" : "auto",
    shard: parseShard(a.shard),
    fresh: a.fresh as boolean,
  });
  console.log(formatHyperplaneSummary(summary));
}

if (import.meta.main) await runTask(() => main(Deno.args));
