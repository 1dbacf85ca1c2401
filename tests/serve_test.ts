// deno task serve (src/pipeline/serve/) against a served small run (the report's made-up run folder, the
// fixture's planted concepts and the fixture model): the API lists the classes; a decomposed upload answers
// the numbers `deno task decompose` writes for the same image; traversal, symlinks, hidden files, oversized
// and non-image uploads are refused with a 4xx naming the reason, and the server keeps serving; contrast and
// shifting jobs open the model once for all of them, and the run overview lists what they computed; the job
// queue runs jobs one at a time and cancels them (a running one through its signal, where no progress bar
// ticks); --data defaults to the predictions' dataset. In headless Chromium (skipped where there is none):
// the page loads with no console message, a class page shows its prototype grid, and a decomposition shows
// the same numbers.
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureFixture } from "../fixtures/ensure.ts";
import { runDecompose } from "../src/pipeline/decompose/decompose.ts";
import { isLoopback, startServer } from "../src/pipeline/serve/server.ts";
import { JobQueue } from "../src/pipeline/serve/job_queue.ts";
import { Explorer } from "../src/pipeline/serve/explorer.ts";
import { createProgress } from "../src/io/progress.ts";
import { exists } from "../src/io/atomic.ts";
import { SplitModel } from "../src/model/split_model.ts";
import { writeFakeRun } from "./_helpers/report_run.ts";
import { writeLabelPredictions, writePlantedConcepts } from "./_helpers/planted_concepts.ts";
import { fixtureContrastVectors } from "./_helpers/fixture_vectors.ts";
import { findChromium, runChromium } from "./_helpers/chromium.ts";

const fixture = await ensureFixture();
const work = await Deno.makeTempDir({ prefix: "serve_test_" });
const run = join(work, "run");
await writeFakeRun(run, 8);
await writePlantedConcepts(join(run, "concepts"));
const classFolder = join(fixture.imageFolder, fixture.classNames[2]);
const imageName = [...Deno.readDirSync(classFolder)].map((e) => e.name).sort()[0];
// What the contrast jobs need: predictions and contrast vectors (the hyperplane of a pair is trained on demand,
// since the made-up run's hyperplanes folder holds accuracies only).
await writeLabelPredictions(join(run, "predictions"), fixture.imageFolder);
await fixtureContrastVectors(fixture, run, join(run, "predictions"));
await Deno.mkdir(join(run, "inputs"));
await Deno.copyFile(join(classFolder, imageName), join(run, "inputs", "upload.jpg"));
const UPLOAD_CAP = 256 << 10;
/** Every split model the server opens (contrast and shifting jobs), as "model layer". */
const splitOpens: string[] = [];
const server = await startServer({
  run,
  model: fixture.modelPath,
  ep: "wasm",
  port: 0,
  uploadCap: UPLOAD_CAP,
  openSplitModel: (model, layer, ep) => {
    splitOpens.push(`${model} ${layer}`);
    return SplitModel.open(model, layer, ep);
  },
});
globalThis.addEventListener("unload", () => {
  Deno.removeSync(work, { recursive: true });
});

async function get(
  path: string,
  init?: RequestInit,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(server.url + path, init);
  const text = await r.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text);
  } catch {
    body = { text };
  }
  return { status: r.status, body };
}

/** What `deno task decompose --image inputs/upload.jpg --class 2` writes, computed once for the tests below. */
let expected: Awaited<ReturnType<typeof runDecompose>> | undefined;
async function cliDecomposition() {
  expected ??= await runDecompose({
    model: fixture.modelPath,
    images: [join(run, "inputs", "upload.jpg")],
    concepts: join(run, "concepts"),
    cls: 2,
    out: join(work, "cli-decompose"),
    ep: "wasm",
  });
  return expected.images[0];
}

