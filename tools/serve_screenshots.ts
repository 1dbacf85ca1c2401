// The explorer's screenshots in docs/ (README "Explorer"), taken the way a person sees the page: the server on
// a run folder, headless Chromium on four views (a class, "why 7, not 6" computed live, an upload of a class-2
// image decomposed with its 2-rather-than-6 map, the run overview listing what was computed: that contrast and
// a shifting curve), PNG to JPEG.
// Take them from a run under a neutral path (deno task demo writes out/demo): the page header shows only the
// folder's name, but the report's sections in the overview show the manifests' paths.
//
//   deno run -A tools/serve_screenshots.ts [--run out/demo] [--out docs]
//
// The run's explorer/ subfolder is removed first, so that the contrast is computed, not read back.
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { decode as decodePng } from "fast-png";
import { ensureFixture } from "../fixtures/ensure.ts";
import { startServer } from "../src/pipeline/serve/server.ts";
import { findChromium, runChromium } from "../tests/_helpers/chromium.ts";
import { writeFileAtomic } from "../src/io/atomic.ts";
import { rgbToJpeg } from "../src/render/canvas.ts";

const { values } = parseArgs({
  options: { run: { type: "string", default: "out/demo" }, out: { type: "string", default: "docs" } },
});
const chromium = findChromium();
if (!chromium) throw new Error("no Chromium on PATH (apt-get install chromium, or set PROTOSCOPE_CHROMIUM)");
const run = resolve(values.run!);
await Deno.remove(join(run, "explorer"), { recursive: true }).catch(() => {});
const server = await startServer({ run, port: 0 });
try {
  // The upload goes through the API first, so that the page can open it from the run folder by its path.
  const fixture = await ensureFixture();
  const classFolder = join(fixture.imageFolder, fixture.classNames[2]);
  const image = [...Deno.readDirSync(classFolder)].map((e) => e.name).sort()[0];
  const answer = await fetch(`${server.url}/api/decompose?class=2`, {
    method: "POST",
    body: await Deno.readFile(join(classFolder, image)),
  });
  const body = await answer.json();
  if (!answer.ok) throw new Error(`POST /api/decompose: ${answer.status} ${body.error}`);
  const key = String(body.output).split("/").at(-1)!.replace(/-2$/, "");
  const upload = [...Deno.readDirSync(join(run, "explorer", "uploads"))].find((e) => e.name.startsWith(key));
  if (!upload) throw new Error(`the upload ${key} is not under ${run}/explorer/uploads/`);

  // A shifting curve as well, so that the overview lists both kinds of what the explorer computes.
  const shifting = await (await fetch(`${server.url}/api/shifting?a=7&b=6`, { method: "POST" })).json();
  await server.explorer.queue.jobs.get(String(shifting.id))?.finished;

  const views: [string, string, number][] = [
    ["serve_class", "#class=2", 1400],
    ["serve_contrast", "#contrast=7,6", 760],
    ["serve_decompose", `#decompose=explorer/uploads/${upload.name}&class=2&b=6`, 2400],
    ["serve_overview", "#overview", 1100],
  ];
  for (const [name, hash, height] of views) {
    const png = await Deno.makeTempFile({ suffix: ".png" });
    const page = await runChromium(chromium, `${server.url}/${hash}`, {
      screenshot: png,
      width: 1300,
      height,
      virtualTimeBudgetMs: 60000,
    });
    if (page.console.length) console.error(`${name}: console: ${page.console.join("\n")}`);
    const decoded = decodePng(await Deno.readFile(png));
    const rgb = new Uint8Array(decoded.width * decoded.height * 3);
    for (let i = 0, j = 0; i < rgb.length; i += 3, j += decoded.channels) {
      rgb.set(decoded.data.subarray(j, j + 3) as Uint8Array, i);
    }
    const jpeg = await rgbToJpeg({ pixels: rgb, width: decoded.width, height: decoded.height }, 85);
    await writeFileAtomic(join(values.out!, `${name}.jpg`), jpeg);
    await Deno.remove(png);
    console.log(`${name}.jpg: ${hash}`);
  }
} finally {
  await server.shutdown();
}
