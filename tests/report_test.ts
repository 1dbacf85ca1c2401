// The report's HTML builder: self-contained up to one page of classes (no URL outside the file, every JPEG
// inlined), the numbers of the run's JSON on the page, the chart data right, 1000 classes kept lazy (no class
// image is an <img> until shown), and beyond one page a page whose bytes do not grow with K.
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeReport } from "../src/pipeline/report/report.ts";
import { buildReportHtml } from "../src/pipeline/report/report_page.ts";
import { quantile, stepQuartiles } from "../src/pipeline/contrast/sanity_checks/step_figure.ts";
import { readRunFolder, summarizeJson } from "../src/pipeline/report/run_folder.ts";
import { encodeBase64 } from "../src/pipeline/report/html.ts";
import { heatRgb, histogramCounts } from "../src/pipeline/report/svg_charts.ts";
import { decode as decodePng } from "fast-png";
import { VARIANTS } from "../src/pipeline/component_test/component_test_run.ts";
import { writeFakeRun } from "./_helpers/report_run.ts";

async function jpegsUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) found.push(...await jpegsUnder(p));
    else if (e.name.endsWith(".jpg")) found.push(p);
  }
  return found;
}

/** The text of every <script type="application/json"> block, by id. */
function jsonBlocks(html: string): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const m of html.matchAll(/<script type="application\/json" id="([^"]+)"[^>]*>([\s\S]*?)<\/script>/g)) {
    blocks.set(m[1], m[2]);
  }
  return blocks;
}