Deno.test({
  name:
    "serve: the API lists the classes and decomposes an upload into the numbers deno task decompose gives",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const classes = await get("/api/classes");
    assert.equal(classes.status, 200);
    const list = classes.body.classes as { index: number; name: string; hasPrototypes: boolean }[];
    assert.deepEqual(list.map((c) => c.index), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.equal(list[3].name, "class_3");
    assert.ok(list.every((c) => c.hasPrototypes));
    const searched = await get("/api/classes?q=class_7");
    assert.deepEqual((searched.body.classes as { index: number }[]).map((c) => c.index), [7]);

    const bytes = await Deno.readFile(join(run, "inputs", "upload.jpg"));
    const answer = await get("/api/decompose?class=2", { method: "POST", body: bytes });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const want = await cliDecomposition();
    const got = answer.body as {
      top5: { class: number; probability: number }[];
      prototypes: { prototype: number; share: number; overlay: string }[];
      reconstruction: { relative: number };
    };
    assert.deepEqual(
      got.top5.map((t) => [t.class, t.probability]),
      want.top5.map((t) => [t.class, t.probability]),
    );
    assert.deepEqual(got.prototypes.map((p) => p.share), want.prototypes.map((p) => p.share));
    assert.equal(got.reconstruction.relative, want.reconstruction.relative);
    // The overlays are served from the run folder, where the output was written.
    const overlay = await fetch(server.url + got.prototypes[0].overlay);
    assert.equal(overlay.headers.get("content-type"), "image/jpeg");
    assert.ok((await overlay.bytes()).length > 1000);
    // The same bytes again: answered from the output kept under <run>/explorer/.
    const again = await get("/api/decompose?class=2", { method: "POST", body: bytes });
    assert.equal(again.body.cached, true);
    assert.deepEqual(
      (again.body.prototypes as { share: number }[]).map((p) => p.share),
      got.prototypes.map((p) => p.share),
    );
  },
});

Deno.test({
  name: "serve: bad requests get a 4xx naming the reason, and the server keeps serving",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await Deno.symlink("/etc/hostname", join(run, "figures", "link.jpg"));
    const jpegStart = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
    const cases: [string, RequestInit | undefined, number, RegExp][] = [
      ["/files/..%2F..%2Fetc%2Fpasswd", undefined, 403, /'\.\.' and '\.' segments are refused/],
      ["/files/%2Fetc%2Fpasswd", undefined, 403, /absolute paths are refused/],
      ["/files/figures/link.jpg", undefined, 403, /symbolic links are not served/],
      ["/files/concepts/.protoscope.lock", undefined, 403, /hidden files/],
      ["/files/nothing.jpg", undefined, 404, /no such file in the run folder/],
      [
        "/api/decompose?class=2",
        { method: "POST", body: new Uint8Array(UPLOAD_CAP + 1) },
        413,
        /larger than the cap/,
      ],
      ["/api/decompose?class=2", { method: "POST", body: "hello" }, 415, /not a JPEG or PNG/],
      ["/api/decompose?class=2", { method: "POST", body: jpegStart }, 422, /could not be decoded/],
      ["/api/decompose", { method: "POST", body: jpegStart }, 400, /\?class= is required/],
      ["/api/decompose?class=zebra", { method: "POST", body: jpegStart }, 400, /zebra/],
      ["/api/decompose?class=2", undefined, 405, /POST only/],
      ["/api/classes?page=x", undefined, 400, /\?page=x/],
      ["/api/jobs/999", undefined, 404, /no job 999/],
    ];
    for (const [path, init, status, message] of cases) {
      const r = await get(path, init);
      assert.equal(r.status, status, `${path}: ${JSON.stringify(r.body)}`);
      assert.match(String(r.body.error), message, path);
      assert.equal((await get("/api/classes")).status, 200, `after ${path}`);
    }
    // A body over the cap that does not declare its length is cut off at the cap as well.
    const chunks = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 8; i++) c.enqueue(new Uint8Array(UPLOAD_CAP / 4));
        c.close();
      },
    });
    const streamed = await get("/api/decompose?class=2", { method: "POST", body: chunks });
    assert.equal(streamed.status, 413);
    // Nothing was written outside <run>/explorer/ (and the inputs the test put there).
    const top = [...Deno.readDirSync(run)].map((e) => e.name).sort();
    assert.deepEqual(top, [
      "component-test",
      "concepts",
      "explorer",
      "figures",
      "hyperplanes",
      "inputs",
      "insert-test",
      "predictions",
      "shifting-test",
      "vectors",
    ]);
    await Deno.remove(join(run, "figures", "link.jpg"));
  },
});

