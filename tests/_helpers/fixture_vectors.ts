// The fixture's contrast vectors as the contrast tests use them: DeepLift with a small noise tunnel (2 samples)
// over the first 4 images per class at layer3 on the wasm EP: small and fast, and the rows still carry exactly
// each class's own motifs (tests/fixtures_contrast_test.ts checks that premise).
import { join } from "node:path";
import type { FixturePaths } from "../../fixtures/ensure.ts";
import { computeContrastVectors } from "../../src/pipeline/contrast/vectors/contrast_vectors.ts";
import { readContrastVectors } from "../../src/pipeline/contrast/vectors/vectors_io.ts";

/** The contrast tests' contrast-vectors options on the fixture (all but --out). */
export function fixtureVectorsOptions(fixture: FixturePaths, predictions: string) {
  return {
    model: fixture.modelPath,
    data: fixture.imageFolder,
    layer: "layer3",
    method: "deeplift" as const,
    samples: 2,
    sigma: 0.25,
    seed: 0,
    maxImages: 4,
    predictions,
    ep: "wasm" as const,
  };
}

export async function fixtureContrastVectors(fixture: FixturePaths, work: string, predictions: string) {
  const out = join(work, "vectors");
  await computeContrastVectors({ ...fixtureVectorsOptions(fixture, predictions), out });
  return await readContrastVectors(out);
}
