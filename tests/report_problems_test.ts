// The report names what it could not use (issue 18, case 5): a truncated accuracy_<i>.npy, a JSON file that does
// not parse, a figure a report names but the folder lacks and an incomplete output each appear in the page's
// problems box and on stderr, instead of silently turning into "no pair" or a changed summary.
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeReport } from "../src/pipeline/report/report.ts";
import { writeFakeRun } from "./_helpers/report_run.ts";
import { stderrOf } from "./_helpers/stderr.ts";
import { writeNpy } from "../src/io/npy.ts";

/** The text of the page's problems box ("" when it has none). */
function problemsBox(html: string): string {
  return /<section id="problems" class="problems"[^>]*>([\s\S]*?)<\/section>/.exec(html)?.[1] ?? "";
}

/** A fake run of `classes` classes that `spoil` changes, and its report: the page, stderr and the result. */
async function reportOf(
  classes: number,
  spoil: (run: string) => Promise<void>,
): Promise<{ html: string; stderr: string; result: Awaited<ReturnType<typeof writeReport>> }> {
  const dir = await Deno.makeTempDir({ prefix: "report-problems-" });
  try {
    const run = await writeFakeRun(join(dir, "run"), classes);
    await spoil(run.dir);
    const out = join(dir, "report.html");
    let result: Awaited<ReturnType<typeof writeReport>> | undefined;
    const stderr = await stderrOf(async () => result = await writeReport({ run: run.dir, out }));
    return { html: await Deno.readTextFile(out), stderr, result: result! };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Rewrites a JSON file with `change` applied. */
async function patchJson(path: string, change: Record<string, unknown>): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify({ ...JSON.parse(await Deno.readTextFile(path)), ...change }));
}

Deno.test("report: a truncated accuracy_3.npy is named in a problems box and on the console", async () => {
  const { html, stderr, result } = await reportOf(8, async (run) => {
    const row = join(run, "hyperplanes", "accuracy_3.npy");
    const bytes = await Deno.readFile(row);
    await Deno.writeFile(row, bytes.subarray(0, bytes.length - 10));
  });
  const box = problemsBox(html);
  assert.match(box, /1 problem in the run folder/);
  assert.match(box, /hyperplanes\/accuracy_3\.npy<\/code>: unreadable \(.*truncated/);
  assert.match(box, /class 3&#39;s pairs are shown as &quot;no pair&quot;/);
  // First on the page, and in the navigation.
  assert.ok(html.indexOf('id="problems"') < html.indexOf('id="component"'), "the box comes first");
  assert.match(html, /<a href="#problems">problems \(1\)<\/a>/);
  assert.match(stderr, /1 unreadable or inconsistent input/);
  assert.match(stderr, /accuracy_3\.npy: unreadable/);
  assert.equal(result.problems.length, 1);
  // The heat map's section says its numbers leave that row out.
  const hyperplanes = /<section id="hyperplanes">[\s\S]*?<\/section>/.exec(html)![0];
  assert.match(hyperplanes, /1 of this folder's files could not be used/);
});

Deno.test("report: a row of the wrong length, bad JSON, a missing figure and an incomplete output are listed", async () => {
  const { html, stderr } = await reportOf(8, async (run) => {
    const hyper = join(run, "hyperplanes");
    // Row 2 written for another K; row 5 gone although hyperplanes.json lists class 5.
    await writeNpy(join(hyper, "accuracy_2.npy"), new Float32Array(6), [6]);
    await Deno.remove(join(hyper, "accuracy_5.npy"));
    await patchJson(join(hyper, "hyperplanes.json"), { complete: false });
    await Deno.writeTextFile(join(run, "insert-test", "broken.json"), '{"summary": ');
    await Deno.remove(join(run, "shifting-test", "shifting_run0.jpg"));
    await patchJson(join(run, "insert-test", "manifest.json"), { complete: false });
  });
  const box = problemsBox(html);
  const expected: [string, RegExp][] = [
    ["accuracy_2.npy", /6 accuracies where hyperplanes\.json says K = 8/],
    ["accuracy_5.npy", /missing, though hyperplanes\.json lists class 5 as trained/],
    ["hyperplanes.json", /incomplete/],
    ["broken.json", /unreadable JSON/],
    ["shifting_run0.jpg", /shifting_test, run 0: missing, though its output names it/],
    ["insert-test/manifest.json", /incomplete .*&#39;insert-test&#39;/],
  ];
  assert.match(box, new RegExp(`${expected.length} problems in the run folder`));
  for (const [file, why] of expected) {
    const line = box.split("<li>").find((l) => l.includes(file));
    assert.ok(line, `${file} not in the problems box`);
    assert.match(line!, why);
    assert.match(stderr, new RegExp(file.replace(".", "\\.")));
  }
});

Deno.test("report: a run folder without problems has no problems box and prints nothing", async () => {
  const { html, stderr, result } = await reportOf(4, () => Promise.resolve());
  assert.equal(stderr, "");
  assert.equal(problemsBox(html), "");
  assert.deepEqual(result.problems, []);
});
