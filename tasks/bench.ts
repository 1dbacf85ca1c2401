// deno task bench [--only a,b] [--quick] [--compare]: throughput benchmarks as one JSON document on stdout.
// Compare numbers as ratios within one run; absolute numbers mean something only on a named GPU. --compare
// measures the reference stack beside protoscope in the same run and prints the ratio table (on stderr, and as
// "compare" in the JSON).
import { parseCli, runTask } from "../src/cli/cli.ts";
import { acquireGpu } from "../src/runtime/gpu.ts";
import { benchForward } from "../src/bench/forward.ts";
import { benchAttribution } from "../src/bench/attribution.ts";
import { PAPER_ATTRIBUTION } from "../src/pipeline/attribute/attributor.ts";
import { benchSearch } from "../src/bench/search.ts";
import { benchNmf, benchWeightedRows } from "../src/bench/nmf.ts";
import { benchNmfCpu } from "../src/bench/nmf_cpu.ts";
import { plantedProblem } from "../fixtures/planted_nmf.ts";
import { seededRandom } from "../src/runtime/random.ts";
import { benchShifting } from "../src/bench/shifting.ts";
import { benchHyperplanes, hyperplaneBenchOptions } from "../src/bench/hyperplanes.ts";
import { benchDecompose } from "../src/bench/decompose.ts";
import { benchComposites } from "../src/bench/composite.ts";
import { benchVisualizeSearch } from "../src/bench/visualize.ts";
import { H200, rooflineTable } from "../src/bench/roofline.ts";
import { computeConcepts } from "../src/pipeline/concepts/concepts.ts";
import { predictDataset, readPredictedClasses } from "../src/pipeline/predict/predict.ts";
import { join } from "node:path";
import { writeJsonAtomic } from "../src/io/atomic.ts";
import { ensureFixture, ensureResNet50 } from "../fixtures/ensure.ts";
import { benchPreprocess } from "../src/data/pool.ts";
import { listImages } from "../src/data/layouts.ts";
import { loadOrtNode } from "../src/runtime/ort_node.ts";
import { COMPARISONS, ratioTable, runComparisons, speedRatio } from "../src/bench/compare.ts";
import type { Ep } from "../src/runtime/ort.ts";

/** The CPU EPs of this machine: wasm, and the native one where onnxruntime-node loads. */
async function cpuEps(): Promise<Ep[]> {
  return (await loadOrtNode()).ort ? ["wasm", "cpu"] : ["wasm"];
}

type Section = (quick: boolean) => Promise<unknown>;

