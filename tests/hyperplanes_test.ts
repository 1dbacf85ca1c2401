// The class-pair hyperplanes: the WGSL trainer and the CPU's batched GEMMs against the CPU twin, --init zeros' exact antisymmetry, a planted
// direction the normal must find, seeded starts, the reference's .pt rows, resuming, and bad inputs that must
// fail before any training.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  CpuPairSolver,
  GpuPairSolver,
  type PairSolver,
  type PairTrainingInput,
} from "../kernels/hyperplane/pair_trainer.ts";
import { EPOCHS_PER_GRAPH, NativePairSolver } from "../kernels/hyperplane/native_trainer.ts";
import { trainPairCpu } from "../kernels/hyperplane/reference.ts";
import {
  type HyperplaneTraining,
  initialWeights,
  REFERENCE_TRAINING,
} from "../kernels/hyperplane/settings.ts";
import { trainHyperplanes } from "../src/pipeline/contrast/hyperplanes/hyperplanes.ts";
import { main as hyperplanesMain } from "../tasks/hyperplanes.ts";
import { readHyperplanes, writeHyperplaneRow } from "../src/pipeline/contrast/hyperplanes/hyperplanes_io.ts";
import { readContrastVectors, writeClassVectors } from "../src/pipeline/contrast/vectors/vectors_io.ts";
import { acquireGpu } from "../src/runtime/gpu.ts";
import { loadNativeCpu } from "../src/runtime/native_cpu.ts";
import { countGpuWork } from "../src/bench/gpu_work_counter.ts";
import { seededRandom } from "../src/runtime/random.ts";
import { contiguousTensorPickle, torchZip } from "./_helpers/torch_pt_files.ts";

const gpu = await acquireGpu();
const native = await loadNativeCpu();
const quiet = { log: () => {} };
Deno.env.set("PROTOSCOPE_QUIET", "1");

/** Classes 0, 1, 2, 4, 5 (3 has no rows): uneven row counts, class c's rows lifted on channel c. */
function makeInput(channels: number, seed = 5): PairTrainingInput {
  const rnd = seededRandom(seed);
  const classes = [0, 1, 2, 4, 5];
  const rows = new Map<number, Float32Array>();
  for (const c of classes) {
    const x = new Float32Array((23 + 9 * c) * channels);
    for (let i = 0; i < x.length; i++) x[i] = rnd() + (i % channels === c ? 1 : 0);
    rows.set(c, x);
  }
  return { channels, classes, rows };
}

async function writeVectors(dir: string, input: PairTrainingInput): Promise<void> {
  for (const c of input.classes) await writeClassVectors(dir, c, input.rows.get(c)!, input.channels);
}

const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let ab = 0, aa = 0, bb = 0;
  for (let k = 0; k < a.length; k++) [ab, aa, bb] = [ab + a[k] * b[k], aa + a[k] ** 2, bb + b[k] ** 2];
  return ab / Math.sqrt(aa * bb);
};

/**
 * Trains every tile of `solver` (blocks of 2 classes: tiles of unequal blocks, diagonal tiles and row
 * padding) and the same tiles with the CPU twin; returns the worst relative difference of the normals and
 * biases. Accuracies must be equal.
 */
async function worstAgainstTwin(
  solver: PairSolver,
  input: PairTrainingInput,
  training: HyperplaneTraining,
): Promise<number> {
  const c = new CpuPairSolver(input, training, 2);
  assert.deepEqual(solver.blocks, [[0, 1], [2, 4], [5]]);
  let worst = 0, pairs = 0;
  for (let a = 0; a < solver.blocks.length; a++) {
    const all = solver.blocks.map((_, b) => b);
    const [gt, ct] = [await solver.trainTiles(a, all), await c.trainTiles(a, all)];
    for (const [t, tile] of gt.entries()) {
      tile.a.forEach((i, ia) =>
        tile.b.forEach((j, ib) => {
          if (i === j) return;
          const p = ia * tile.b.length + ib;
          const C = input.channels;
          let diff = 0, norm = 0;
          for (let k = 0; k < C; k++) {
            diff = Math.max(diff, Math.abs(tile.normals[p * C + k] - ct[t].normals[p * C + k]));
            norm = Math.max(norm, Math.abs(ct[t].normals[p * C + k]));
          }
          worst = Math.max(worst, diff / norm, Math.abs(tile.bias[p] - ct[t].bias[p]) / norm);
          assert.equal(tile.accuracy[p], ct[t].accuracy[p], `accuracy of (${i}, ${j})`);
          pairs++;
        })
      );
    }
  }
  solver.destroy();
  assert.equal(pairs, 20);
  return worst;
}

