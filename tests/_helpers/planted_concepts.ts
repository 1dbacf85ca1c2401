// Concepts for the fixture built from its planted truth instead of NMF: per class, unit prototypes on the
// layer3.1 channels of its two motifs, the distractor's channel and a "background" direction spread over the
// generic channels (so that k = 4, the crop count of the paper's v2). Written in protoscope's concepts layout
// with predictions equal to the labels (the fixture model predicts every image's class; predict_test checks).
import { dirname, join, resolve } from "node:path";
import { writeJsonAtomic } from "../../src/io/atomic.ts";
import { writeNpy } from "../../src/io/npy.ts";
import { openDataset } from "../../src/data/dataset.ts";
import { dataStamps } from "../../src/io/run_identity.ts";
import { sha256File } from "../../src/onnx/model.ts";
import { ensureFixture } from "../../fixtures/ensure.ts";
import { type FixtureTruth, plantedBoxesInInput, type TruthImage } from "../../fixtures/fixture_images.ts";
import {
  CLASSES,
  DISTRACTORS,
  FIXTURE_TAP_LAYER3,
  motifById,
  motifChannel,
  MOTIFS,
  STAGE_CHANNELS,
} from "../../fixtures/spec.ts";

export const PLANTED_LAYER = "layer3.1";
export const PLANTED_K = 4;
/** Row of each prototype in a class's basis. */
export const PLANTED_ROWS = ["motif A", "motif B", "distractor", "background"] as const;

/** The k x C basis of one fixture class. */
export function plantedBasis(classIndex: number): Float32Array {
  const C = STAGE_CHANNELS.layer3;
  const basis = new Float32Array(PLANTED_K * C);
  const [a, b] = CLASSES[classIndex].motifs.map((id) => motifChannel("layer3", motifById(id).slot));
  basis[0 * C + a] = 1;
  basis[1 * C + b] = 1;
  basis[2 * C + motifChannel("layer3", DISTRACTORS[0].slot)] = 1;
  const motifs = new Set(MOTIFS.map((m) => motifChannel("layer3", m.slot)));
  for (let c = 0; c < C; c++) if (!motifs.has(c)) basis[3 * C + c] = 1;
  return basis;
}

/**
 * Writes the concepts folder and returns its path; with `data`, also predictions/ for that dataset (its
 * labels: the fixture model predicts every image's class).
 */
export async function writePlantedConcepts(dir: string, data?: string): Promise<string> {
  const C = STAGE_CHANNELS.layer3;
  await writeJsonAtomic(join(dir, "manifest.json"), {
    task: "concepts",
    layer: { name: PLANTED_LAYER, tensor: FIXTURE_TAP_LAYER3 },
    settings: { k: PLANTED_K, method: "planted truth (tests/_helpers/planted_concepts.ts)" },
  });
  await writeJsonAtomic(join(dir, "concepts.json"), {
    layer: PLANTED_LAYER,
    tensor: FIXTURE_TAP_LAYER3,
    channels: C,
    k: PLANTED_K,
    classes: CLASSES.map((c) => ({ class: c.index, name: c.name, images: 30, relError: 0, status: "done" })),
  });
  for (const c of CLASSES) {
    await writeNpy(join(dir, String(c.index), "basis.npy"), plantedBasis(c.index), [PLANTED_K, C]);
    await writeJsonAtomic(join(dir, String(c.index), "concepts.json"), { class: c.index, k: PLANTED_K });
  }
  if (data) await writeLabelPredictions(join(dir, "predictions"), data);
  return dir;
}

/** A predictions folder for a fixture dataset that predicts every image's label (predict_test checks that
 * the fixture model does exactly this). */
export async function writeLabelPredictions(dir: string, data: string): Promise<string> {
  const dataset = await openDataset(data);
  try {
    const labels = Int32Array.from(dataset.entries, (e) => e.label ?? -1);
    // As predict writes them: the model's hash and each file's stamp say which inputs they are for.
    const stamps = await dataStamps(dataset);
    const sha256 = await sha256File((await ensureFixture()).modelPath);
    await writeNpy(join(dir, "predictions.npy"), labels, [labels.length]);
    await writeJsonAtomic(join(dir, "predictions.json"), {
      manifest: { task: "predict", model: { sha256 } },
      images: dataset.entries.map((e, i) => ({ path: e.path, predicted: e.label, stamp: stamps[i] })),
    });
  } finally {
    dataset.close();
  }
  return dir;
}

/** Truth of the fixture images by absolute path (either layout). */
export async function readTruthByPath(truthPath: string): Promise<Map<string, TruthImage>> {
  const truth: FixtureTruth = JSON.parse(await Deno.readTextFile(truthPath));
  const root = dirname(truthPath);
  const byPath = new Map<string, TruthImage>();
  for (const image of truth.images) {
    byPath.set(resolve(root, image.imageFolderPath), image);
    byPath.set(resolve(root, image.valPath), image);
  }
  return byPath;
}

/**
 * Motif ids planted in pooled cell (y, x) of the 224 px model input: the exact planted cell for grid-aligned
 * images, any planted box overlapping the cell otherwise.
 */
export function motifsAt(image: TruthImage, y: number, x: number, cell = 32): string[] {
  if (image.inputCells) return image.inputCells.filter((c) => c.row === y && c.col === x).map((c) => c.motif);
  return plantedBoxesInInput(image).filter((b) =>
    b.x < (x + 1) * cell && b.x + b.width > x * cell && b.y < (y + 1) * cell && b.y + b.height > y * cell
  ).map((b) => b.motif);
}
