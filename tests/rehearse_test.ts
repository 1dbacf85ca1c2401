// A small rehearsal (deno task rehearse, K = 20) in the suite: every stage ran and wrote its outputs, and the
// planted truth holds at every count. Shrunk only through the task's flags, to stay well under a minute:
// 2 images a class at 56 px, 2 noise-tunnel samples, one shifting run of 20 x 2 draws, 2 images per class in
// the contrast tests, one sampled pair, no shards (tests/shard_merge_test.ts covers shards + merge; the
// folder comparison the rehearsal uses is tested below). The hyperplanes keep the reference's 100 epochs.
import assert from "node:assert/strict";
import { join } from "node:path";
import { main as rehearse, type Rehearsal } from "../tasks/rehearse.ts";
import { compareOutputs } from "../src/bench/compare_outputs.ts";
import { meterStage } from "../src/bench/stage_meter.ts";
import { UsageError } from "../src/cli/cli.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };

Deno.test("rehearse --classes 20: every stage runs and the planted truth holds", ORT_TEST, async () => {
  const out = await Deno.makeTempDir({ prefix: "rehearse-" });
  await rehearse([
    ...["--classes", "20", "--out", out, "--shards", "0", "--per-class", "2", "--size", "56"],
    ...[
      "--samples",
      "2",
      "--runs",
      "1",
      "--draws",
      "20",
      "--others",
      "2",
      "--max-images",
      "2",
      "--pairs",
      "1",
    ],
    // The EP a user gets (native CPU where onnxruntime-node loads); a hung stage fails the test in minutes.
    ...["--ep", "auto", "--stage-timeout", "300"],
  ]);
  const r: Rehearsal = JSON.parse(await Deno.readTextFile(join(out, "rehearsal.json")));
  assert.deepEqual(r.stages.map((s) => s.stage), [
    "fixture",
    "prepare",
    "predictions",
    "concepts",
    "component-test",
    "visualize",
    "contrast-vectors",
    "hyperplanes",
    "shifting-test",
    "masking-test",
    "contrast",
    "insert-test",
    "report",
  ]);
  for (const s of r.stages) {
    assert.ok(s.wallSeconds > 0 && s.filesWritten > 0 && s.bytesWritten > 0, `${s.stage} wrote nothing`);
    if (s.stage !== "fixture") {
      assert.ok(s.peakRssIsStageOwn && s.peakRssBytes! > 0, `${s.stage}: no peak RSS`);
    }
  }
  assert.equal(r.stages.find((s) => s.stage === "hyperplanes")!.items, 380);
  const t = r.truth;
  assert.equal(t.predictionsTop1, 1);
  assert.deepEqual(t.componentTest, {
    allImages: { expected: 20, agree: 20 },
    targetExcluded: { expected: 20, agree: 20 },
  });
  assert.deepEqual(t.hyperplaneSigns, { expected: 380, agree: 380 });
  assert.ok(t.shiftingFlips!.expected > 0, "no sampled pair should flip");
  assert.equal(t.shiftingFlips!.agree, t.shiftingFlips!.expected);
  assert.ok((await Deno.stat(join(out, "cost_vs_k.jpg"))).size > 1000);
  assert.equal(r.budgets!.truthHolds, true);
  assert.equal(r.budgets!.peakRss.withinBudget, true);
  assert.equal(r.budgets!.shardsEqualSingleRun, null);
  const kr = r.hyperplanesKillResume!;
  assert.ok("finishedBeforeKill" in kr || kr.equalsSingleRun.same, "the resumed hyperplanes differ");
  // A second rehearsal into the same folder would time resumed stages: refused, naming the folder.
  await assert.rejects(
    () => rehearse(["--classes", "20", "--out", out]),
    (e: Error) => e instanceof UsageError && e.message.includes(out) && /from an earlier run/.test(e.message),
  );
  await Deno.remove(out, { recursive: true });
});

Deno.test("compareOutputs: same results despite timestamps and own paths; a changed .npy differs", async () => {
  const root = await Deno.makeTempDir({ prefix: "compare-" });
  const [a, b] = [join(root, "one"), join(root, "merged")];
  for (const [dir, created] of [[a, "2026-01-01"], [b, "2026-02-02"]]) {
    await Deno.mkdir(join(dir, "sub"), { recursive: true });
    await Deno.writeTextFile(join(dir, "x.json"), JSON.stringify({ created, out: `${dir}/sub`, n: 1 }));
    await Deno.writeFile(join(dir, "sub", "y.npy"), new Uint8Array([1, 2, 3]));
  }
  assert.deepEqual(await compareOutputs(a, b), { same: true, files: 2, differing: [] });
  await Deno.writeFile(join(b, "sub", "y.npy"), new Uint8Array([1, 2, 4]));
  await Deno.writeTextFile(join(b, "extra.json"), "{}");
  assert.deepEqual(await compareOutputs(a, b), {
    same: false,
    files: 2,
    differing: ["extra.json", "sub/y.npy"],
  });
  await Deno.remove(root, { recursive: true });
});

Deno.test("meterStage: bytes and files the stage added, the child's peak when it reports one", async () => {
  const out = await Deno.makeTempDir({ prefix: "meter-" });
  await Deno.writeFile(join(out, "old.bin"), new Uint8Array(100));
  const child = await meterStage("x", out, { count: 10, kind: "images" }, async () => {
    await Deno.mkdir(join(out, "sub"));
    await Deno.writeFile(join(out, "sub", "a.bin"), new Uint8Array(1000));
    await Deno.writeFile(join(out, "b.bin"), new Uint8Array(24));
    return { rssBytes: 123_456, gpuBufferBytes: 4096 };
  });
  assert.deepEqual(
    [
      child.bytesWritten,
      child.filesWritten,
      child.peakRssBytes,
      child.peakRssIsStageOwn,
      child.peakGpuBufferBytes,
      child.items,
    ],
    [1024, 2, 123_456, true, 4096, 10],
  );
  const here = await meterStage("y", join(out, "missing"), { count: 1, kind: "pairs" }, async () => {});
  assert.deepEqual([here.bytesWritten, here.filesWritten, here.peakRssIsStageOwn], [0, 0, false]);
  assert.ok(here.peakRssBytes! > 10 * 2 ** 20, `this process's VmHWM: ${here.peakRssBytes}`);
  // A page and the folder beside it (the report): both counted, one of them new.
  const page = join(out, "page.html"), files = join(out, "page_files");
  const both = await meterStage("z", [page, files], { count: 1, kind: "classes" }, async () => {
    await Deno.writeFile(page, new Uint8Array(10));
    await Deno.mkdir(files);
    await Deno.writeFile(join(files, "rows.js"), new Uint8Array(7));
  });
  assert.deepEqual([both.bytesWritten, both.filesWritten], [17, 2]);
  await Deno.remove(out, { recursive: true });
});
