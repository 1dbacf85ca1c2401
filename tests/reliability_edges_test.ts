// The weak items of issue 18's probe, each a small check that fails where the old behaviour comes back: a bad
// --attribution-cache refused before predicting, the --pairs note only when --runs asked for another count,
// an empty hyperplanes shard counting no pairs, the masking table's footnote in masking's words, a requested
// pair without a hyperplane named on the console, a blank --replacement refused, decompose's other-model
// warning in its JSON, and a failed contrast test leaving no manifest.
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureFixture } from "../fixtures/ensure.ts";
import { CLASSES, STAGE_CHANNELS } from "../fixtures/spec.ts";
import { floatArg } from "../src/cli/cli.ts";
import { REFERENCE_TRAINING } from "../kernels/hyperplane/settings.ts";
import {
  formatHyperplaneSummary,
  type HyperplaneSummary,
  trainHyperplanes,
} from "../src/pipeline/contrast/hyperplanes/hyperplanes.ts";
import { mergeHyperplanes } from "../src/pipeline/contrast/hyperplanes/merge_hyperplanes.ts";
import { hyperplanesInMemory } from "../src/pipeline/contrast/hyperplanes/hyperplane_set.ts";
import { writeClassVectors } from "../src/pipeline/contrast/vectors/vectors_io.ts";
import { computeContrastVectors } from "../src/pipeline/contrast/vectors/contrast_vectors.ts";
import { DEFAULT_RUNS, plannedRuns } from "../src/pipeline/contrast/sanity_checks/pair_sampling.ts";
import {
  formatSummaryTable,
  summarizeRun,
  summarizeRuns,
} from "../src/pipeline/contrast/sanity_checks/contrast_summary.ts";
import { runContrastTest } from "../src/pipeline/contrast/sanity_checks/contrast_test_run.ts";
import { shiftingTest } from "../src/pipeline/contrast/sanity_checks/shifting.ts";
import { maskingTest } from "../src/pipeline/contrast/sanity_checks/masking.ts";
import { main as maskingMain } from "../tasks/masking-test.ts";
import { runDecompose } from "../src/pipeline/decompose/decompose.ts";
import { writeLabelPredictions, writePlantedConcepts } from "./_helpers/planted_concepts.ts";
import { seededRandom } from "../src/runtime/random.ts";
import { PAPER_ATTRIBUTION } from "../src/pipeline/attribute/attributor.ts";
import { stderrOf } from "./_helpers/stderr.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };
const work = await Deno.makeTempDir({ prefix: "protoscope-edges-" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));

Deno.test("a bad --attribution-cache is refused by name before any prediction", async () => {
  const fixture = await ensureFixture();
  const cacheFile = join(work, "cache-is-a-file");
  await Deno.writeTextFile(cacheFile, "");
  const out = join(work, "vectors-bad-cache");
  await assert.rejects(
    computeContrastVectors({
      model: fixture.modelPath,
      data: fixture.imageFolder,
      layer: "layer3.1",
      out,
      ep: "wasm",
      ...PAPER_ATTRIBUTION,
      attributionCache: cacheFile,
    }),
    /--attribution-cache .*cache-is-a-file is a file, not a folder/,
  );
  assert.equal(await Deno.stat(join(out, "predictions")).catch(() => null), null, "nothing predicted");
});

Deno.test("--pairs with --runs: a note only when --runs asked for another count than 5 (and 1)", () => {
  assert.equal(DEFAULT_RUNS, 5);
  assert.deepEqual(plannedRuns("0:1", true, 5), { runs: 1 }, "the command line's default says nothing");
  assert.deepEqual(plannedRuns("0:1", true, undefined), { runs: 1 });
  assert.deepEqual(plannedRuns("0:1", true, 1), { runs: 1 });
  const asked = plannedRuns("0:1", true, 3);
  assert.equal(asked.runs, 1);
  assert.match(asked.note!, /--pairs 0:1: the pairs are fixed, so one run \(not 3\)/);
  assert.deepEqual(plannedRuns(undefined, false, undefined), { runs: 5 });
  assert.deepEqual(plannedRuns(undefined, false, 3), { runs: 3 });
});

Deno.test("hyperplanes: a shard without rows counts no pairs; the shards add up to one run", async () => {
  const V = join(work, "V"), channels = 6, rnd = seededRandom(3);
  for (const c of [0, 1, 2]) {
    const x = Float32Array.from({ length: 20 * channels }, (_, i) => rnd() + (i % channels === c ? 1 : 0));
    await writeClassVectors(V, c, x, channels);
  }
  const job = {
    vectors: V,
    training: { ...REFERENCE_TRAINING, epochs: 5 },
    solver: "cpu" as const,
    limits: { maxClasses: 1 },
    log: () => {},
  };
  const one = await trainHyperplanes({ ...job, out: join(work, "H-one") });
  assert.equal(one.pairs.trained, 6);
  // 3 blocks of one class over 4 shards: one shard has none.
  const shards: HyperplaneSummary[] = [];
  for (let index = 1; index <= 4; index++) {
    shards.push(
      await trainHyperplanes({ ...job, out: join(work, `H-s${index}`), shard: { index, count: 4 } }),
    );
  }
  const trained = shards.map((s) => s.pairs.trained);
  assert.equal(trained.filter((t) => t === 0).length, 1, `pairs per shard ${trained}`);
  assert.equal(trained.reduce((a, b) => a + b, 0), one.pairs.trained);
  const empty = shards[trained.indexOf(0)];
  assert.match(formatHyperplaneSummary(empty), /pairs: 0 trained/);
  const merged = await mergeHyperplanes(
    [1, 2, 3, 4].map((k) => join(work, `H-s${k}`)),
    join(work, "H-merged"),
  );
  assert.deepEqual(merged.pairs, one.pairs);
});

