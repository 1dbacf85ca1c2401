// The report in a real browser: headless Chromium (from the system's packages; `.ci/run` installs it where
// apt-get exists) opens reports of a small run folder and of 1000 classes, and the page must run its script
// to the end without a console message, show component_test.json's numbers, build a class page on demand,
// filter and page the class list (beyond its first page loaded from the folder beside the page), and render a
// screenshot that is not blank. Skipped where no Chromium is found.
import assert from "node:assert/strict";
import { join } from "node:path";
import { decode as decodePng } from "fast-png";
import { writeReport } from "../src/pipeline/report/report.ts";
import { VARIANTS } from "../src/pipeline/component_test/component_test_run.ts";
import { writeFakeRun } from "./_helpers/report_run.ts";
import { findChromium, type PageRun, runChromium } from "./_helpers/chromium.ts";

const chromium = findChromium();

function assertCleanPage(page: PageRun, what: string): void {
  assert.deepEqual(page.console, [], `${what}: console messages`);
  assert.match(page.dom, /<body[^>]*data-ready="1"/, `${what}: the page script did not run to its end`);
}

Deno.test({
  name: chromium
    ? "report in headless Chromium: no console errors, the summary numbers, lazy class pages, paging, search"
    : "report in headless Chromium (skipped: no chromium on PATH; `apt-get install chromium` or set PROTOSCOPE_CHROMIUM)",
  ignore: !chromium,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "report-browser-" });
    try {
      const small = await writeFakeRun(join(dir, "small"), 8);
      const large = await writeFakeRun(join(dir, "large"), 1000);
      const smallHtml = join(dir, "small.html"), largeHtml = join(dir, "large.html");
      await writeReport({ run: small.dir, out: smallHtml });
      await writeReport({ run: large.dir, out: largeHtml });
      const png = join(dir, "small.png");
      const url = (p: string, hash = "") => `file://${p}${hash}`;
      const [classPage, searched, , farClass] = await Promise.all([
        runChromium(chromium!, url(smallHtml, "#class=1")),
        // "class_1" matches class_1, class_10..19 and class_100..199: 111 classes, 3 pages of 50.
        runChromium(chromium!, url(largeHtml, "#q=class_1")),
        runChromium(chromium!, url(smallHtml), { screenshot: png, width: 1000, height: 1400 }),
        // Beyond the first page: the rows and class 700's images come from large_files/ beside the page.
        runChromium(chromium!, url(largeHtml, "#class=700")),
      ]);

      assertCleanPage(classPage, "small report, class 1");
      // The summary table's numbers as component_test.json has them.
      for (const v of VARIANTS) {
        const s = small.component.summary[v];
        assert.ok(classPage.dom.includes(`<td>${s.passed}/${s.classes}</td>`), `${v}: passed`);
        assert.ok(classPage.dom.includes(`<td>${s.meanP.toFixed(4)}</td>`), `${v}: mean p`);
      }
      // #class=1 built class 1's page: its four images, as <img> now.
      const page = classPage.dom.slice(classPage.dom.indexOf('id="class-page"'));
      const pageImgs = page.slice(0, page.indexOf("</section>")).match(
        /<img [^>]*src="data:image\/jpeg;base64,/g,
      );
      assert.equal(pageImgs?.length, 4);
      assert.match(classPage.dom, /<tr data-class="1" class="selected">/);

      assertCleanPage(searched, "1000 classes, searched");
      // The first page of the matches rendered, and no class image decoded (there is no <img> until one is asked for).
      const found = [...searched.dom.matchAll(/<tr data-class="(\d+)"/g)].map((m) => Number(m[1]));
      assert.deepEqual(found, [
        1,
        ...Array.from({ length: 10 }, (_, i) => 10 + i),
        ...Array.from({ length: 39 }, (_, i) => 100 + i),
      ]);
      assert.match(searched.dom, /page 1 of 3 \(111 classes\)/);
      assert.doesNotMatch(searched.dom, /<img\b/);

      assertCleanPage(farClass, "1000 classes, class 700");
      assert.match(farClass.dom, /<tr data-class="700" class="selected">/);
      assert.match(farClass.dom, /page 15 of 20 \(1000 classes\)/);
      const far = farClass.dom.slice(farClass.dom.indexOf('id="class-page"'));
      assert.match(far, /^[^]*?<h3>class 700: class_700<\/h3>/);
      assert.equal(
        far.slice(0, far.indexOf("</section>")).match(/<img [^>]*src="data:image\/jpeg;base64,/g)?.length,
        2,
        "class 700's two composites",
      );

      // The screenshot is the page drawn: the right size, and not one flat colour.
      const image = decodePng(await Deno.readFile(png));
      assert.equal(image.width, 1000);
      assert.equal(image.height, 1400);
      const colours = new Set<number>();
      const d = image.data, ch = image.channels;
      for (let i = 0; i < d.length; i += ch * 97) colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
      assert.ok(colours.size > 20, `${colours.size} colours in the screenshot`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
