// The written fixture dataset: both layouts hold the same images, labels and truth.json agree with the
// plans, the files decode to the rendered pixels (PNG exactly, JPEG q95 closely), the model still gets
// every decoded JPEG right, and ensureFixture regenerates only when its stamp is stale.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Image } from "imagescript";
import * as ort from "onnxruntime-web/webgpu";
import { ensureFixture } from "../fixtures/ensure.ts";
import {
  encodeImage,
  type FixtureTruth,
  normalizeRgb,
  planFixtureImage,
  plantedBoxesInInput,
  type RenderedImage,
  renderFixtureImage,
} from "../fixtures/fixture_images.ts";
import { argmax, CLASSES, expectedLogits, GRID, MOTIFS } from "../fixtures/spec.ts";

ort.env.wasm.numThreads = 1;
const opts = { sanitizeResources: false, sanitizeOps: false };

async function decode(path: string): Promise<RenderedImage> {
  const img = await Image.decode(await Deno.readFile(path));
  const n = img.width * img.height;
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = img.bitmap[i * 4 + c];
  return { width: img.width, height: img.height, rgb };
}

const dir = await Deno.makeTempDir({ prefix: "protoscope-fixture-" });

Deno.test(
  "ensureFixture writes both layouts, labels, classes.json and truth.json that agree",
  opts,
  async () => {
    const paths = await ensureFixture(dir);
    assert.deepEqual(paths.classNames, CLASSES.map((c) => c.name));
    const truth: FixtureTruth = JSON.parse(await Deno.readTextFile(paths.truthPath));
    assert.equal(truth.images.length, CLASSES.length * 30);

    const classes = JSON.parse(await Deno.readTextFile(paths.classesPath));
    assert.deepEqual(classes["7"], [CLASSES[7].token, CLASSES[7].name]);
    // ImageFolder sorts class folders by name: the order must be the class index order.
    const folders = [];
    for await (const e of Deno.readDir(paths.imageFolder)) folders.push(e.name);
    assert.deepEqual(folders.sort(), CLASSES.map((c) => c.name));

    const csv = (await Deno.readTextFile(paths.labelsCsv)).trim().split("\n");
    assert.equal(csv[0], "ImageId,PredictionString");
    const labels = new Map(csv.slice(1).map((l) => [l.split(",")[0], l.split(",")[1].split(" ")[0]]));
    assert.equal(labels.size, truth.images.length);
    const valFiles = [];
    for await (const e of Deno.readDir(paths.valFolder)) if (e.name.endsWith(".JPEG")) valFiles.push(e.name);
    assert.equal(valFiles.length, truth.images.length);

    const formats = new Set<string>(), layouts = new Set<string>();
    for (const im of truth.images) {
      const valId = im.valPath.slice("val/".length, -".JPEG".length);
      assert.equal(labels.get(valId), CLASSES[im.classIndex].token, im.valPath);
      const a = await Deno.readFile(join(dir, im.imageFolderPath)),
        b = await Deno.readFile(join(dir, im.valPath));
      assert.equal(a[0] === 0x89 ? "png" : "jpeg", im.format);
      assert.deepEqual([b[0], b[1]], [0xff, 0xd8], `${im.valPath} is not a JPEG`);
      if (im.format === "jpeg") assert.deepEqual(a, b, `${im.imageFolderPath} and ${im.valPath} differ`);
      formats.add(im.format), layouts.add(im.layout);
      // truth.json carries the cells the planner placed, and the 7x7 input cells when the grid aligns.
      const plan = planFixtureImage(im.classIndex, im.indexInClass, truth);
      assert.deepEqual(im.cells, plan.cells);
      assert.equal(im.gridAlignedAt224, im.layout !== "odd");
      if (im.inputCells) {
        for (const c of im.inputCells) assert.ok(c.row >= 0 && c.row < GRID && c.col >= 0 && c.col < GRID);
        assert.equal(im.inputCells.length, im.cells.length);
      }
    }
    assert.deepEqual([...formats].sort(), ["jpeg", "png"]);
    assert.deepEqual([...layouts].sort(), ["large", "odd", "square", "wide"]);
    // Every class motif and the distractor are planted somewhere.
    const planted = new Set(truth.images.flatMap((im) => im.cells.map((c) => c.motif)));
    assert.deepEqual([...planted].sort(), MOTIFS.map((m) => m.id).sort());
  },
);