Deno.test("the summary table's footnote speaks of masks in the masking test, of offsets in the shifting test", () => {
  const run = summarizeRun([{ from: 0, to: 1, images: 2, pFrom: [0.9, 0.2], pTo: [0.1, 0.7], top1: [0, 1] }]);
  const masking = formatSummaryTable("masking test", [run], summarizeRuns([run]), "masking");
  const footnote = masking.split("\n").at(-1)!;
  assert.match(footnote, /masked/);
  assert.match(footnote, /same mask level/);
  assert.doesNotMatch(footnote, /shift/);
  const shifting = formatSummaryTable("shifting test", [run], summarizeRuns([run]), "shifting").split("\n")
    .at(-1)!;
  assert.match(shifting, /shifted along the normal/);
  assert.match(shifting, /same offset/);
});

Deno.test("a blank --replacement is refused, not read as 0", async () => {
  assert.throws(() => floatArg("replacement", "", -Infinity), /--replacement expects a number, got ''/);
  assert.throws(() => floatArg("cutoff", " "), /--cutoff expects a number >= 0/);
  assert.equal(floatArg("replacement", "-1.5", -Infinity), -1.5);
  await assert.rejects(
    maskingMain([
      "--model",
      "m",
      "--data",
      "d",
      "--layer",
      "l",
      "--hyperplanes",
      "h",
      "--out",
      "o",
      "--replacement",
      "",
    ]),
    /--replacement expects a number, got ''/,
  );
});

Deno.test(
  "contrast tests: a requested pair without a hyperplane is named; a failed run leaves no finished manifest",
  ORT_TEST,
  async () => {
    const fixture = await ensureFixture();
    const K = CLASSES.length, C = STAGE_CHANNELS.layer3;
    const predictions = await writeLabelPredictions(join(work, "predictions"), fixture.imageFolder);
    // Row 0 only, with a normal for (0, 1) and none (zero) for (0, 2); no row for class 3.
    const row0 = new Float32Array(K * C);
    row0.fill(1, 1 * C, 2 * C);
    const planes = hyperplanesInMemory(K, C, new Map([[0, row0]]));
    const common = {
      model: fixture.modelPath,
      data: fixture.imageFolder,
      layer: "layer3.1",
      predictions,
      maxImages: 1,
      batch: 16,
      ep: "wasm" as const,
    };
    const out = join(work, "shifting-without");
    let report: Awaited<ReturnType<typeof runContrastTest>> | undefined;
    const stderr = await stderrOf(async () => {
      report = await runContrastTest(shiftingTest([0, -1]), {
        ...common,
        hyperplanes: { source: "H0", set: planes },
        pairs: "0:1,0:2,3:4",
        out,
      });
    });
    assert.match(stderr, /--pairs: no hyperplane for 0:2, 3:4 in --hyperplanes H0/);
    assert.deepEqual(report!.runs[0].noHyperplane, [{ from: 0, to: 2 }, { from: 3, to: 4 }]);
    const finished = JSON.parse(await Deno.readTextFile(join(out, "manifest.json")));
    assert.equal(finished.complete, true, "a finished run's manifest says complete");

    // The masking test reads the pair's bias while it runs: a row whose bias cannot be read fails it midway.
    const broken = {
      ...planes,
      bias: () => {
        throw new Error("bias_0.npy: truncated");
      },
    };
    const failed = join(work, "masking-failed");
    await assert.rejects(
      runContrastTest(maskingTest(0), {
        ...common,
        hyperplanes: { source: "H0", set: broken },
        pairs: "0:1",
        out: failed,
      }),
      /bias_0\.npy: truncated/,
    );
    // The manifest written at the start says the run has not finished, and nothing turned it true.
    const left = await Deno.readTextFile(join(failed, "manifest.json")).then(JSON.parse).catch(() => null);
    assert.ok(
      left === null || left.complete === false,
      `a failed run's manifest claims: ${JSON.stringify(left)}`,
    );
    assert.equal(await Deno.stat(join(failed, "masking_test.json")).catch(() => null), null);
  },
);

Deno.test(
  "decompose: concepts of another model are a warning in decompose.json, not only on the console",
  ORT_TEST,
  async () => {
    const fixture = await ensureFixture();
    const concepts = await writePlantedConcepts(join(work, "concepts-other"));
    const manifest = JSON.parse(await Deno.readTextFile(join(concepts, "manifest.json")));
    await Deno.writeTextFile(
      join(concepts, "manifest.json"),
      JSON.stringify({ ...manifest, model: { path: "other.onnx", sha256: "f".repeat(64) } }),
    );
    const image = join(fixture.imageFolder, fixture.classNames[2], `${fixture.classNames[2]}_000.png`);
    const out = join(work, "decompose-other");
    const stderr = await stderrOf(() =>
      runDecompose({ model: fixture.modelPath, images: [image], concepts, cls: 2, out, ep: "wasm" })
    );
    assert.match(stderr, /warning: --concepts .* another model/);
    const json = JSON.parse(await Deno.readTextFile(join(out, "decompose.json")));
    assert.equal(json.warnings.length, 1);
    assert.match(json.warnings[0], /another model \(sha256 ffffffffffff\) than --model/);
  },
);
