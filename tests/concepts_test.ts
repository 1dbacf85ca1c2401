// Per-class concepts on the planted fixture: prototypes must align with the class's motif channels.
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureFixture } from "../fixtures/ensure.ts";
import { CLASSES, MOTIF_CHANNELS, motifById } from "../fixtures/spec.ts";
import { computeConcepts, weightedRows } from "../src/pipeline/concepts/concepts.ts";
import { predictDataset } from "../src/pipeline/predict/predict.ts";
import { readNpy } from "../src/io/npy.ts";
import { noGpu } from "./_helpers/gpu.ts";

const ORT_TEST = { sanitizeResources: false, sanitizeOps: false };
const fixture = await ensureFixture();
const work = await Deno.makeTempDir();
const predictions = join(work, "predictions");
await predictDataset({ model: fixture.modelPath, data: fixture.imageFolder, out: predictions, ep: "wasm" });

/** Channel of a motif at the layer3 tap (layer3.1's output). */
function channelOf(motif: string): number {
  return MOTIF_CHANNELS["layer3.1"][motifById(motif).slot];
}

const base = {
  model: fixture.modelPath,
  data: fixture.imageFolder,
  layer: "layer3",
  method: "deeplift" as const,
  samples: 2,
  sigma: 0.25,
  seed: 0,
  maxImages: 6,
  predictions,
  ep: "wasm" as const,
};

// The fixture's generic channels respond weakly to every motif cell, so a motif prototype is its channel plus
// that generic part: cosines of 0.94-0.99 with the bare channel, at k = 2 (the motifs per class) and k = 6.
for (const { k, minCosine } of [{ k: 2, minCosine: 0.9 }, { k: 6, minCosine: 0.9 }]) {
  Deno.test(
    `k = ${k}: prototypes align with the class's planted motif channels (cosine >= ${minCosine})`,
    ORT_TEST,
    async () => {
      const out = join(work, `concepts-k${k}`);
      const summary = await computeConcepts({ ...base, out, k });
      assert.equal(summary.classes.length, CLASSES.length);
      for (const cls of CLASSES) {
        const entry = summary.classes[cls.index];
        assert.equal(entry.status, "done");
        assert.equal(entry.images, 6);
        const basis = await readNpy(join(out, String(cls.index), "basis.npy"));
        assert.deepEqual(basis.shape, [k, summary.channels]);
        const h = basis.data as Float32Array;
        const c = summary.channels;
        const bestCosine = (channel: number) => {
          let best = 0;
          for (let r = 0; r < k; r++) {
            const row = h.subarray(r * c, (r + 1) * c);
            const norm = Math.hypot(...row);
            if (norm > 0) best = Math.max(best, row[channel] / norm);
          }
          return best;
        };
        for (const m of cls.motifs) {
          const cos = bestCosine(channelOf(m));
          assert.ok(cos >= minCosine, `class ${cls.name}: best prototype cosine with motif ${m} is ${cos}`);
        }
        // Motifs of other classes carry no attribution for this class, so no prototype points at them.
        for (const other of CLASSES.flatMap((o) => o.motifs)) {
          if (cls.motifs.includes(other)) continue;
          const cos = bestCosine(channelOf(other));
          assert.ok(cos <= 0.1, `class ${cls.name}: a prototype points at foreign motif ${other} (${cos})`);
        }
      }
    },
  );
}

Deno.test(
  "concepts resume: finished classes are kept, missing ones recomputed; empty classes are reported",
  ORT_TEST,
  async () => {
    const out = join(work, "resume");
    const first = await computeConcepts({ ...base, out, classes: "0,1" });
    assert.deepEqual(first.classes.map((c) => c.status), ["done", "done"]);
    const keptStat = await Deno.stat(join(out, "0", "basis.npy"));
    await Deno.remove(join(out, "1"), { recursive: true });
    const second = await computeConcepts({ ...base, out, classes: "0,1" });
    assert.deepEqual(second.classes.map((c) => c.status), ["done", "done"]);
    assert.equal((await Deno.stat(join(out, "0", "basis.npy"))).mtime?.getTime(), keptStat.mtime?.getTime());
    assert.ok(await Deno.stat(join(out, "1", "basis.npy")));
    // Only class-0 images: classes 0 and 3 as requested, 3 has no predicted image.
    const only0 = join(fixture.imageFolder, CLASSES[0].name);
    const pred0 = join(work, "pred0");
    await predictDataset({ model: fixture.modelPath, data: only0, out: pred0, ep: "wasm" });
    const third = await computeConcepts({
      ...base,
      data: only0,
      predictions: pred0,
      out: join(work, "c0"),
      classes: "0,3",
    });
    assert.deepEqual(third.classes.map((c) => c.status), ["done", "no-images"]);
  },
);

Deno.test("the NMF input: each row is an activation vector scaled by the map at its position", () => {
  // 1 image, 2 channels, 2 positions.
  const act = Float32Array.from([1, 2, 3, 4]); // channel 0: [1, 2], channel 1: [3, 4]
  const maps = Float32Array.from([0.5, 2]);
  assert.deepEqual([...weightedRows(act, maps, 1, 2, 2)], [0.5, 1.5, 4, 8]);
});

Deno.test({
  name: "concepts with NMF on the GPU (WGSL) match the CPU reference's prototypes",
  ignore: noGpu,
  ...ORT_TEST,
  fn: async () => {
    const bases: Float32Array[] = [];
    for (const nmfDevice of ["cpu", "gpu"] as const) {
      const out = join(work, `nmf-${nmfDevice}`);
      await computeConcepts({ ...base, out, classes: "0,6", nmfDevice });
      for (const c of [0, 6]) {
        bases.push((await readNpy(join(out, String(c), "basis.npy"))).data as Float32Array);
      }
    }
    for (let i = 0; i < 2; i++) {
      const [cpu, gpu] = [bases[i], bases[i + 2]];
      let worst = 0, scale = 0;
      for (let j = 0; j < cpu.length; j++) {
        worst = Math.max(worst, Math.abs(cpu[j] - gpu[j]));
        scale = Math.max(scale, Math.abs(cpu[j]));
      }
      assert.ok(
        worst <= 1e-3 * scale,
        `class ${[0, 6][i]}: GPU basis differs from the CPU's by ${worst / scale}`,
      );
    }
  },
});