const sections: Record<string, Section> = {
  roofline() {
    // Predictions, not measurements: every kernel at the ImageNet run's shapes on an H200 (src/bench/roofline.ts
    // states the model and the fractions of peak assumed). A GPU lease's bench sections measure the same kernels.
    return Promise.resolve({ machine: H200, kernels: rooflineTable() });
  },
  async preprocess(quick) {
    const fixture = await ensureFixture();
    const listing = await listImages(fixture.imageFolder, { limit: quick ? 32 : 128 });
    const files = listing.entries.map((e) => e.path);
    const out = [];
    for (const workers of [1, 2]) out.push({ workers, ...(await benchPreprocess(files, workers)) });
    return out;
  },
  async forward(quick) {
    const fixture = await ensureFixture();
    const resnet = await ensureResNet50(".cache/models", "legacy");
    const gpu = await acquireGpu();
    const eps: Ep[] = [...await cpuEps(), ...(gpu ? ["webgpu" as const] : [])];
    const out = [];
    for (const ep of eps) {
      out.push(
        await benchForward(fixture.modelPath, ep, { batch: 16, batches: quick ? 2 : 8, label: "fixture" }),
      );
      // llvmpipe needs ~3 s per ResNet50 image: keep the software-GPU run short; a hardware GPU gets the
      // batch a real run would use.
      const slow = ep === "webgpu" && gpu?.software;
      const hardware = ep === "webgpu" && gpu && !gpu.software;
      out.push(
        await benchForward(resnet, ep, {
          batch: slow || quick ? 2 : hardware ? 64 : 8,
          batches: slow || quick ? 1 : 4,
          label: "resnet50-topology",
        }),
      );
    }
    return out;
  },
  async attribution(quick) {
    const fixture = await ensureFixture();
    const resnet = await ensureResNet50(".cache/models", "legacy");
    const gpu = await acquireGpu();
    const out = [];
    for (const ep of [...await cpuEps(), ...(gpu ? ["webgpu" as const] : [])]) {
      // The paper's setting: DeepLift with a 20-sample noise tunnel.
      out.push(
        await benchAttribution(fixture.modelPath, "layer3", ep, {
          batch: 4,
          batches: quick ? 1 : 4,
          label: "fixture",
          settings: PAPER_ATTRIBUTION,
        }),
      );
      // One ResNet50 image is 20 rows through the trunk and the backward graph: minutes on llvmpipe.
      if (ep === "webgpu" && gpu?.software && quick) continue;
      const hardware = ep === "webgpu" && gpu && !gpu.software;
      for (const layer of ["layer3.5", "layer4.2"]) {
        out.push(
          await benchAttribution(resnet, layer, ep, {
            // 4 images are 80 noisy rows through the trunk and the backward graph.
            batch: hardware && !quick ? 4 : 1,
            batches: hardware && !quick ? 3 : 1,
            label: "resnet50-topology",
            settings: PAPER_ATTRIBUTION,
          }),
        );
      }
    }
    return out;
  },
  async "nmf-cpu"(quick) {
    // The CPU path, start to end, against scikit-learn's fit at layer3.5's shape (60 images x 14 x 14 rows;
    // quick: a quarter), 2 threads each: a planted rank-6 V with noise (converges early), and sparse noise
    // (ReLU(u - 0.6)), which runs to max_iter, 200 iterations.
    const n = quick ? 2940 : 11760, c = 1024, k = 6;
    const task = new URL("./nmf.ts", import.meta.url);
    const rnd = seededRandom(3);
    const noise = Float32Array.from({ length: n * c }, () => Math.max(rnd() - 0.6, 0));
    return [
      {
        v: "planted rank 6 + noise 0.05",
        ...(await benchNmfCpu(task, plantedProblem(5, n, c, k, { noise: 0.05 }).v, n, c, k, 2)),
      },
      { v: "ReLU(uniform - 0.6)", ...(await benchNmfCpu(task, noise, n, c, k, 2)) },
    ];
  },
  async nmf(quick) {
    const gpu = await acquireGpu();
    if (!gpu) return { skipped: "no WebGPU adapter" };
    const out = [];
    const shapes = [
      { label: "layer3.5 (60 images x 14 x 14)", n: 11760, c: 1024 },
      { label: "layer4.2 (60 images x 7 x 7)", n: 2940, c: 2048 },
    ];
    for (const shape of shapes) {
      // 64 problems hold 1.5-3 GB of V: on a software adapter the batched case is 4 problems.
      for (const batch of [1, gpu.software ? 4 : 64]) {
        const r = await benchNmf(gpu.device, {
          n: shape.n,
          c: shape.c,
          k: 6,
          batch,
          iterations: quick ? 2 : 20,
        });
        out.push({ label: shape.label, ...r });
      }
    }
    // The start alone at the largest k (p = 34): orthonormalization and the Ritz eigenproblem dominate.
    const start = await benchNmf(gpu.device, { n: 400, c: 256, k: 24, batch: 4, iterations: 1 });
    out.push({ label: "start at k = 24 (400 x 256, 4 problems)", ...start });
    // The concepts stage's V per class at layer3.5 (60 images x 1024 x 14 x 14): host transpose vs GPU.
    const rows = await benchWeightedRows(gpu.device, { images: quick ? 8 : 60, c: 1024, hw: 196 });
    out.push({ label: "concepts V per class (layer3.5)", ...rows });
    return out;
  },
  async search(quick) {
    const gpu = await acquireGpu();
    if (!gpu) return { skipped: "no WebGPU adapter" };
    const out = [];
    // Scoring against 1000 classes x 6 prototypes; the GPU memory of the pass is fixed at creation, so two
    // dataset lengths must report the same bytes.
    for (const batches of quick ? [1, 2] : [2, 4]) {
      out.push({
        tap: "layer3.5 (1024 x 14 x 14)",
        prototypes: 6000,
        batch: 8,
        batches,
        ...(await benchSearch(gpu.device, { P: 6000, C: 1024, h: 14, w: 14, batch: 8, batches })),
      });
    }
    out.push({
      tap: "layer4.2 (2048 x 7 x 7)",
      prototypes: 6000,
      batch: 16,
      batches: 1,
      ...(await benchSearch(gpu.device, { P: 6000, C: 2048, h: 7, w: 7, batch: 16, batches: 1 })),
    });
    return out;
  },
  async visualize(quick) {
    // visualize's search at 1000 classes x 6 prototypes, 8 crops per row: the tap is 128 channels (not 1024)
    // so that the per-class searches visualize ran before one pass did fit a software adapter; the counts per
    // batch do not depend on it.
    const gpu = await acquireGpu();
    if (!gpu) return { skipped: "no WebGPU adapter" };
    return await benchVisualizeSearch(gpu, {
      classes: 1000,
      k: 6,
      channels: gpu.software ? 128 : 1024,
      height: 14,
      width: 14,
      batch: 16,
      batches: quick ? 1 : 2,
      columns: 8,
    });
  },
  async composites() {
    const gpu = await acquireGpu();
    if (!gpu) return { skipped: "no WebGPU adapter" };
    const out = [];
    for (const size of [32, 74]) {
      out.push({
        classes: 100,
        k: 6,
        size,
        ...(await benchComposites(gpu.device, { classes: 100, k: 6, size })),
      });
    }
    return out;
  },
  async shifting(quick) {
    // The shifting test's head passes (layer3.5 -> logits) on the ResNet50 topology: small batches on a CPU.
    const resnet = await ensureResNet50(".cache/models", "legacy");
    const gpu = await acquireGpu();
    const out = [];
    for (const ep of [...await cpuEps(), ...(gpu && !gpu.software ? ["webgpu" as const] : [])]) {
      const hardware = ep === "webgpu";
      out.push(
        await benchShifting(resnet, "layer3.5", ep, {
          images: quick ? 1 : hardware ? 8 : 2,
          pairs: quick ? 1 : 2,
          batch: quick ? 4 : hardware ? 64 : 8,
          label: "resnet50-topology",
        }),
      );
    }
    return out;
  },
  async hyperplanes(quick) {
    const gpu = await acquireGpu();
    return await benchHyperplanes(gpu, hyperplaneBenchOptions(quick, !!gpu && !gpu.software, 2));
  },
  async decompose(quick) {
    // Explaining new images (deno task decompose): exact NNLS per position at layer3.5's shape.
    const gpu = await acquireGpu();
    return await benchDecompose(gpu, {
      k: 6,
      channels: 1024,
      height: 14,
      width: 14,
      batches: quick ? [1, 4] : [1, gpu && !gpu.software ? 64 : 16],
      repeats: quick ? 1 : 3,
    });
  },
  async concepts(quick) {
    // Whole concepts task (predictions given, attribution + NMF + writes) on the ResNet50 topology; the
    // settings are cut down (see "settings") so that it finishes on a CPU.
    const fixture = await ensureFixture();
    const resnet = await ensureResNet50(".cache/models", "legacy");
    const work = await Deno.makeTempDir();
    const data = join(fixture.imageFolder, fixture.classNames[0]);
    const predictions = join(work, "predictions");
    await predictDataset({ model: resnet, data, out: predictions, ep: "auto", limit: 8 });
    const predicted = await readPredictedClasses(predictions);
    const settings = { ...PAPER_ATTRIBUTION, samples: quick ? 2 : 4, maxImages: 2, k: 6 };
    const classes = [...new Set(predicted)].slice(0, quick ? 1 : 2);
    const t0 = performance.now();
    await computeConcepts({
      ...settings,
      model: resnet,
      data,
      layer: "layer4.2",
      out: join(work, "concepts"),
      predictions,
      classes: classes.join(","),
      limit: 8,
    });
    const minutes = (performance.now() - t0) / 60000;
    await Deno.remove(work, { recursive: true });
    return {
      model: "resnet50-topology",
      layer: "layer4.2",
      settings,
      classes: classes.length,
      classesPerMinute: classes.length / minutes,
    };
  },
};