/** A job's server-sent events until it ends, parsed. */
async function jobEvents(
  id: string,
): Promise<{ type: string; result?: Record<string, unknown>; error?: string }[]> {
  const r = await fetch(`${server.url}/api/jobs/${id}/events`);
  assert.equal(r.headers.get("content-type"), "text/event-stream");
  const text = await r.text();
  return text.split("\n\n").filter((b) => b.includes("data: ")).map((b) =>
    JSON.parse(b.slice(b.indexOf("data: ") + 6))
  );
}

Deno.test({
  name:
    "serve: why 6, not 7, the (6, 7) shifting curve and an upload's A-vs-B map run on the queue, land in the run folder",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const started = await get("/api/contrast?a=6&b=7", { method: "POST" });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const events = await jobEvents(String(started.body.id));
    const last = events.at(-1)!;
    assert.equal(last.type, "done", JSON.stringify(last));
    assert.ok(events.some((e) => e.type === "progress"), "progress was streamed");
    const result = last.result!;
    assert.equal(result.cached, false);
    // Written as deno task contrast --both writes it, under <run>/explorer/, with the pair trained there.
    const out = join(run, "explorer", "contrast", "6-not-7");
    const report = JSON.parse(await Deno.readTextFile(join(out, "contrast.json")));
    assert.equal(report.from, 6);
    assert.equal(report.reverse.from, 7);
    assert.ok((await Deno.stat(join(run, "explorer", "hyperplanes", "6-7", "hyperplanes.json"))).isFile);
    const figure = await fetch(server.url + String(result.figure));
    assert.equal(figure.headers.get("content-type"), "image/jpeg");
    assert.ok((await figure.bytes()).length > 5000);
    // Asked again: answered from the run folder.
    const again = await get("/api/contrast?a=6&b=7", { method: "POST" });
    assert.equal((await jobEvents(String(again.body.id))).at(-1)!.result!.cached, true);

    const shifting = await get("/api/shifting?a=6&b=7", { method: "POST" });
    const done = (await jobEvents(String(shifting.body.id))).at(-1)!;
    assert.equal(done.type, "done", JSON.stringify(done));
    const curve = done.result as { offsets: number[]; pair: { from: number; to: number; pTo: number[] } };
    assert.deepEqual([curve.pair.from, curve.pair.to], [6, 7]);
    assert.equal(curve.pair.pTo.length, curve.offsets.length);
    assert.ok(curve.pair.pTo.every((p) => p >= 0 && p <= 1));

    // A job cancelled while queued behind another never runs; the one before it still completes.
    const first = await get("/api/contrast?a=0&b=1", { method: "POST" });
    const second = await get("/api/contrast?a=1&b=0", { method: "POST" });
    const cancel = await get(`/api/jobs/${second.body.id}`, { method: "DELETE" });
    assert.equal(cancel.body.cancelled, true);
    assert.equal((await jobEvents(String(second.body.id))).at(-1)!.type, "cancelled");
    assert.equal((await jobEvents(String(first.body.id))).at(-1)!.type, "done");
    assert.ok(!(await exists(join(run, "explorer", "contrast", "1-not-0"))));
    // Three contrast and shifting jobs ran on one layer: the model was opened for the first and kept.
    assert.equal(splitOpens.length, 1, splitOpens.join("; "));
    // The run overview lists what the explorer computed (not the cancelled job), under the run folder's name.
    const overview = await get("/api/overview");
    assert.equal(overview.body.run, "run");
    const sections = overview.body.sections as { id: string; html: string }[];
    const computed = sections.find((x) => x.id === "explorer-outputs")?.html ?? "";
    assert.deepEqual([...computed.matchAll(/data-contrast="(\d+,\d+)"/g)].map((m) => m[1]), ["0,1", "6,7"]);
    assert.deepEqual([...computed.matchAll(/data-shifting="(\d+,\d+)"/g)].map((m) => m[1]), ["6,7"]);
    assert.ok(computed.includes(`src="${result.figure}"`), "the contrast's figure is shown");
    assert.ok(!computed.includes(work), "paths relative to the run folder");
    const refused = await get("/api/contrast?a=3&b=3", { method: "POST" });
    assert.equal(refused.status, 400);

    // Where the upload (an image of class 2) looks like 2 rather than 6: p(2) is the model's, as decompose has it.
    const bytes = await Deno.readFile(join(run, "inputs", "upload.jpg"));
    const where = await get("/api/where?a=2&b=6", { method: "POST", body: bytes });
    assert.equal(where.status, 200, JSON.stringify(where.body));
    const want = await cliDecomposition();
    assert.equal(want.top5[0].class, 2);
    assert.equal(where.body.pA, want.top5[0].probability);
    const share = where.body.aSideShare as number;
    assert.ok(share >= 0 && share <= 1);
    assert.deepEqual(where.body.grid, want.grid);
    const map = await fetch(server.url + String(where.body.figure));
    assert.equal(map.headers.get("content-type"), "image/jpeg");
    await map.body?.cancel();
    assert.equal((await get("/api/where?a=2&b=2", { method: "POST", body: bytes })).status, 400);
  },
});