Deno.test({
  name: "hyperplanes: the GPU tiles agree with the CPU twin (normals rel <= 1e-4, same accuracies)",
  ignore: !gpu,
  async fn() {
    const input = makeInput(37);
    const training: HyperplaneTraining = { ...REFERENCE_TRAINING, seed: 11 };
    const g = GpuPairSolver.create(gpu!, input, training, { maxClasses: 2 });
    const worst = await worstAgainstTwin(g, input, training);
    assert.ok(worst <= 1e-4, `normals differ by ${worst} (relative)`);
  },
});

Deno.test({
  name: "hyperplanes: a tile makes its bind groups once, not per epoch",
  ignore: !gpu,
  async fn() {
    const input = makeInput(5);
    const bindGroups = async (epochs: number) => {
      const g = GpuPairSolver.create(gpu!, input, { ...REFERENCE_TRAINING, epochs }, { maxClasses: 8 });
      const { work } = await countGpuWork(() => g.trainTiles(0, [0]));
      g.destroy();
      return work.bindGroups;
    };
    const [few, many] = [await bindGroups(2), await bindGroups(12)];
    // Per tile: init, accuracy, and the logits (2 per side) and gradient (1 per side) bind groups.
    assert.equal(few, 8);
    assert.equal(many, few);
  },
});

Deno.test({
  name:
    "hyperplanes: the CPU's batched GEMMs (onnxruntime-node) agree with the CPU twin (rel <= 1e-4, same accuracies)",
  ignore: !native.ort,
  async fn() {
    const input = makeInput(37);
    const training: HyperplaneTraining = { ...REFERENCE_TRAINING, seed: 11 };
    const solver = new NativePairSolver(native.ort!, "native", input, training, { maxClasses: 2 });
    const worst = await worstAgainstTwin(solver, input, training);
    assert.ok(worst <= 1e-4, `normals differ by ${worst} (relative)`);
    // Beyond one graph's epochs: graphs of 100 and 30 epochs in a row.
    const longer = { ...training, epochs: EPOCHS_PER_GRAPH + 30 };
    const chained = new NativePairSolver(native.ort!, "native", input, longer, { maxClasses: 2 });
    const worstChained = await worstAgainstTwin(chained, input, longer);
    assert.ok(worstChained <= 1e-4, `${longer.epochs} epochs: normals differ by ${worstChained} (relative)`);
    // Blocks count every class padded to the block's largest (23, 32, 41, 59, 68 rows of 38 floats).
    const bytes = (classes: number, rows: number) => classes * rows * 38 * 4;
    const limited = new NativePairSolver(native.ort!, "native", input, training, { maxBytes: bytes(3, 41) });
    assert.deepEqual(limited.blocks, [[0, 1, 2], [4], [5]]);
  },
});

Deno.test("hyperplanes: --cpu trains with onnxruntime-node, or says it falls back to the CPU twin", async () => {
  const dir = await Deno.makeTempDir();
  const input = makeInput(8, 3);
  await writeVectors(join(dir, "V"), input);
  const lines: string[] = [];
  const job = {
    vectors: join(dir, "V"),
    training: { ...REFERENCE_TRAINING, epochs: 30 },
    solver: "cpu" as const,
    log: (line: string) => lines.push(line),
  };
  const fast = await trainHyperplanes({ ...job, out: join(dir, "native") });
  Deno.env.set("PROTOSCOPE_NO_NATIVE", "1");
  const twin = await trainHyperplanes({ ...job, out: join(dir, "twin") }).finally(() =>
    Deno.env.delete("PROTOSCOPE_NO_NATIVE")
  );
  assert.match(twin.device, /CPU twin/);
  assert.match(lines.join("\n"), /PROTOSCOPE_NO_NATIVE=1: training on the CPU twin/);
  const manifest = JSON.parse(await Deno.readTextFile(join(dir, "twin", "manifest.json")));
  assert.match(JSON.stringify(manifest), /CPU twin/);
  if (!native.ort) return;
  assert.match(fast.device, /onnxruntime-node .* CPU \(batched GEMMs\)/);
  const [a, b] = await Promise.all(
    ["native", "twin"].map((o) => readHyperplanes(join(dir, o), { expectChannels: 8 })),
  );
  for (const i of input.classes) {
    for (const j of input.classes) {
      if (i === j) continue;
      assert.ok(cosine(a.normal(i, j), b.normal(i, j)) > 0.999999, `normal (${i}, ${j})`);
      assert.equal(a.accuracy(i, j), b.accuracy(i, j));
    }
  }
});

