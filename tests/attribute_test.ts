// The attribution pipeline (noisy inputs, trunk, generated backward graph, maps) on the planted fixture.
import assert from "node:assert/strict";
import { ensureFixture } from "../fixtures/ensure.ts";
import { CLASSES, motifById } from "../fixtures/spec.ts";
import { buildResNet } from "../fixtures/resnet50.ts";
import type { FixtureTruth } from "../fixtures/fixture_images.ts";
import { readModel, sha256File } from "../src/onnx/model.ts";
import { Attributor } from "../src/pipeline/attribute/attributor.ts";
import { Classifier } from "../src/model/classifier.ts";
import { openDataset } from "../src/data/dataset.ts";
import { TEST_EPS } from "./_helpers/eps.ts";
import { relativeError } from "./_helpers/numeric.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };
const fixture = await ensureFixture();
const model = await readModel(fixture.modelPath);
const identity = { path: fixture.modelPath, sha256: await sha256File(fixture.modelPath) };
const truth = JSON.parse(await Deno.readTextFile(fixture.truthPath)) as FixtureTruth;

/** Grid-aligned images of the ImageFolder copy, with their planted cells on the 7x7 grid. */
async function alignedImages(count: number) {
  const dataset = await openDataset(fixture.imageFolder);
  const picked: {
    index: number;
    classIndex: number;
    cells: { motif: string; row: number; col: number }[];
  }[] = [];
  dataset.entries.forEach((e, index) => {
    const t = truth.images.find((im) => e.path.endsWith(im.imageFolderPath));
    if (t?.inputCells && t.gridAlignedAt224 && picked.length < count && index % 7 === 0) {
      picked.push({ index, classIndex: t.classIndex, cells: t.inputCells });
    }
  });
  const pixels = new Uint8Array(picked.length * 224 * 224 * 3);
  for (let i = 0; i < picked.length; i++) {
    const b = await dataset.readBatch(picked[i].index, 1);
    pixels.set(b.images, i * 224 * 224 * 3);
  }
  dataset.close();
  return { picked, pixels };
}

/** Mean of a 14x14 map over the 2x2 block of a 7x7 grid cell. */
function cellMean(map: Float32Array, row: number, col: number): number {
  let s = 0;
  for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) s += map[(row * 2 + dy) * 14 + col * 2 + dx];
  return s / 4;
}

for (const method of ["deeplift", "gradxact"] as const) {
  Deno.test(
    `${method} maps (noise tunnel) light up the class's planted motifs and not the distractor`,
    ORT_TEST,
    async () => {
      const { picked, pixels } = await alignedImages(6);
      const att = await Attributor.open(model, identity, "layer3", {
        method,
        samples: 4,
        sigma: 0.25,
        seed: 1,
      }, {
        ep: "wasm",
      });
      const { maps } = await att.attribute(pixels, picked.length, picked.map((p) => p.classIndex), 0);
      await att.release();
      let checkedDistractor = 0;
      picked.forEach((p, i) => {
        const map = maps.subarray(i * 196, (i + 1) * 196);
        const max = map.reduce((a, b) => Math.max(a, b), 0);
        assert.ok(max > 0, `image ${p.index}: empty map`);
        const own = new Set(CLASSES[p.classIndex].motifs);
        for (const cell of p.cells) {
          const v = cellMean(map, cell.row, cell.col);
          if (own.has(cell.motif)) {
            assert.ok(
              v >= 0.5 * max,
              `image ${p.index}: own motif ${cell.motif} at ${cell.row},${cell.col} reads ${v}`,
            );
          } else {
            if (motifById(cell.motif).role === "distractor") checkedDistractor++;
            assert.ok(
              v <= 0.05 * max,
              `image ${p.index}: ${cell.motif} at ${cell.row},${cell.col} reads ${v} of ${max}`,
            );
          }
        }
      });
      assert.ok(checkedDistractor > 0, "the sample holds no distractor cell");
    },
  );
}

