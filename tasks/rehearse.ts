// deno task rehearse --classes K [--channels C] [--shards N] --out R [--epochs 100] [--with R1,R2]
// The ImageNet-scale rehearsal on one machine: writes the scale fixture of K classes, runs every stage once
// through the tasks' own main(argv) (prepare, predict, concepts, component-test, visualize, contrast-vectors,
// hyperplanes over all K(K-1) pairs, shifting-test, masking-test, contrast and insert-test --auto on sampled
// pairs, report), then the sharded stages as N shards + merge, compared with the single run. R/rehearsal.json
// holds each stage's wall time, peak RSS, bytes and files written and items per second, and the planted truth
// checked as counts; R/cost_vs_k.jpg plots each stage's wall time against K over this and the --with runs.
import { join, resolve } from "node:path";
import { intArg, parseCli, runTask, UsageError } from "../src/cli/cli.ts";
import { writeJsonAtomic } from "../src/io/atomic.ts";
import { largestPeaks, meterStage, type StageCost, type StagePeaks } from "../src/bench/stage_meter.ts";
import { compareOutputs, type OutputComparison } from "../src/bench/compare_outputs.ts";
import { type CostSeries, writeCostChart } from "../src/bench/cost_chart.ts";
import { ensureScaleFixture } from "../fixtures/scale/scale_images.ts";
import { checkScaleRun, type ScaleTruthCounts } from "../fixtures/scale/scale_check.ts";
import { Prng } from "../fixtures/prng.ts";
import { DEFAULT_MAX_CLASSES } from "../kernels/hyperplane/settings.ts";

/** Seconds a stage may run before it counts as hung (0: no limit); set once from --stage-timeout. */
let stageTimeoutSeconds = 0;

/**
 * Runs `task`'s main(argv) in a process of its own (tasks/_rehearse_stage.ts); returns its peaks. With
 * `killAfterMs`, sends SIGKILL after that long instead of waiting for success: returns "killed" (or the peak,
 * when the task was done first). A stage still running after --stage-timeout is killed and fails the
 * rehearsal by name: a hung child must cost minutes, not the whole CI budget.
 */
async function runStage(
  task: string,
  argv: string[],
  killAfterMs?: number,
): Promise<StagePeaks | "killed"> {
  const peakFile = await Deno.makeTempFile({ prefix: "rehearse-peak-" });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("./_rehearse_stage.ts", import.meta.url).pathname, task, peakFile, ...argv],
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    let killed = false;
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => {
      killed = true;
      child.kill("SIGKILL");
    }, killAfterMs);
    let hung = false;
    const watchdog = stageTimeoutSeconds > 0
      ? setTimeout(() => {
        hung = true;
        child.kill("SIGKILL");
      }, stageTimeoutSeconds * 1000)
      : undefined;
    const { code } = await child.status;
    clearTimeout(timer);
    clearTimeout(watchdog);
    if (killed) return "killed";
    if (hung) {
      throw new Error(
        `stage ${task} was still running after --stage-timeout ${stageTimeoutSeconds} s and was killed: ` +
          `deno task ${task} ${argv.join(" ")}`,
      );
    }
    if (code !== 0) {
      throw new Error(`stage ${task} failed (exit ${code}): deno task ${task} ${argv.join(" ")}`);
    }
    return JSON.parse(await Deno.readTextFile(peakFile)) as StagePeaks;
  } finally {
    await Deno.remove(peakFile).catch(() => {});
  }
}

/** runStage for a stage that must finish. */
async function runToEnd(task: string, argv: string[]): Promise<StagePeaks> {
  return (await runStage(task, argv)) as StagePeaks;
}

/** What a SIGKILL in the middle of the hyperplanes costs: the resumed run against the single run. */
export interface KillResume {
  killedAfterSeconds: number;
  /** Row files (<i>.npy) complete when the process was killed, of K. */
  rowFilesAtKill: number;
  resumedSeconds: number;
  singleRunSeconds: number;
  /** killedAfter + resumed - single run: the work done twice (plus one process start). */
  redoneSeconds: number;
  equalsSingleRun: OutputComparison;
}

/** Trains the hyperplanes again into `dir`, SIGKILLs the process half way through the single run's time,
 * counts the finished row files, resumes, and compares the result with the single run's `reference`. */