Deno.test("hyperplanes task: --twin trains with the CPU twin; --cpu, --gpu and --twin exclude each other", async () => {
  const dir = await Deno.makeTempDir();
  await writeVectors(join(dir, "V"), makeInput(6, 2));
  const args = ["--vectors", join(dir, "V"), "--out", join(dir, "H"), "--epochs", "5"];
  await assert.rejects(
    () => hyperplanesMain([...args, "--cpu", "--twin"]),
    /--cpu, --gpu and --twin exclude/,
  );
  const log = console.log;
  console.log = () => {};
  await hyperplanesMain([...args, "--twin"]).finally(() => (console.log = log));
  const manifest = await Deno.readTextFile(join(dir, "H", "manifest.json"));
  assert.match(manifest, /CPU twin/);
});

Deno.test("hyperplanes: --init zeros gives (j, i) = -(i, j) exactly; torch init is seeded", async () => {
  const dir = await Deno.makeTempDir();
  const input = makeInput(16);
  await writeVectors(join(dir, "V"), input);
  await writeClassVectors(join(dir, "V"), 3, new Float32Array(0), 16);
  const zeros = { ...REFERENCE_TRAINING, init: "zeros" as const };
  const summary = await trainHyperplanes({
    vectors: join(dir, "V"),
    out: join(dir, "H"),
    training: zeros,
    limits: { maxClasses: 2 },
    solver: gpu ? "gpu" : "cpu",
    ...quiet,
  });
  assert.deepEqual(summary.pairs, { trained: 10, derived: 10, skipped: 10 });
  assert.deepEqual(summary.emptyClasses, [3]);
  const h = await readHyperplanes(join(dir, "H"), { expectChannels: 16 });
  assert.equal(h.numClasses, 6);
  for (const i of input.classes) {
    for (const j of input.classes) {
      if (i === j) continue;
      assert.deepEqual(h.normal(j, i), h.normal(i, j).map((v) => -v), `normal (${j}, ${i})`);
      assert.equal(h.bias(j, i), -h.bias(i, j));
      assert.equal(h.accuracy(j, i), h.accuracy(i, j));
      // The twin trains (j, i) itself: negation is what training from zero gives, up to rounding.
      const twin = trainPairCpu(input.rows.get(j)!, input.rows.get(i)!, 16, j, i, zeros);
      assert.ok(cosine(twin.normal, h.normal(j, i)) > 0.99999);
    }
    // The empty class's pairs are the reference's dummies.
    assert.ok(h.normal(i, 3).every((v) => v === 0) && h.accuracy(i, 3) === 0);
  }
  assert.ok(h.normal(3, 0).every((v) => v === 0));

  const x = input.rows.get(0)!, y = input.rows.get(1)!;
  const torch = { ...REFERENCE_TRAINING, seed: 4 };
  assert.deepEqual(trainPairCpu(x, y, 16, 0, 1, torch), trainPairCpu(x, y, 16, 0, 1, torch));
  assert.notDeepEqual(initialWeights(0, 1, 16, torch), initialWeights(0, 1, 16, { ...torch, seed: 5 }));
  assert.notDeepEqual(initialWeights(0, 1, 16, torch), initialWeights(1, 0, 16, torch));
  const w = initialWeights(0, 1, 16, torch);
  assert.ok(w.every((v) => Math.abs(v) <= 0.25) && new Set(w).size === 17, "U(-1/sqrt(C), 1/sqrt(C))");
});

Deno.test("hyperplanes: a planted shift along d gives a normal along d and accuracy ~1", () => {
  const C = 32, n = 100, rnd = seededRandom(9);
  const d = Float32Array.from({ length: C }, () => rnd() - 0.5);
  const norm = Math.hypot(...d);
  d.forEach((v, k) => (d[k] = v / norm));
  const xi = new Float32Array(n * C), xj = new Float32Array(n * C);
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < C; k++) {
      xi[r * C + k] = (rnd() - 0.5) / 2;
      xj[r * C + k] = (rnd() - 0.5) / 2 + 6 * d[k];
    }
  }
  const zeros = trainPairCpu(xi, xj, C, 0, 1, { ...REFERENCE_TRAINING, init: "zeros" });
  assert.ok(cosine(zeros.normal, d) > 0.9, `cosine ${cosine(zeros.normal, d)}`);
  assert.equal(zeros.accuracy, 1);
  // From nn.Linear's random start, 100 steps of lr 0.01 leave the start in the normal: what training added
  // is what points along d.
  const torch = trainPairCpu(xi, xj, C, 0, 1, REFERENCE_TRAINING);
  const start = initialWeights(0, 1, C, REFERENCE_TRAINING);
  const learned = torch.normal.map((v, k) => v - start[k]);
  assert.ok(cosine(learned, d) > 0.9, `cosine ${cosine(learned, d)}`);
  assert.ok(cosine(torch.normal, d) > 0.5);
});