Deno.test("serve: the job queue runs one job at a time, streams progress, and cancels at the next tick or signal check", async () => {
  const queue = new JobQueue();
  const order: string[] = [];
  const first = queue.submit("t", "first", async () => {
    order.push("first start");
    const p = createProgress("first", 3, "step", { write: () => {}, isTerminal: false });
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 5));
      p.tick();
    }
    order.push("first end");
    return 1;
  });
  const second = queue.submit("t", "second", async () => {
    order.push("second start");
    const p = createProgress("second", 1000, "step", { write: () => {}, isTerminal: false });
    for (let i = 0; i < 1000; i++) {
      await new Promise((r) => setTimeout(r, 2));
      if (i === 3) queue.cancel(second.id);
      p.tick();
    }
    order.push("second end");
  });
  const third = queue.submit("t", "third", () => Promise.resolve(3));
  assert.ok(queue.cancel(third.id));
  // A pass with no progress ticks (NMF iterations) hears the cancel through the job's signal.
  const silent = queue.submit("t", "silent", (job) => {
    order.push("silent start");
    setTimeout(() => queue.cancel(job.id), 5);
    return new Promise((_, reject) => job.signal.addEventListener("abort", () => reject(job.signal.reason)));
  });
  await Promise.all([first.finished, second.finished, third.finished, silent.finished]);
  assert.deepEqual(order, ["first start", "first end", "second start", "silent start"]);
  assert.equal(silent.status, "cancelled");
  assert.equal(first.status, "done");
  assert.equal(first.result, 1);
  // The first tick and the last are streamed; the one between falls within 100 ms of the first and is not.
  assert.deepEqual(
    first.events.filter((e) => e.type === "progress").map((e) => [e.label, e.done, e.total]),
    [["first", 1, 3], ["first", 3, 3]],
  );
  assert.equal(first.events.at(-1)!.type, "done");
  assert.equal(second.status, "cancelled");
  assert.equal(third.status, "cancelled");
  assert.ok(!queue.cancel(first.id), "an ended job cannot be cancelled");
});

