// deno task contrast --model M --data D --layer L --hyperplanes H --class A --not B --out O [--k 6] [--both]
// [--reference-bias]: "why A, not B": prototypes of what makes A's images A rather than B, their best crops
// and the A-side masks.
import { choiceArg, floatArg, intArg, parseCli, runTask } from "../src/cli/cli.ts";
import { MODEL_DATA_FLAGS, modelDataFromArgs, RUN_ENV_FLAGS, runEnvFromArgs } from "../src/cli/task_flags.ts";
import { NMF_DEFAULTS } from "../kernels/nmf/settings.ts";
import { whyNot } from "../src/pipeline/contrast/why_not/why_not.ts";
import { SIGNED_FLAG, signedFromArgs } from "../src/pipeline/concepts/signed_rows.ts";

export async function main(argv: string[]): Promise<void> {
  const a = parseCli(
    "contrast",
    "Why A, not B: the images predicted as A (at most --max-images), their activations at --layer masked by " +
      "the A-side score of the (A, B) hyperplane, ReLU(-(n . a + b)), and factorized by NMF into --k " +
      "prototypes; each prototype's best crops come from a prototype search over A's images. Writes " +
      "basis.npy, masks.npy, contrast.json and why_<A>_not_<B>.jpg.",
    {
      ...MODEL_DATA_FLAGS,
      layer: {
        type: "string",
        required: true,
        help: "tap layer the hyperplanes were trained at, e.g. layer3.5",
      },
      hyperplanes: {
        type: "string",
        required: true,
        help: "hyperplane folder (deno task hyperplanes, or the reference's <i>.pt, bias_<i>.pt files)",
      },
      class: { type: "string", required: true, help: "class A: index or class name" },
      not: { type: "string", required: true, help: "class B: index or class name" },
      out: { type: "string", required: true, help: "output folder" },
      k: { type: "string", default: "6", help: "prototypes (NMF components)" },
      both: { type: "boolean", default: false, help: "also B, not A, side by side in the figure" },
      "reference-bias": {
        type: "boolean",
        default: false,
        help: "the reference's score -n . a + b (negated normal, bias kept) instead of -(n . a + b)",
      },
      "max-images": { type: "string", default: "60", help: "images predicted as A, at most" },
      crops: { type: "string", default: "6", help: "best crops kept per prototype (the figure shows 4)" },
      predictions: {
        type: "string",
        help: "existing predictions folder (default: <out>/predictions, computed if missing)",
      },
      seed: { type: "string", default: "0", help: "NMF seed" },
      "max-iter": { type: "string", default: String(NMF_DEFAULTS.maxIter), help: "NMF iteration cap" },
      tol: { type: "string", default: NMF_DEFAULTS.tol.toExponential(), help: "NMF stopping tolerance" },
      nmf: {
        type: "string",
        default: "auto",
        help: "where NMF runs: auto (GPU unless software adapter) | gpu | cpu",
      },
      ...SIGNED_FLAG,
      ...RUN_ENV_FLAGS,
    },
    argv,
  );
  const r = await whyNot({
    ...modelDataFromArgs(a),
    ...runEnvFromArgs(a),
    layer: a.layer as string,
    hyperplanes: a.hyperplanes as string,
    classA: a.class as string,
    classB: a.not as string,
    out: a.out as string,
    k: intArg("k", a.k),
    both: a.both === true,
    referenceBias: a["reference-bias"] === true,
    maxImages: intArg("max-images", a["max-images"]),
    crops: intArg("crops", a.crops),
    predictions: a.predictions as string | undefined,
    seed: intArg("seed", a.seed, 0),
    maxIter: intArg("max-iter", a["max-iter"]),
    tol: floatArg("tol", a.tol),
    nmfDevice: choiceArg("nmf", a.nmf, ["auto", "gpu", "cpu"] as const),
    signed: signedFromArgs(a),
  });
  for (const d of [r, ...(r.reverse ? [r.reverse] : [])]) {
    console.log(
      `why ${d.from}${d.fromName ? ` ${d.fromName}` : ""}, not ${d.to}${d.toName ? ` ${d.toName}` : ""}: ` +
        `${d.images.length} images, the mask keeps ${(100 * d.keptShare).toFixed(1)}% of their positions, ` +
        `NMF relative error ${d.relError.toFixed(4)}`,
    );
  }
  console.log(`prototypes, masks, contrast.json in ${a.out}; figure ${r.figure}`);
}

if (import.meta.main) await runTask(() => main(Deno.args));