Deno.test("hyperplanes: the reference's <i>.pt rows read like our .npy rows", async () => {
  const dir = await Deno.makeTempDir();
  const K = 3, C = 4;
  await Deno.mkdir(join(dir, "pt"));
  const f32pt = (values: number[], shape: number[]) =>
    torchZip(contiguousTensorPickle("FloatStorage", shape), [
      new Uint8Array(Float32Array.from(values).buffer),
    ]);
  for (let i = 0; i < K; i++) {
    const normals = Array.from({ length: K * C }, (_, e) => (Math.floor(e / C) === i ? 0 : i + e / 10));
    await Deno.writeFile(join(dir, "pt", `${i}.pt`), f32pt(normals, [K, C]));
    await Deno.writeFile(join(dir, "pt", `bias_${i}.pt`), f32pt([i, -i, 0.5], [K]));
    await Deno.writeFile(join(dir, "pt", `accuracy_${i}.pt`), f32pt([0.25, 0.5, 1], [K]));
    await writeHyperplaneRow(
      join(dir, "npy"),
      i,
      Float32Array.from(normals),
      Float32Array.from([i, -i, 0.5]),
      Float32Array.from([0.25, 0.5, 1]),
    );
  }
  const pt = await readHyperplanes(join(dir, "pt"), { expectChannels: C });
  const npy = await readHyperplanes(join(dir, "npy"));
  assert.equal(pt.format, "pt");
  assert.deepEqual([pt.numClasses, pt.channels], [K, C]);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) {
      assert.deepEqual(pt.normal(i, j), npy.normal(i, j));
      assert.equal(pt.bias(i, j), npy.bias(i, j));
      assert.equal(pt.accuracy(i, j), npy.accuracy(i, j));
    }
  }
  await assert.rejects(
    () => readHyperplanes(join(dir, "pt"), { expectChannels: 1024 }),
    /hyperplanes are 4 channels wide, but the layer has 1024/,
  );
});

Deno.test("hyperplanes: a rerun resumes finished rows and reproduces the rest", async () => {
  const dir = await Deno.makeTempDir();
  const input = makeInput(12, 8);
  await writeVectors(join(dir, "V"), input);
  const job = {
    vectors: join(dir, "V"),
    out: join(dir, "H"),
    training: { ...REFERENCE_TRAINING, epochs: 20 },
    limits: { maxClasses: 2 },
    solver: "cpu" as const,
    ...quiet,
  };
  await trainHyperplanes(job);
  const before = await Deno.readFile(join(dir, "H", "4.npy"));
  await Deno.remove(join(dir, "H", "accuracy_4.npy"));
  const again = await trainHyperplanes(job);
  assert.equal(again.rowsResumed, 3); // blocks [0, 1] and [5]; block [2, 4] retrained
  assert.deepEqual(await Deno.readFile(join(dir, "H", "4.npy")), before);
  await assert.rejects(
    () => trainHyperplanes({ ...job, training: { ...job.training, seed: 1 } }),
    /holds hyperplanes of other vectors, classes or settings: pass --fresh/,
  );
  // --fresh: the earlier rows go and every row is trained with the new seed.
  const fresh = await trainHyperplanes({ ...job, training: { ...job.training, seed: 1 }, fresh: true });
  assert.equal(fresh.rowsResumed, 0);
  assert.notDeepEqual(await Deno.readFile(join(dir, "H", "4.npy")), before);
});

Deno.test("hyperplanes: bad inputs fail before training", async () => {
  const dir = await Deno.makeTempDir();
  const V = join(dir, "V");
  await writeClassVectors(V, 0, new Float32Array(8), 4);
  await writeClassVectors(V, 1, new Float32Array(0), 4);
  const job = {
    vectors: V,
    out: join(dir, "H"),
    training: REFERENCE_TRAINING,
    solver: "cpu" as const,
    ...quiet,
  };
  await assert.rejects(
    () => trainHyperplanes(job),
    /at least 2 classes with rows, found 1 \(without rows: 1\)/,
  );
  await assert.rejects(
    () => trainHyperplanes({ ...job, training: { ...REFERENCE_TRAINING, epochs: 0 } }),
    /epochs must be an integer >= 1/,
  );
  await writeClassVectors(V, 2, new Float32Array(10), 5);
  await assert.rejects(
    () => trainHyperplanes(job),
    /different widths: .*0\.npy has 4 channels, .*2\.npy has 5/,
  );
  await assert.rejects(() => readContrastVectors(V, { classes: [7] }), /no contrast vectors/);
  assert.equal(await Deno.stat(join(dir, "H")).catch(() => null), null, "nothing written");
});