Deno.test("serve: --data defaults to the dataset the predictions were made on, not another output's part of it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "serve_recorded_" });
  try {
    // Attribution is listed first and records one class's folder; the contrasts need the predictions' data.
    await Deno.mkdir(join(dir, "attribution"));
    await Deno.writeTextFile(
      join(dir, "attribution", "manifest.json"),
      JSON.stringify({
        task: "attribute",
        complete: true,
        model: { path: "m.onnx" },
        data: { path: "/d/class0" },
      }),
    );
    await Deno.mkdir(join(dir, "predictions"));
    await Deno.writeTextFile(
      join(dir, "predictions", "predictions.json"),
      JSON.stringify({ manifest: { task: "predict", model: { path: "m.onnx" }, data: { path: "/d" } } }),
    );
    const explorer = await Explorer.open(dir, { run: dir });
    assert.equal(explorer.data, "/d");
    assert.equal(explorer.model, "m.onnx");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve: only loopback hosts count as private (any other --host gets the warning)", () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "::1"]) assert.ok(isLoopback(h), h);
  for (const h of ["0.0.0.0", "::", "192.168.1.5", "example.org"]) assert.ok(!isLoopback(h), h);
});

const chromium = findChromium();
Deno.test({
  name: chromium
    ? "serve in headless Chromium: no console messages, a class page with its prototypes, a contrast with its figure, an upload's decomposition"
    : "serve in headless Chromium (skipped: no chromium on PATH; `apt-get install chromium` or set PROTOSCOPE_CHROMIUM)",
  ignore: !chromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const budget = { virtualTimeBudgetMs: 60000 };
    const [classPage, decomposed, contrast] = await Promise.all([
      runChromium(chromium!, `${server.url}/#class=2`, budget),
      runChromium(chromium!, `${server.url}/#decompose=inputs/upload.jpg&class=2&b=6`, budget),
      runChromium(chromium!, `${server.url}/#contrast=7,6`, budget),
    ]);
    const pages = [[classPage, "class page"], [decomposed, "decomposition"], [contrast, "contrast"]] as const;
    for (const [page, what] of pages) {
      assert.deepEqual(page.console, [], `${what}: console messages`);
      assert.match(page.dom, /<body[^>]*data-ready="1"/, `${what}: the page script did not finish`);
      assert.match(page.dom, /<body[^>]*data-idle="1"/, `${what}: requests still pending at the dump`);
    }
    const section = classPage.dom.slice(classPage.dom.indexOf('id="class-page"'));
    assert.match(section, /<h3>class 2 class_2<\/h3>/);
    assert.match(section, /4 prototypes/);
    assert.match(section, /<img alt="prototype grid" src="\/files\/figures\/2_class_2\.jpg">/);

    const want = await cliDecomposition();
    const shares = [
      ...decomposed.dom.matchAll(/<tr data-prototype="(\d+)"><td>\d+<\/td><td class="share">([\d.]+)</g),
    ]
      .map((m) => [Number(m[1]), m[2]]);
    assert.deepEqual(shares, want.prototypes.map((p) => [p.prototype, p.share.toFixed(4)]));
    assert.match(decomposed.dom, new RegExp(`<td class="share">${want.top5[0].probability.toFixed(4)}</td>`));
    assert.match(
      decomposed.dom,
      new RegExp(`<td class="share">${want.reconstruction.relative.toFixed(4)}</td>`),
    );
    // The contrast completed in the page and shows its figure, written where deno task contrast writes it.
    assert.match(contrast.dom, /<span id="job-state">done in [\d.]+ s<\/span>/);
    assert.match(
      contrast.dom,
      /<img id="job-figure" alt="contrast figure" src="\/files\/explorer\/contrast\/7-not-6\/why_7_\w*not_6_\w*\.jpg">/,
    );
    // And the map of where the upload looks like 2 rather than 6.
    assert.match(
      decomposed.dom,
      /<img id="where-figure" alt="where A rather than B" src="\/files\/explorer\/where\/\w+-2-6\/figure\.jpg">/,
    );
    // Each prototype's overlay is an image the page shows.
    assert.equal([...decomposed.dom.matchAll(/<img alt="prototype \d"/g)].length, want.prototypes.length);
  },
});

Deno.test({
  name: "serve: shut down",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await server.shutdown();
  },
});