export async function killAndResume(
  argvOf: () => string[],
  reference: string,
  root: string,
  singleRunSeconds: number,
): Promise<KillResume | { finishedBeforeKill: true }> {
  const dir = join(root, "hyperplanes");
  const argv = argvOf();
  argv[argv.lastIndexOf("--out") + 1] = dir;
  console.error(`rehearse: hyperplanes, killed after ${(singleRunSeconds / 2).toFixed(1)} s, then resumed`);
  const t0 = performance.now();
  if ((await runStage("hyperplanes", argv, (singleRunSeconds / 2) * 1000)) !== "killed") {
    return { finishedBeforeKill: true };
  }
  const killedAfterSeconds = (performance.now() - t0) / 1000;
  let rowFilesAtKill = 0;
  try {
    for await (const e of Deno.readDir(dir)) if (/^\d+\.npy$/.test(e.name)) rowFilesAtKill++;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const t1 = performance.now();
  await runToEnd("hyperplanes", argv);
  const resumedSeconds = (performance.now() - t1) / 1000;
  return {
    killedAfterSeconds,
    rowFilesAtKill,
    resumedSeconds,
    singleRunSeconds,
    redoneSeconds: killedAfterSeconds + resumedSeconds - singleRunSeconds,
    equalsSingleRun: await compareOutputs(reference, dir),
  };
}

/** Stage times are only honest from scratch: a folder with outputs (other than a fixture) is refused. */
async function refuseUsedFolder(out: string): Promise<void> {
  const used: string[] = [];
  try {
    for await (const e of Deno.readDir(out)) if (e.name !== "fixture") used.push(e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (used.length) {
    throw new UsageError(
      `--out ${out}: holds ${used.slice(0, 3).join(", ")}${used.length > 3 ? ", ..." : ""} from an earlier ` +
        "run; a rehearsal measures every stage from scratch, so give it a new folder (R/fixture may stay)",
    );
  }
}

export interface Rehearsal {
  task: "rehearse";
  created: string;
  classes: number;
  channels: number;
  motifs: number;
  images: number;
  settings: Record<string, unknown>;
  machine: string;
  totalSeconds: number;
  stages: StageCost[];
  shards?: { count: number; stages: (StageCost & { equalsSingleRun: OutputComparison })[] };
  /** hyperplanes killed (SIGKILL) half way through the single run's time, then resumed. */
  hyperplanesKillResume?: KillResume | { finishedBeforeKill: true };
  truth: ScaleTruthCounts;
  budgets?: Budgets;
}

/** Issue 17's budgets that one rehearsal can check, with the measured values. */
export interface Budgets {
  /** Every stage's peak RSS <= 3 GB: the largest and its stage. */
  peakRss: { maxBytes: number | null; stage: string; withinBudget: boolean };
  /** Every sharded stage merged equals the single run (null: no shards run). */
  shardsEqualSingleRun: boolean | null;
  /** Every truth count agrees (and top-1 is 1). */
  truthHolds: boolean;
  /** The hyperplanes resumed after SIGKILL equal the single run (null: finished before the kill). */
  resumeEqualsSingleRun: boolean | null;
  /**
   * The resume lost at most one block of classes' work: the time done twice is at most one block's share of
   * the single run (DEFAULT_MAX_CLASSES / K of it, the solver writes rows block by block) plus one process
   * start and vector load (RESUME_START_SECONDS). null: finished before the kill.
   */
  resumeLosesAtMostOneBlock: { redoneSeconds: number; allowedSeconds: number; withinBudget: boolean } | null;
}

/** What a resumed hyperplanes run may spend before its first tile: process start, vectors, session. */
export const RESUME_START_SECONDS = 5;

export const PEAK_RSS_BUDGET = 3 * 2 ** 30;

export function budgetsOf(r: Rehearsal): Budgets {
  const all = [...r.stages, ...(r.shards?.stages ?? [])];
  const top = all.reduce((a, b) => ((b.peakRssBytes ?? 0) > (a.peakRssBytes ?? 0) ? b : a));
  const t = r.truth;
  const tallies = [
    t.componentTest?.allImages,
    t.componentTest?.targetExcluded,
    t.hyperplaneSigns,
    t.shiftingFlips,
  ];
  const kr = r.hyperplanesKillResume;
  return {
    peakRss: {
      maxBytes: top.peakRssBytes,
      stage: top.stage,
      withinBudget: top.peakRssBytes !== null && top.peakRssBytes <= PEAK_RSS_BUDGET,
    },
    shardsEqualSingleRun: r.shards ? r.shards.stages.every((s) => s.equalsSingleRun.same) : null,
    truthHolds: t.predictionsTop1 === 1 && tallies.every((x) => x !== undefined && x.agree === x.expected),
    resumeEqualsSingleRun: !kr || "finishedBeforeKill" in kr ? null : kr.equalsSingleRun.same,
    resumeLosesAtMostOneBlock: !kr || "finishedBeforeKill" in kr ? null : (() => {
      const allowedSeconds = kr.singleRunSeconds * Math.min(1, DEFAULT_MAX_CLASSES / r.classes) +
        RESUME_START_SECONDS;
      return {
        redoneSeconds: kr.redoneSeconds,
        allowedSeconds,
        withinBudget: kr.redoneSeconds <= allowedSeconds,
      };
    })(),
  };
}

/** The stages that take --shard and that `deno task merge` joins, by their folder under R. */
const SHARDED = [
  "predictions",
  "concepts",
  "component-test",
  "contrast-vectors",
  "hyperplanes",
  "shifting-test",
];

export async function main(argv: string[]): Promise<void> {
  const a = parseCli(
    "rehearse",
    "Runs every stage on the scale fixture of K classes, single and sharded, and writes R/rehearsal.json with\n" +
      "per-stage wall time, peak RSS, bytes, files and throughput, and the planted truth checked as counts.",
    {
      classes: { type: "string", required: true, help: "K: classes of the scale fixture" },
      channels: { type: "string", help: "tap channels (default: the fixture's, motifs rounded up to 2^n)" },
      "per-class": { type: "string", default: "4", help: "images per class" },
      size: { type: "string", default: "112", help: "image side in px (224, 112 or 56)" },
      shards: {
        type: "string",
        default: "2",
        help: "N: also run the sharded stages as N shards + merge (0: skip)",
      },
      out: { type: "string", required: true, help: "rehearsal folder R (the fixture goes to R/fixture)" },
      epochs: { type: "string", default: "100", help: "hyperplane gradient steps (the reference's 100)" },
      samples: { type: "string", default: "20", help: "noise-tunnel samples per image (the paper's 20)" },
      runs: { type: "string", default: "5", help: "shifting-test runs (the reference's 5)" },
      draws: {
        type: "string",
        default: "1000",
        help: "shifting-test draws of i per run (the reference's 1000)",
      },
      others: { type: "string", default: "10", help: "shifting-test draws of j per i (the reference's 10)" },
      "max-images": { type: "string", default: "60", help: "images per class in the contrast tests" },
      pairs: { type: "string", default: "4", help: "sampled pairs for masking-test, contrast, insert-test" },
      ep: { type: "string", default: "auto", help: "execution provider (as the tasks' --ep)" },
      with: { type: "string", help: "other rehearsal folders to plot beside this one in cost_vs_k.jpg" },
      "stage-timeout": {
        type: "string",
        default: "0",
        help: "seconds after which a stage that has not finished is killed and the rehearsal fails (0: none)",
      },
    },
    argv,
  );
  const K = intArg("classes", a.classes, 2)!;
  const shards = intArg("shards", a.shards, 0)!;
  stageTimeoutSeconds = intArg("stage-timeout", a["stage-timeout"], 0)!;
  if (shards === 1) throw new UsageError("--shards 1: use 0 (skip) or at least 2");
  const out = resolve(a.out as string);
  await refuseUsedFolder(out);
  const ep = a.ep as string;
  const sampledPairs = intArg("pairs", a.pairs, 1)!;
  const settings = {
    epochs: intArg("epochs", a.epochs, 1)!,
    samples: intArg("samples", a.samples, 1)!,
    runs: intArg("runs", a.runs, 1)!,
    draws: intArg("draws", a.draws, 1)!,
    others: intArg("others", a.others, 1)!,
    maxImages: intArg("max-images", a["max-images"], 1)!,
    pairs: sampledPairs,
    shards,
    ep,
  };
  const t0 = performance.now();
  const stages: StageCost[] = [];
  const fixtureDir = join(out, "fixture");
  let fixture!: Awaited<ReturnType<typeof ensureScaleFixture>>;
  const perClass = intArg("per-class", a["per-class"], 1)!;
  stages.push(
    await meterStage("fixture", fixtureDir, { count: K * perClass, kind: "images" }, async () => {
      fixture = await ensureScaleFixture(fixtureDir, {
        classes: K,
        channels: intArg("channels", a.channels, 1),
        size: intArg("size", a.size, 1),
        perClass,
      });
    }),
  );
  const spec = fixture.spec;
  const images = K * spec.perClass;
  const pairs = K * (K - 1);
  const M = fixture.modelPath;
  const cache = join(out, "cache");
  const common = ["--model", M, "--data", cache, "--ep", ep];
  const attribution = ["--samples", String(settings.samples), "--max-images", String(settings.maxImages)];
  const contrastTest = (dir: string, predictions: string, planes: string) => [
    ...common,
    "--layer",
    "layer3",
    "--hyperplanes",
    planes,
    "--predictions",
    predictions,
    "--max-images",
    String(settings.maxImages),
    "--out",
    dir,
  ];
  const shiftingArgs = [
    "--runs",
    String(settings.runs),
    "--draws",
    String(settings.draws),
    "--others",
    String(settings.others),
  ];
  // The sampled pairs of the pair-wise tasks: seeded, distinct classes.
  const rng = new Prng(K);
  const sample = Array.from({ length: sampledPairs }, () => {
    const i = rng.int(K);
    return [i, (i + 1 + rng.int(K - 1)) % K] as const;
  });

  /** The argv of each sharded stage, writing under `root`; inputs always from the single run. */
  const argvOf = (root: string) => {
    // concepts and contrast-vectors share one attribution cache: each class's maps are computed once.
    const attributed = (folder: string) => [
      ...common,
      ...attribution,
      ...["--layer", "layer3", "--predictions", join(out, "predictions")],
      ...["--attribution-cache", join(out, "attribution-cache"), "--out", join(root, folder)],
    ];
    return {
      predictions: () => [...common, "--out", join(root, "predictions")],
      concepts: () => attributed("concepts"),
      "component-test": () => [
        ...common,
        "--concepts",
        join(out, "concepts"),
        "--predictions",
        join(out, "predictions"),
        "--out",
        join(root, "component-test"),
      ],
      "contrast-vectors": () => attributed("contrast-vectors"),
      hyperplanes: () => [
        "--vectors",
        join(out, "contrast-vectors"),
        "--epochs",
        String(settings.epochs),
        "--out",
        join(root, "hyperplanes"),
      ],
      "shifting-test": () => [
        ...contrastTest(join(root, "shifting-test"), join(out, "predictions"), join(out, "hyperplanes")),
        ...shiftingArgs,
      ],
    };
  };
  /** The task that writes each stage folder. */
  const taskOf: Record<string, string> = { predictions: "predict" };
  const itemsOf: Record<string, { count: number; kind: string }> = {
    predictions: { count: images, kind: "images" },
    concepts: { count: K, kind: "classes" },
    "component-test": { count: K, kind: "classes" },
    visualize: { count: K, kind: "classes" },
    "contrast-vectors": { count: K, kind: "classes" },
    hyperplanes: { count: pairs, kind: "pairs" },
    "shifting-test": { count: settings.runs * settings.draws * settings.others, kind: "pair draws" },
    "masking-test": { count: sampledPairs, kind: "pairs" },
    contrast: { count: 1, kind: "pairs" },
    "insert-test": { count: sampledPairs, kind: "pairs" },
    report: { count: K, kind: "classes" },
  };
  const single = argvOf(out);
  const step = async (name: string, dir: string | string[], fn: () => Promise<StagePeaks>) => {
    console.error(`rehearse: ${name} (K = ${K})`);
    const cost = await meterStage(name, dir, itemsOf[name] ?? { count: images, kind: "images" }, fn);
    console.error(`rehearse: ${name} took ${cost.wallSeconds.toFixed(1)} s`);
    stages.push(cost);
  };

  await step("prepare", cache, () => runToEnd("prepare", ["--data", fixture.imageFolder, "--out", cache]));
  await step("predictions", join(out, "predictions"), () => runToEnd("predict", single.predictions()));
  await step("concepts", join(out, "concepts"), () => runToEnd("concepts", single.concepts()));
  await step(
    "component-test",
    join(out, "component-test"),
    () => runToEnd("component-test", single["component-test"]()),
  );
  await step(
    "visualize",
    join(out, "figures"),
    () =>
      runToEnd("visualize", [...common, "--concepts", join(out, "concepts"), "--out", join(out, "figures")]),
  );
  await step(
    "contrast-vectors",
    join(out, "contrast-vectors"),
    () => runToEnd("contrast-vectors", single["contrast-vectors"]()),
  );
  await step("hyperplanes", join(out, "hyperplanes"), () => runToEnd("hyperplanes", single.hyperplanes()));
  await step(
    "shifting-test",
    join(out, "shifting-test"),
    () => runToEnd("shifting-test", single["shifting-test"]()),
  );
  const pairList = sample.map(([i, j]) => `${i}:${j}`).join(",");
  await step("masking-test", join(out, "masking-test"), () =>
    runToEnd("masking-test", [
      ...contrastTest(join(out, "masking-test"), join(out, "predictions"), join(out, "hyperplanes")),
      "--pairs",
      pairList,
    ]));
  const [ci, cj] = sample[0];
  await step("contrast", join(out, `contrast-${ci}-not-${cj}`), () =>
    runToEnd("contrast", [
      ...common,
      "--layer",
      "layer3",
      "--hyperplanes",
      join(out, "hyperplanes"),
      "--class",
      String(ci),
      "--not",
      String(cj),
      "--predictions",
      join(out, "predictions"),
      "--max-images",
      String(settings.maxImages),
      "--out",
      join(out, `contrast-${ci}-not-${cj}`),
    ]));
  await step("insert-test", join(out, "insert-test-auto"), () =>
    runToEnd("insert-test", [
      ...common,
      "--auto",
      String(sampledPairs),
      "--layer",
      "layer3",
      "--hyperplanes",
      join(out, "hyperplanes"),
      "--predictions",
      join(out, "predictions"),
      "--max-images",
      String(settings.maxImages),
      "--out",
      join(out, "insert-test-auto"),
    ]));
  await step(
    "report",
    [join(out, "report.html"), join(out, "report_files")],
    () => runToEnd("report", ["--run", out, "--out", join(out, "report.html")]),
  );

  const truth = await checkScaleRun(spec, out);
  const rehearsal: Rehearsal = {
    task: "rehearse",
    created: new Date().toISOString(),
    classes: K,
    channels: spec.channels,
    motifs: spec.motifCount,
    images,
    settings,
    machine: `${Deno.build.os} ${Deno.build.arch}, ${navigator.hardwareConcurrency} cores`,
    totalSeconds: 0,
    stages,
    truth,
  };

  if (shards >= 2) {
    const shardStages: NonNullable<Rehearsal["shards"]>["stages"] = [];
    const root = join(out, "shards");
    for (const name of SHARDED) {
      const parts = Array.from({ length: shards }, (_, k) => join(root, `${name}-s${k + 1}`));
      const merged = join(root, name);
      console.error(`rehearse: ${name} as ${shards} shards + merge`);
      const cost = await meterStage(`${name} (${shards} shards + merge)`, root, itemsOf[name], async () => {
        const peaks: StagePeaks[] = [];
        for (let k = 0; k < shards; k++) {
          const partArgv = argvOf(join(root, `_part${k + 1}`))[
            name as keyof ReturnType<typeof argvOf>
          ]();
          // The part's own folder name, then --shard: the single run's argv otherwise.
          partArgv[partArgv.lastIndexOf("--out") + 1] = parts[k];
          peaks.push(await runToEnd(taskOf[name] ?? name, [...partArgv, "--shard", `${k + 1}/${shards}`]));
        }
        peaks.push(await runToEnd("merge", [...parts.flatMap((p) => ["--parts", p]), "--out", merged]));
        return largestPeaks(peaks);
      });
      shardStages.push({ ...cost, equalsSingleRun: await compareOutputs(join(out, name), merged) });
    }
    rehearsal.shards = { count: shards, stages: shardStages };
  }

  rehearsal.hyperplanesKillResume = await killAndResume(
    single.hyperplanes,
    join(out, "hyperplanes"),
    join(out, "resume"),
    stages.find((x) => x.stage === "hyperplanes")!.wallSeconds,
  );

  rehearsal.budgets = budgetsOf(rehearsal);
  rehearsal.totalSeconds = (performance.now() - t0) / 1000;
  await writeJsonAtomic(join(out, "rehearsal.json"), rehearsal);
  const series: CostSeries[] = [rehearsal];
  for (const other of ((a.with as string | undefined) ?? "").split(",").filter((s) => s)) {
    series.push(JSON.parse(await Deno.readTextFile(join(other, "rehearsal.json"))));
  }
  await writeCostChart(join(out, "cost_vs_k.jpg"), series);
  console.log(formatRehearsal(rehearsal));
  console.log(`wrote ${join(out, "rehearsal.json")} and ${join(out, "cost_vs_k.jpg")}`);
}

const mb = (b: number | null) => (b === null ? "-" : (b / 2 ** 20).toFixed(0));

/** The per-stage table and the truth counts, as the closing note prints them. */
export function formatRehearsal(r: Rehearsal): string {
  const lines = [
    `K = ${r.classes} (${r.motifs} motifs, ${r.channels} channels, ${r.images} images): ` +
    `${r.totalSeconds.toFixed(0)} s in all`,
    "stage                                wall s   peak RSS MB   peak GPU MB   MB out    files   items/s",
  ];
  const row = (s: StageCost) =>
    `${s.stage.padEnd(36)} ${s.wallSeconds.toFixed(1).padStart(7)} ${mb(s.peakRssBytes).padStart(12)} ` +
    `${(s.peakGpuBufferBytes === null ? "-" : (s.peakGpuBufferBytes / 2 ** 20).toFixed(1)).padStart(13)} ` +
    `${(s.bytesWritten / 2 ** 20).toFixed(1).padStart(8)} ${String(s.filesWritten).padStart(8)} ` +
    `${s.itemsPerSecond.toFixed(1).padStart(9)} ${s.itemKind}`;
  for (const s of r.stages) lines.push(row(s));
  for (const s of r.shards?.stages ?? []) {
    lines.push(`${row(s)}  ${s.equalsSingleRun.same ? "= single run" : "DIFFERS from the single run"}`);
  }
  const kr = r.hyperplanesKillResume;
  if (kr && "finishedBeforeKill" in kr) {
    lines.push("hyperplanes finished before the SIGKILL (nothing to resume)");
  } else if (kr) {
    lines.push(
      `hyperplanes SIGKILLed after ${
        kr.killedAfterSeconds.toFixed(1)
      } s (${kr.rowFilesAtKill}/${r.classes} row ` +
        `files done), resumed in ${kr.resumedSeconds.toFixed(1)} s: ${
          kr.redoneSeconds.toFixed(1)
        } s done twice; ` +
        (kr.equalsSingleRun.same ? "= single run" : "DIFFERS from the single run"),
    );
  }
  const t = r.truth;
  const pair = (x?: { agree: number; expected: number }) => (x ? `${x.agree}/${x.expected}` : "-");
  lines.push(
    `truth: top-1 ${t.predictionsTop1 ?? "-"}; component test all images ${
      pair(t.componentTest?.allImages)
    }, ` +
      `target excluded ${pair(t.componentTest?.targetExcluded)}; disjoint-pair hyperplane accuracy >= 0.99 ` +
      `${pair(t.hyperplaneAccuracy)}, weight changes as forced ${pair(t.hyperplaneSigns)}; shifting flips ` +
      `${pair(t.shiftingFlips)}`,
  );
  const b = r.budgets;
  if (b) {
    const yes = (v: boolean | null) => (v === null ? "not run" : v ? "yes" : "NO");
    lines.push(
      `budgets: peak RSS <= 3 GB ${yes(b.peakRss.withinBudget)} (max ${mb(b.peakRss.maxBytes)} MB, ` +
        `${b.peakRss.stage}); shards + merge = single run ${yes(b.shardsEqualSingleRun)}; planted truth ` +
        `${yes(b.truthHolds)}; hyperplanes resumed after SIGKILL = single run ${
          yes(b.resumeEqualsSingleRun)
        }, losing at most one block ${yes(b.resumeLosesAtMostOneBlock?.withinBudget ?? null)}` +
        (b.resumeLosesAtMostOneBlock
          ? ` (${b.resumeLosesAtMostOneBlock.redoneSeconds.toFixed(1)} s done twice, ` +
            `${b.resumeLosesAtMostOneBlock.allowedSeconds.toFixed(1)} s allowed)`
          : ""),
    );
  }
  return lines.join("\n");
}

if (import.meta.main) await runTask(() => main(Deno.args));
