// The ImageNet-val projection of docs/scale.md: every stage of the pipeline at ResNet-50 layer3.5 (C = 1024,
// 14 x 14, 50 images a class, 1000 classes), as FLOP and bytes from the stage's counts (the same counts the
// rehearsal measures at K = 1000: images, classes, K(K-1) pairs, 5 x 1000 x 10 pair draws) and a time on an
// NVIDIA H200 at stated fractions of its peaks. Our kernels take their lines from the roofline
// (src/bench/roofline.ts); the model's convolutions run in onnxruntime's WebGPU EP, whose fraction of peak is
// an assumption (MODEL_FRACTION) until a lease measures it; JPEG decoding runs on the host's cores at the
// rate measured here. No GPU has run this: every number below is a prediction to confirm.
import { H200, IMAGENET_RUN, imagenetKernelCosts, type Machine, predict, type RunShape } from "./roofline.ts";

/** Multiply-accumulates of torchvision's ResNet-50 at 224 px, per module ("stem", "layer3.5", "fc", ...). */
export function resnet50Macs(): Record<string, number> {
  const per: Record<string, number> = { stem: 112 * 112 * 64 * 3 * 49 };
  const blocks = [3, 4, 6, 3], widths = [64, 128, 256, 512], sizes = [56, 28, 14, 7];
  let inC = 64;
  for (let s = 0; s < 4; s++) {
    const w = widths[s], out = 4 * w, hw = sizes[s] ** 2;
    // torchvision's v1.5 bottleneck: conv1 (1 x 1) at the block's input size, the stride on conv2 (3 x 3).
    const inHw = s === 0 ? hw : (2 * sizes[s]) ** 2;
    for (let b = 0; b < blocks[s]; b++) {
      const first = b === 0;
      per[`layer${s + 1}.${b}`] = (first ? inHw : hw) * w * inC + hw * w * w * 9 + hw * out * w +
        (first ? hw * out * inC : 0);
      inC = out;
    }
  }
  per.fc = 2048 * 1000;
  return per;
}

/** FLOP (2 per MAC) of the trunk up to and including `layer` and of the head after it. */
export function splitFlop(layer = "layer3.5"): { trunk: number; head: number; full: number } {
  const entries = Object.entries(resnet50Macs());
  const cut = entries.findIndex(([name]) => name === layer);
  if (cut < 0) throw new Error(`splitFlop: no module ${layer} in ResNet-50`);
  const sum = (xs: [string, number][]) => 2 * xs.reduce((a, [, m]) => a + m, 0);
  const trunk = sum(entries.slice(0, cut + 1)), head = sum(entries.slice(cut + 1));
  return { trunk, head, full: trunk + head };
}

/** Assumed: onnxruntime's WebGPU EP reaches this fraction of the FP32 peak on ResNet-50's convolutions. */
export const MODEL_FRACTION = 0.3;
/** DeepLift's backward through the head costs about twice its forward (multipliers and gradients). */
export const BACKWARD_OVER_FORWARD = 2;
/** JPEG decode + resize of one ImageNet image on one core (shared/PLATFORM.md: ~18 ms decode, ~90%). */
export const DECODE_SECONDS_PER_IMAGE = 0.02;
export const HOST_CORES = 16;
/** Bytes of one image in the prepared cache (224 x 224 RGB). */
export const CACHED_IMAGE_BYTES = 224 * 224 * 3;
/** Assumed sequential read of the prepared cache (an NVMe disk or the page cache). */
export const CACHE_READ_BYTES_PER_SECOND = 2e9;

export interface ProjectionRun {
  classes: number;
  imagesPerClass: number;
  noiseSamples: number;
  shiftingDraws: number;
  shiftingOffsets: number;
  maskLevels: number;
  /** The masking test draws its pairs as the shifting test does (its default: 5 x 1000 x 10). */
  maskingDraws: number;
}

/** The paper's run: ImageNet-val (50 a class), 20 noise samples, 5 x 1000 x 10 draws at 10 offsets, and
 * the masking test at its default sampling, the same draws. */
export const IMAGENET_PROJECTION: ProjectionRun = {
  classes: 1000,
  imagesPerClass: 50,
  noiseSamples: 20,
  shiftingDraws: 5 * 1000 * 10,
  shiftingOffsets: 10,
  maskLevels: 11,
  maskingDraws: 5 * 1000 * 10,
};

export interface StageProjection {
  stage: string;
  /** The stage's work in words, with its counts. */
  work: string;
  flop: number;
  /** GPU memory traffic of our kernels (each pass over a buffer counts) plus the bytes the stage writes. */
  bytes: number;
  gpuSeconds: number;
  /** Host work beside the GPU: decoding (prepare) or reading the prepared cache. */
  hostSeconds: number;
}

/** Seconds, FLOP and bytes of the kernels of `family` over a run, from the roofline. */
function kernelTotals(machine: Machine, run: ProjectionRun, family: string) {
  const shape: RunShape = {
    ...IMAGENET_RUN,
    classes: run.classes,
    searchedImages: run.classes * run.imagesPerClass,
    nmfImagesPerClass: Math.min(IMAGENET_RUN.nmfImagesPerClass, run.imagesPerClass),
  };
  const lines = imagenetKernelCosts(shape).filter((c) => !c.replaced && c.family === family);
  return lines.reduce(
    (a, c) => {
      const p = predict(c, machine);
      return {
        seconds: a.seconds + p.predictedRunSeconds,
        flop: a.flop + c.flop * c.callsPerRun,
        bytes: a.bytes + c.bytes * c.callsPerRun,
      };
    },
    { seconds: 0, flop: 0, bytes: 0 },
  );
}