Deno.test("report of a small run: self-contained, every image inlined, the run's numbers shown", async () => {
  const dir = await Deno.makeTempDir({ prefix: "report-" });
  try {
    const run = await writeFakeRun(join(dir, "run"), 8);
    const out = join(dir, "report.html");
    const result = await writeReport({ run: run.dir, out });
    const html = await Deno.readTextFile(out);
    assert.equal(result.bytes, new TextEncoder().encode(html).length);
    assert.deepEqual(result.sections, {
      component: true,
      hyperplanes: true,
      contrastTests: 1,
      otherOutputs: 1,
    });
    assert.equal(result.classes, 8);

    // No URL that leaves the file: no http(s), no external script/style, every src a data: URI.
    assert.doesNotMatch(html, /https?:\/\//);
    assert.doesNotMatch(html, /<link\b|<script[^>]+src=|@import|url\(/);
    for (const m of html.matchAll(/\bsrc="([^"]*)"/g)) assert.match(m[1], /^data:image\//);

    // Every JPEG of the run is in the page, as base64.
    const jpegs = await jpegsUnder(run.dir);
    assert.equal(jpegs.length, 8 * 2 + 8 + 1 + 1 + 1);
    for (const p of jpegs) assert.ok(html.includes(encodeBase64(await Deno.readFile(p))), `${p} not inlined`);

    // The component test's summary table shows component_test.json's numbers.
    for (const v of VARIANTS) {
      const s = run.component.summary[v];
      assert.ok(html.includes(`<td>${s.passed}/${s.classes}</td>`), `${v} passed`);
      assert.ok(html.includes(`<td>${s.meanP.toFixed(4)}</td>`), `${v} mean p`);
      assert.ok(html.includes(`<td>${s.stdP.toFixed(4)}</td>`), `${v} std p`);
    }
    // Class pages carry their images lazily: class 1 has grid, both composites and its explanation figure.
    const blocks = jsonBlocks(html);
    const class1 = JSON.parse(blocks.get("img-1")!) as { t: string; s: string }[];
    assert.deepEqual(class1.map((x) => x.t), [
      "prototype grid",
      "composite, all images",
      "composite, target excluded",
      "explanation figure",
    ]);
    const rows = JSON.parse(blocks.get("class-index")!) as { c: number; pa: number }[];
    assert.deepEqual(rows.map((r) => r.c), [...Array(8).keys()]);
    assert.equal(rows[3].pa, run.component.classes[3].allImages.pClass);

    // Heat map: one 8 x 8 PNG, a pixel per pair, the diagonal grey (no pair); the shifting test's summary and
    // the unknown output.
    const heat = html.slice(html.indexOf('id="hyperplanes"'));
    const png = /<image [^>]*href="data:image\/png;base64,([^"]+)"/.exec(
      heat.slice(0, heat.indexOf("</svg>")),
    );
    const map = decodePng(Uint8Array.from(atob(png![1]), (ch) => ch.charCodeAt(0)));
    assert.deepEqual([map.width, map.height], [8, 8]);
    const pixel = (i: number, j: number) => {
      const at = (i * 8 + j) * map.channels;
      return [...map.data.subarray(at, at + 3)];
    };
    assert.deepEqual(pixel(3, 3), heatRgb(NaN));
    assert.deepEqual(pixel(0, 1), heatRgb(Math.fround(0.7)));
    assert.deepEqual(pixel(6, 2), heatRgb(Math.fround(0.5)));
    assert.ok(html.includes("Shifting test"));
    assert.ok(html.includes("insert-test") && html.includes("meanGain"));
    assert.ok(html.includes("ab12cd34ef56"), "model hash from the manifests");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report of 1000 classes: class pages lazy, list paged by the script, size bounded", async () => {
  const dir = await Deno.makeTempDir({ prefix: "report-1000-" });
  try {
    const run = await writeFakeRun(join(dir, "run"), 1000);
    const html = await buildReportHtml(await readRunFolder(run.dir));
    const blocks = jsonBlocks(html);
    // 1000 classes with images, each in its own JSON block, and no <img> in the page as written.
    assert.equal([...blocks.keys()].filter((k) => k.startsWith("img-")).length, 1000);
    assert.doesNotMatch(html, /<img\b/);
    // The class table's body is empty until the script renders one page of it.
    assert.match(html, /<tbody id="class-rows"><\/tbody>/);
    assert.equal((JSON.parse(blocks.get("class-index")!) as unknown[]).length, 1000);
    // Each class costs its two composites (base64 of ~1 KB each) and a row: a few MB, not more.
    const composite = (await Deno.stat(join(run.dir, "component-test", "composites", "0_all.jpg"))).size;
    const perClass = (html.length - 200_000) / 1000;
    assert.ok(perClass < 2 * composite * 1.4 + 600, `${perClass.toFixed(0)} bytes per class`);
    assert.ok(html.length < 8 << 20, `${html.length} bytes`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report of K = 1000 hyperplanes: the mean and min over all 999,000 accuracies", async () => {
  // The K = 1000 rehearsal's report died here: a spread of K(K-1) values into Math.min overflowed the stack.
  const dir = await Deno.makeTempDir({ prefix: "report-k1000-" });
  try {
    const K = 1000;
    const run = await writeFakeRun(join(dir, "run"), K, K);
    await writeReport({ run: run.dir, out: join(dir, "report.html"), pageSize: 10 });
    const html = await Deno.readTextFile(join(dir, "report.html"));
    let sum = 0;
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) if (i !== j) sum += Math.fround(0.5 + ((i + 2 * j) % 5) / 10);
    }
    const section = html.slice(html.indexOf('id="hyperplanes"'));
    const cells = [...section.matchAll(/<td>([^<]*)<\/td>/g)].slice(0, 6).map((m) => m[1]);
    assert.deepEqual(cells.slice(0, 2), [`${K} of ${K}`, String(K * (K - 1))]);
    assert.equal(Number(cells[2]).toFixed(3), (sum / (K * (K - 1))).toFixed(3));
    assert.equal(Number(cells[3]), 0.5);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report beyond one page of classes: the page's bytes flat in K, the rest in the folder beside it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "report-flat-" });
  try {
    const sizes: number[] = [];
    for (const k of [20, 200]) {
      const run = await writeFakeRun(join(dir, `run${k}`), k);
      const out = join(dir, `r${k}`, "report.html");
      await Deno.mkdir(join(dir, `r${k}`));
      const result = await writeReport({ run: run.dir, out, pageSize: 10 });
      const html = await Deno.readTextFile(out);
      sizes.push(html.length);
      // The page: the first page of rows, no class image; the folder: every row and each class's images.
      assert.doesNotMatch(html, /id="img-/);
      const rows = JSON.parse(jsonBlocks(html).get("class-index")!) as { c: number }[];
      assert.deepEqual(rows.map((r) => r.c), [...Array(10).keys()]);
      assert.match(html, new RegExp(`data-total="${k}" data-assets="report_files"`));
      const files = join(dir, `r${k}`, "report_files");
      assert.equal(result.assets?.files, k + 1);
      const all = await Deno.readTextFile(join(files, "rows.js"));
      assert.equal((JSON.parse(/^protoscopeData\("rows", (.*)\);\n$/s.exec(all)![1]) as unknown[]).length, k);
      const class7 = await Deno.readTextFile(join(files, `img-${k - 1}.js`));
      assert.match(
        class7,
        new RegExp(
          `^protoscopeData\\("img-${k - 1}", \\[\\{"t":"composite, all images","s":"data:image/jpeg;base64,`,
        ),
      );
    }
    // Ten times the classes: the same page, give or take the digits of the count.
    assert.ok(
      Math.abs(sizes[1] - sizes[0]) < 64,
      `report.html: ${sizes[0]} bytes at K = 20, ${sizes[1]} at K = 200`,
    );
    // Written again with every class on one page, the page holds it all and the earlier folder goes.
    const out = join(dir, "r20", "report.html");
    const again = await writeReport({ run: join(dir, "run20"), out });
    assert.equal(again.assets, undefined);
    await assert.rejects(() => Deno.stat(join(dir, "r20", "report_files")), Deno.errors.NotFound);
    assert.match(await Deno.readTextFile(out), /id="img-19"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report helpers: quartiles as numpy's linear quantile, histogram bins, JSON summaries", () => {
  // numpy.quantile([1, 2, 3, 4], [0.25, 0.5, 0.75]) = [1.75, 2.5, 3.25]
  assert.deepEqual([0.25, 0.5, 0.75].map((q) => quantile([1, 2, 3, 4], q)), [1.75, 2.5, 3.25]);
  const bands = stepQuartiles([[0, 1], [0.5, 3], [1, 2]]);
  assert.deepEqual(bands, { q1: [0.25, 1.5], median: [0.5, 2], q3: [0.75, 2.5] });
  // 1.0 falls in the last bin, NaN nowhere.
  assert.deepEqual(histogramCounts([0, 0.05, 0.1, 0.99, 1, NaN], 10), [2, 1, 0, 0, 0, 0, 0, 0, 0, 2]);
  assert.deepEqual(summarizeJson({ summary: { a: 1 }, rows: [1, 2] }), { summary: { a: 1 } });
  assert.deepEqual(summarizeJson({ manifest: {}, n: 3, rows: [1, 2] }), { n: 3, rows: "[2 items]" });
});

Deno.test("report --classes: only the listed classes' images are inlined, every class stays listed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "report-classes-" });
  try {
    const run = await writeFakeRun(join(dir, "run"), 8);
    const out = join(dir, "report.html");
    await writeReport({ run: run.dir, out, classes: "1,5-6" });
    const blocks = jsonBlocks(await Deno.readTextFile(out));
    assert.deepEqual([...blocks.keys()].filter((k) => k.startsWith("img-")).sort(), [
      "img-1",
      "img-5",
      "img-6",
    ]);
    assert.equal((JSON.parse(blocks.get("class-index")!) as unknown[]).length, 8);
    await assert.rejects(() => writeReport({ run: run.dir, out, classes: "9" }), /--classes|--class 9/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report: a missing run folder or a non-HTML --out is named before anything is written", async () => {
  await assert.rejects(
    () => writeReport({ run: "/nonexistent/run", out: "/tmp/x.html" }),
    /--run \/nonexistent\/run/,
  );
  await assert.rejects(() => writeReport({ run: ".", out: "/tmp/x.txt" }), /expected an \.html file name/);
});
