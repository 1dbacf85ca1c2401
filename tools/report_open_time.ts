// How long the report takes to open in headless Chromium (issue 17's budget: script done in < 2 s at K = 1000):
// writes the report of a run folder (`--run R`, e.g. a rehearsal) or of the report tests' synthetic run of K
// classes (`--fake K`), opens it `--times` times, and prints JSON: the page's and the folder's bytes, the
// page's own data-ready-ms (navigation to the end of its script) and the wall time of the whole Chromium
// process (which includes Chromium's start, ~2 s on the dev VM). A dev tool: the test suite asserts no times.
//
//   deno run -A tools/report_open_time.ts --fake 1000
import { parseArgs } from "node:util";
import { join } from "node:path";
import { writeReport } from "../src/pipeline/report/report.ts";
import { writeFakeRun } from "../tests/_helpers/report_run.ts";
import { findChromium, runChromium } from "../tests/_helpers/chromium.ts";
import { encodeJpeg } from "../src/render/image_file.ts";
import { seededRandom } from "../src/runtime/random.ts";

/** Every composite replaced by one noise JPEG of about `kb` KB (noise does not compress: ~1.5 bytes a pixel). */
async function enlargeComposites(run: string, kb: number): Promise<void> {
  const side = Math.round(Math.sqrt((kb * 1024) / 1.5));
  const rnd = seededRandom(1);
  const jpeg = await encodeJpeg(Uint8Array.from({ length: side * side * 3 }, () => rnd() * 256), side, side);
  const folder = join(run, "component-test", "composites");
  for await (const e of Deno.readDir(folder)) await Deno.writeFile(join(folder, e.name), jpeg);
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    run: { type: "string" },
    fake: { type: "string" },
    // The synthetic run's composites are one tiny JPEG; a rehearsal's class figures are ~100 KB each.
    "image-kb": { type: "string" },
    times: { type: "string", default: "3" },
  },
});
const chromium = findChromium();
if (!chromium) {
  console.error("no chromium on PATH (apt-get install chromium, or set PROTOSCOPE_CHROMIUM)");
  Deno.exit(2);
}
if (!values.run === !values.fake) {
  console.error("give one of --run DIR (a run folder) or --fake K (a synthetic run of K classes)");
  Deno.exit(2);
}
const dir = await Deno.makeTempDir({ prefix: "report-open-" });
try {
  const run = values.run ?? (await writeFakeRun(join(dir, "run"), Number(values.fake))).dir;
  if (values.fake && values["image-kb"]) await enlargeComposites(run, Number(values["image-kb"]));
  const out = join(dir, "report.html");
  const report = await writeReport({ run, out });
  const opens: { readyMs: number; wallS: number }[] = [];
  for (let t = 0; t < Number(values.times); t++) {
    const start = performance.now();
    const page = await runChromium(chromium, `file://${out}`);
    const wallS = (performance.now() - start) / 1000;
    const ready = /data-ready-ms="(\d+)"/.exec(page.dom);
    if (!ready) throw new Error(`the page's script did not finish:\n${page.console.join("\n")}`);
    opens.push({ readyMs: Number(ready[1]), wallS: Number(wallS.toFixed(2)) });
  }
  console.log(JSON.stringify({
    run,
    classes: report.classes,
    pageBytes: report.bytes,
    assets: report.assets ? { files: report.assets.files, bytes: report.assets.bytes } : null,
    opens,
  }));
} finally {
  await Deno.remove(dir, { recursive: true });
}