export function projectImageNet(run = IMAGENET_PROJECTION, machine: Machine = H200): StageProjection[] {
  const f = splitFlop("layer3.5");
  const N = run.classes * run.imagesPerClass, K = run.classes, pairs = K * (K - 1);
  const C = IMAGENET_RUN.channels, positions = IMAGENET_RUN.positions;
  const model = (flop: number) => flop / (machine.flopsPerSecond * MODEL_FRACTION);
  const decode = (images: number) => (images * DECODE_SECONDS_PER_IMAGE) / HOST_CORES;
  const readCache = (images: number) => (images * CACHED_IMAGE_BYTES) / CACHE_READ_BYTES_PER_SECOND;
  const attribution = N * run.noiseSamples * (f.trunk + (1 + BACKWARD_OVER_FORWARD) * f.head);
  const nmf = kernelTotals(machine, run, "nmf");
  const search = kernelTotals(machine, run, "search");
  const hyper = kernelTotals(machine, run, "hyperplane");
  const composites = 2 * K * f.full;
  const shiftRows = run.shiftingDraws * run.shiftingOffsets * run.imagesPerClass;
  const maskRows = run.maskingDraws * run.maskLevels * run.imagesPerClass;
  const rows: StageProjection[] = [
    {
      stage: "prepare",
      work: `${N} JPEGs decoded and resized once, into the 224 px cache`,
      flop: 0,
      bytes: N * CACHED_IMAGE_BYTES,
      gpuSeconds: 0,
      hostSeconds: decode(N),
    },
    {
      stage: "predict",
      work: `${N} images x full forward`,
      flop: N * f.full,
      bytes: N * 1000 * 4,
      gpuSeconds: model(N * f.full),
      hostSeconds: readCache(N),
    },
    {
      stage: "concepts",
      work: `${N} images x ${run.noiseSamples} samples x (trunk + head + DeepLift backward); ${K} NMFs`,
      flop: attribution + nmf.flop,
      bytes: nmf.bytes + N * positions * 4,
      gpuSeconds: model(attribution) + nmf.seconds,
      hostSeconds: readCache(N),
    },
    {
      stage: "component-test + visualize",
      work: `2 passes of ${N} images x trunk, x ${K * IMAGENET_RUN.k} prototypes; ${2 * K} composites`,
      flop: 2 * N * f.trunk + search.flop + composites,
      bytes: search.bytes,
      gpuSeconds: model(2 * N * f.trunk + composites) + search.seconds,
      hostSeconds: readCache(2 * N),
    },
    {
      stage: "contrast-vectors",
      work: `${N} images' attribution maps from the concepts' cache`,
      flop: 0,
      bytes: N * positions * 4,
      gpuSeconds: 0,
      hostSeconds: 0,
    },
    {
      stage: "hyperplanes",
      work: `${pairs} pairs x ${IMAGENET_RUN.hyperplaneEpochs} epochs x ` +
        `${2 * IMAGENET_RUN.hyperplaneRowsPerClass} rows x ${C} ch`,
      flop: hyper.flop,
      bytes: hyper.bytes + K * K * (C + 2) * 4,
      gpuSeconds: hyper.seconds,
      hostSeconds: 0,
    },
    {
      stage: "shifting-test",
      work:
        `${run.shiftingDraws} pair draws x ${run.shiftingOffsets} offsets x ${run.imagesPerClass} images x head`,
      flop: shiftRows * f.head,
      bytes: shiftRows * 1000 * 4,
      gpuSeconds: model(shiftRows * f.head),
      hostSeconds: 0,
    },
    {
      stage: "masking-test",
      work: `${run.maskingDraws} pair draws x ${run.maskLevels} levels x ${run.imagesPerClass} images x full`,
      flop: maskRows * f.full,
      bytes: maskRows * 1000 * 4,
      gpuSeconds: model(maskRows * f.full),
      hostSeconds: 0,
    },
  ];
  return rows;
}

/** The projection as a Markdown table (docs/scale.md). */
export function projectionTable(rows = projectImageNet()): string {
  const lines = [
    "| stage | work | TFLOP | GB moved | H200 GPU s (predicted) | host s |",
    "| ----- | ---- | ----: | -: | ---------------------: | ----------------: |",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.stage} | ${r.work} | ${(r.flop / 1e12).toFixed(1)} | ${(r.bytes / 1e9).toFixed(1)} | ` +
        `${r.gpuSeconds.toFixed(0)} | ${r.hostSeconds.toFixed(0)} |`,
    );
  }
  const gpu = rows.reduce((a, r) => a + r.gpuSeconds, 0);
  const host = rows.reduce((a, r) => a + r.hostSeconds, 0);
  lines.push(`| all | | | | ${gpu.toFixed(0)} (${(gpu / 3600).toFixed(2)} h) | ${host.toFixed(0)} |`);
  return lines.join("\n");
}