Deno.test(
  "fixture files decode to the rendered pixels; the model gets the decoded val JPEGs right",
  opts,
  async () => {
    const paths = await ensureFixture(dir);
    const truth: FixtureTruth = JSON.parse(await Deno.readTextFile(paths.truthPath));
    const session = await ort.InferenceSession.create(await Deno.readFile(paths.modelPath), {
      executionProviders: ["wasm"],
    });
    let worstJpeg = 0, worstLogit = 0;
    // Images whose ImageFolder file is a JPEG, and every fourth other one (a PNG there, a JPEG in val/).
    for (const im of truth.images.filter((im) => im.format === "jpeg" || im.id % 4 === 0)) {
      const rendered = renderFixtureImage(planFixtureImage(im.classIndex, im.indexInClass, truth));
      if (im.format === "png") {
        assert.deepEqual((await decode(join(dir, im.imageFolderPath))).rgb, rendered.rgb, im.imageFolderPath);
      }
      const decoded = await decode(join(dir, im.valPath));
      assert.equal(decoded.width, im.width);
      assert.equal(decoded.height, im.height);
      let err = 0;
      for (let i = 0; i < rendered.rgb.length; i++) err += Math.abs(decoded.rgb[i] - rendered.rgb[i]);
      worstJpeg = Math.max(worstJpeg, err / rendered.rgb.length);
      const out = await session.run({
        input: new ort.Tensor("float32", normalizeRgb(decoded), [1, 3, decoded.height, decoded.width]),
      });
      const logits = out.output.data as Float32Array;
      assert.equal(argmax(logits), im.classIndex, im.valPath);
      const want = expectedLogits(im.cellCounts, im.height, im.width);
      worstLogit = Math.max(worstLogit, ...want.map((v, k) => Math.abs(v - logits[k])));
    }
    assert.ok(worstJpeg < 4, `JPEG mean abs error ${worstJpeg} levels`);
    assert.ok(worstLogit < 0.01, `decoded JPEG logits off by ${worstLogit}`);
  },
);

Deno.test("ensureFixture skips a current stamp and regenerates a stale one", opts, async () => {
  const paths = await ensureFixture(dir);
  const before = (await Deno.stat(paths.modelPath)).mtime?.getTime();
  const t0 = performance.now();
  await ensureFixture(dir);
  assert.ok(performance.now() - t0 < 1000, "a current fixture must not be regenerated");
  assert.equal((await Deno.stat(paths.modelPath)).mtime?.getTime(), before);
  // A stale stamp (older generator version) triggers regeneration with a smaller dataset.
  const stamp = JSON.parse(await Deno.readTextFile(join(dir, "stamp.json")));
  await Deno.writeTextFile(join(dir, "stamp.json"), JSON.stringify({ ...stamp, version: -1 }));
  await ensureFixture(dir, { perClass: 3 });
  const truth: FixtureTruth = JSON.parse(await Deno.readTextFile(paths.truthPath));
  assert.equal(truth.images.length, CLASSES.length * 3);
  let files = 0;
  for await (const _ of Deno.readDir(join(paths.imageFolder, CLASSES[0].name))) files++;
  assert.equal(files, 3, "old images must not linger after regeneration");
});

Deno.test("encoding is byte-for-byte repeatable; planted boxes map through Resize+CenterCrop", async () => {
  const plan = planFixtureImage(3, 2); // a JPEG
  const png = planFixtureImage(3, 0);
  assert.equal(plan.format, "jpeg");
  assert.deepEqual(
    await encodeImage(renderFixtureImage(plan), "jpeg"),
    await encodeImage(renderFixtureImage(plan), "jpeg"),
  );
  assert.deepEqual(
    await encodeImage(renderFixtureImage(png), "png"),
    await encodeImage(renderFixtureImage(png), "png"),
  );
  // 448x448 with 64 px cells: Resize(224) halves; Resize(256)+CenterCrop(224) scales by 4/7 and shifts by 16.
  const large = planFixtureImage(0, 27);
  assert.equal(large.layout, "large");
  const [c0] = large.cells;
  assert.deepEqual(plantedBoxesInInput(large)[0], {
    ...pick(c0),
    x: c0.x / 2,
    y: c0.y / 2,
    width: 32,
    height: 32,
  });
  const b = plantedBoxesInInput(large, { resize: 256, crop: 224 })[0];
  assert.ok(Math.abs(b.x - (c0.x * 256) / 448 + 16) < 1e-9 && Math.abs(b.width - (64 * 256) / 448) < 1e-9);
});

function pick(c: { motif: string; slot: number }) {
  return { motif: c.motif, slot: c.slot };
}

globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* already gone */ }
});