Deno.test(
  "DeepLift without noise: attributions sum to logit(x) - logit(baseline) for the target",
  ORT_TEST,
  async () => {
    const { picked, pixels } = await alignedImages(3);
    const targets = picked.map((p) => (p.classIndex + 1) % CLASSES.length);
    const att = await Attributor.open(model, identity, "layer3", {
      method: "deeplift",
      samples: 1,
      sigma: 0,
      seed: 0,
    }, {
      ep: "wasm",
      saveRaw: true,
    });
    const { attributions } = await att.attribute(pixels, picked.length, targets, 0);
    await att.release();
    const full = await Classifier.fromModel(model, identity.path, identity.sha256, { ep: "wasm" });
    const logits = (await full.forward(pixels, picked.length)).logits!;
    const ones = new Float32Array(3 * 224 * 224).fill(1);
    const base = (await full.forwardNormalized({ data: ones, dims: [1, 3, 224, 224] })).logits!;
    await full.release();
    const k = CLASSES.length, per = attributions!.length / picked.length;
    for (let i = 0; i < picked.length; i++) {
      let sum = 0;
      for (let j = 0; j < per; j++) sum += attributions![i * per + j];
      const delta = logits[i * k + targets[i]] - base[targets[i]];
      assert.ok(
        Math.abs(sum - delta) <= 1e-3 * Math.max(1, Math.abs(delta)),
        `image ${i}: sum ${sum} vs delta ${delta}`,
      );
    }
  },
);

Deno.test(
  "noise is seeded per image: batching does not change the maps, another seed does",
  ORT_TEST,
  async () => {
    // The fixture's maps are flat under noise by construction; a random ResNet's are not.
    const resnet = buildResNet([1, 1, 1, 1], { naming: "legacy", baseWidth: 8, numClasses: 10 });
    const id = { path: "resnet-small", sha256: "resnet-small" };
    const { pixels } = await alignedImages(3);
    const targets = [1, 4, 7];
    const settings = { method: "deeplift" as const, samples: 3, sigma: 0.5, seed: 5 };
    const att = await Attributor.open(resnet, id, "layer3", settings, { ep: "wasm" });
    const together = (await att.attribute(pixels, 3, targets, 0)).maps;
    const per = together.length / 3;
    const oneByOne = new Float32Array(together.length);
    for (let i = 0; i < 3; i++) {
      const m = await att.attribute(pixels.subarray(i * 224 * 224 * 3), 1, [targets[i]], i);
      oneByOne.set(m.maps, i * per);
    }
    await att.release();
    assert.ok(relativeError(oneByOne, together) < 1e-5);
    const other = await Attributor.open(resnet, id, "layer3", { ...settings, seed: 6 }, { ep: "wasm" });
    const reseeded = (await other.attribute(pixels, 3, targets, 0)).maps;
    await other.release();
    assert.ok(relativeError(reseeded, together) > 1e-3, "a different seed gave the same noise");
  },
);

for (const { ep, ignore } of TEST_EPS.filter((e) => e.ep !== "wasm")) {
  Deno.test({
    name: `${ep === "webgpu" ? "webgpu (GPU-resident trunk -> backward)" : ep} and wasm give the same maps`,
    ignore,
    ...ORT_TEST,
    fn: async () => {
      const { picked, pixels } = await alignedImages(2);
      const targets = picked.map((p) => p.classIndex);
      const settings = { method: "deeplift" as const, samples: 2, sigma: 0.25, seed: 2 };
      const maps: Float32Array[] = [];
      for (const run of ["wasm", ep] as const) {
        const att = await Attributor.open(model, identity, "layer3", settings, { ep: run });
        assert.equal(att.trunk.ep, run);
        maps.push((await att.attribute(pixels, 2, targets, 0)).maps);
        await att.release();
      }
      assert.ok(relativeError(maps[1], maps[0]) < 1e-3, `relative error ${relativeError(maps[1], maps[0])}`);
    },
  });
}
