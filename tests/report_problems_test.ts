// The report names what it could not use (issue 18, case 5): a truncated accuracy_<i>.npy, a JSON file that does
// not parse, a figure a report names but the folder lacks and an incomplete output each appear in the page's
// problems box and on stderr, instead of silently turning into "no pair" or a changed summary.
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeReport } from "../src/pipeline/report/report.ts";
import { writeFakeRun } from "./_helpers/report_run.ts";

/** Runs `fn` with console.error captured; returns what it printed. */
async function stderrOf(fn: () => Promise<unknown>): Promise<string> {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    await fn();
  } finally {
    console.error = original;
  }
  return lines.join("\n");
}

/** The text of the page's problems box ("" when it has none). */
function problemsBox(html: string): string {
  return /<section id="problems" class="problems"[^>]*>([\s\S]*?)<\/section>/.exec(html)?.[1] ?? "";
}

Deno.test("report: a truncated accuracy_3.npy is named in a problems box and on the console", async () => {
  const dir = await Deno.makeTempDir({ prefix: "report-problems-" });
  try {
    const run = await writeFakeRun(join(dir, "run"), 8);
    const row = join(run.dir, "hyperplanes", "accuracy_3.npy");
    const bytes = await Deno.readFile(row);
    await Deno.writeFile(row, bytes.subarray(0, bytes.length - 10));
    const out = join(dir, "report.html");
    let result: Awaited<ReturnType<typeof writeReport>> | undefined;
    const stderr = await stderrOf(async () => result = await writeReport({ run: run.dir, out }));
    const html = await Deno.readTextFile(out);

    const box = problemsBox(html);
    assert.match(box, /1 problem in the run folder/);
    assert.match(box, /hyperplanes\/accuracy_3\.npy<\/code>: unreadable \(.*truncated/);
    assert.match(
      box,
      /class 3&#39;s pairs are shown as &quot;no pair&quot;|class 3's pairs are shown as "no pair"/,
    );
    // First on the page, and in the navigation.
    assert.ok(html.indexOf('id="problems"') < html.indexOf('id="component"'), "the box comes first");
    assert.match(html, /<a href="#problems">problems \(1\)<\/a>/);
    assert.match(stderr, /1 unreadable or inconsistent input/);
    assert.match(stderr, /accuracy_3\.npy: unreadable/);
    assert.equal(result!.problems.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report: a row of the wrong length, bad JSON, a missing figure and an incomplete output are listed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "report-problems-" });
  try {
    const run = await writeFakeRun(join(dir, "run"), 8);
    const hyper = join(run.dir, "hyperplanes");
    // Row 2 written for another K; row 5 gone although hyperplanes.json lists class 5.
    const { writeNpy } = await import("../src/io/npy.ts");
    await writeNpy(join(hyper, "accuracy_2.npy"), new Float32Array(6), [6]);
    await Deno.remove(join(hyper, "accuracy_5.npy"));
    const index = JSON.parse(await Deno.readTextFile(join(hyper, "hyperplanes.json")));
    await Deno.writeTextFile(join(hyper, "hyperplanes.json"), JSON.stringify({ ...index, complete: false }));
    await Deno.writeTextFile(join(run.dir, "insert-test", "broken.json"), '{"summary": ');
    await Deno.remove(join(run.dir, "shifting-test", "shifting_run0.jpg"));
    const manifest = JSON.parse(await Deno.readTextFile(join(run.dir, "insert-test", "manifest.json")));
    await Deno.writeTextFile(
      join(run.dir, "insert-test", "manifest.json"),
      JSON.stringify({ ...manifest, complete: false }),
    );
    const out = join(dir, "report.html");
    const stderr = await stderrOf(() => writeReport({ run: run.dir, out }));
    const box = problemsBox(await Deno.readTextFile(out));
    const expected: [string, RegExp][] = [
      ["accuracy_2.npy", /6 accuracies where hyperplanes\.json says K = 8/],
      ["accuracy_5.npy", /missing, though hyperplanes\.json lists class 5 as trained/],
      ["hyperplanes.json", /incomplete/],
      ["broken.json", /unreadable JSON/],
      ["shifting_run0.jpg", /shifting_test, run 0/],
      ["insert-test/manifest.json", /incomplete .*(&#39;|')insert-test/],
    ];
    assert.match(box, new RegExp(`${expected.length} problems in the run folder`));
    for (const [file, why] of expected) {
      const line = box.split("<li>").find((l) => l.includes(file));
      assert.ok(line, `${file} not in the problems box`);
      assert.match(line!, why);
      assert.match(stderr, new RegExp(file.replace(".", "\\.")));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report: a run folder without problems has no problems box and prints nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "report-problems-" });
  try {
    const run = await writeFakeRun(join(dir, "run"), 4);
    const out = join(dir, "report.html");
    const stderr = await stderrOf(() => writeReport({ run: run.dir, out }));
    assert.equal(stderr, "");
    assert.equal(problemsBox(await Deno.readTextFile(out)), "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