export async function main(argv: string[]): Promise<void> {
  const a = parseCli("bench", "Throughput benchmarks; prints one JSON document.", {
    only: { type: "string", help: `comma-separated sections: ${Object.keys(sections).join(",")}` },
    quick: { type: "boolean", default: false, help: "fewer repetitions (smoke run)" },
    compare: {
      type: "boolean",
      default: false,
      help: `protoscope vs the reference stack (torch via /usr/bin/python3) in this run, as a ratio table: ${
        Object.keys(COMPARISONS).join(",")
      }; runs no other section unless --only names it`,
    },
    out: {
      type: "string",
      help: "also write the JSON here, rewritten after each section (kept if cut short)",
    },
  }, argv);
  const chosen = a.only ? (a.only as string).split(",") : a.compare ? [] : Object.keys(sections);
  for (const s of chosen) if (!sections[s]) throw new Error(`--only: unknown section '${s}'`);
  const gpu = await acquireGpu();
  const report: Record<string, unknown> = {
    machine: {
      adapter: gpu?.description ?? "none",
      softwareAdapter: gpu?.software ?? null,
      cpuCores: navigator.hardwareConcurrency,
      deno: Deno.version.deno,
    },
  };
  for (const s of chosen) {
    const t0 = performance.now();
    console.error(`bench: ${s} ...`);
    report[s] = await sections[s](a.quick as boolean);
    console.error(`bench: ${s} took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    if (a.out) await writeJsonAtomic(a.out as string, report);
  }
  if (a.compare) {
    const rows = await runComparisons({
      threads: navigator.hardwareConcurrency,
      quick: a.quick as boolean,
      resnet50: await ensureResNet50(".cache/models", "legacy"),
      nmfTask: new URL("./nmf.ts", import.meta.url),
      plantedNmf: (n, c, k) => plantedProblem(5, n, c, k, { noise: 0.05 }).v,
    });
    const table = ratioTable(rows);
    report.compare = { rows: rows.map((r) => ({ ...r, ratio: speedRatio(r) })), table };
    if (a.out) await writeJsonAtomic(a.out as string, report);
    console.error(`\n${table}\n`);
  }
  console.log(JSON.stringify(report, null, 2));
}

if (import.meta.main) await runTask(() => main(Deno.args));
