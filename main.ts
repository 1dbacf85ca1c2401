// The single entry point: `protoscope <task> [flags]` (or `deno run -A main.ts <task> ...`) runs the task
// tasks/<task>.ts would run, so `deno compile` can turn the whole tool into one executable.
// Each task module is imported only when chosen (startup stays fast, and a task's heavy dependencies load only
// for it); the import specifiers are string literals so that `deno compile` finds and embeds every task.
import { runTask, setUsagePrefix } from "./src/cli/cli.ts";

/** What a task module exports: its command line, given the arguments after the subcommand. */
export interface TaskModule {
  main(argv: string[]): Promise<void>;
}

export interface Subcommand {
  name: string;
  summary: string;
  load: () => Promise<TaskModule>;
}

const task = (name: string, summary: string, load: () => Promise<TaskModule>): Subcommand => ({
  name,
  summary,
  load,
});

/** Every subcommand, in pipeline order: adding a task is one line here (and its `deno task` in deno.json). */
export const SUBCOMMANDS: readonly Subcommand[] = [
  task("layers", "list the layers of a model that --layer accepts", () => import("./tasks/layers.ts")),
  task("prepare", "decode and crop a dataset once into a pixel cache", () => import("./tasks/prepare.ts")),
  task("predict", "predict every image of a dataset", () => import("./tasks/predict.ts")),
  task("attribute", "layer attribution maps towards one class", () => import("./tasks/attribute.ts")),
  task("nmf", "non-negative matrix factorization of a .npy matrix", () => import("./tasks/nmf.ts")),
  task(
    "concepts",
    "per-class concept prototypes (attribution-weighted NMF)",
    () => import("./tasks/concepts.ts"),
  ),
  task(
    "component-test",
    "the paper's component prediction test: top crops stacked, re-predicted",
    () => import("./tasks/component-test.ts"),
  ),
  task("visualize", "prototype grids of each class's concepts", () => import("./tasks/visualize.ts")),
  task("explain", "explanation figure of one class", () => import("./tasks/explain.ts")),
  task(
    "contrast-vectors",
    "per class, activation vectors where its attribution is high",
    () => import("./tasks/contrast-vectors.ts"),
  ),
  task("hyperplanes", "class-pair separating hyperplanes", () => import("./tasks/hyperplanes.ts")),
  task(
    "shifting-test",
    "shift activations across a hyperplane and re-predict",
    () => import("./tasks/shifting-test.ts"),
  ),
  task(
    "contrast",
    "why A, not B: NMF of A's activations on A's side of the (A, B) hyperplane",
    () => import("./tasks/contrast.ts"),
  ),
  task(
    "decompose",
    "explain new images in one class's prototypes (exact NNLS)",
    () => import("./tasks/decompose.ts"),
  ),
  task(
    "masking-test",
    "keep only the most j-like positions of i's images, 11 levels",
    () => import("./tasks/masking-test.ts"),
  ),
  task(
    "insert-test",
    "paste a crop into B's images and watch p(A) (Table 4)",
    () => import("./tasks/insert-test.ts"),
  ),
  task("merge", "join the outputs of --shard k/n runs into one run's", () => import("./tasks/merge.ts")),
  task("report", "one self-contained HTML page of a run folder", () => import("./tasks/report.ts")),
  task("serve", "a local web app to explore a run folder live", () => import("./tasks/serve.ts")),
  task("fixtures", "generate the planted-truth test fixture", () => import("./tasks/fixtures.ts")),
  task("demo", "run the pipeline on the generated fixture", () => import("./tasks/demo.ts")),
  task("bench", "throughput benchmarks as one JSON document", () => import("./tasks/bench.ts")),
  task(
    "rehearse",
    "every stage on a scale fixture of K classes: time, memory, files, truth (from a checkout)",
    () => import("./tasks/rehearse.ts"),
  ),
];

export function usage(): string {
  const width = Math.max(...SUBCOMMANDS.map((s) => s.name.length));
  return [
    "usage: protoscope <task> [flags]   (protoscope <task> --help for a task's flags)",
    "Concept-based explanations and class contrasting for image classifiers.",
    "",
    "tasks:",
    ...SUBCOMMANDS.map((s) => `  ${s.name.padEnd(width)}  ${s.summary}`),
  ].join("\n");
}

/** Runs `argv` (`<task> ...flags`); returns the exit code for the cases that never reach a task. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const sub = SUBCOMMANDS.find((s) => s.name === name);
  if (!sub) {
    console.error(`protoscope: unknown task '${name}'\n\n${usage()}`);
    return 2;
  }
  setUsagePrefix("protoscope");
  const mod = await sub.load();
  await runTask(() => mod.main(rest), sub.name);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
