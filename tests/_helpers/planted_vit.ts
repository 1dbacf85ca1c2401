// The planted ViT fixture with its truth, as the ViT tests read it: which motif each input cell holds.
import { basename } from "node:path";
import { ensureVitFixture } from "../../fixtures/ensure.ts";
import type { FixtureTruth } from "../../fixtures/fixture_images.ts";

export async function plantedVit() {
  const fixture = await ensureVitFixture();
  const truth: FixtureTruth = JSON.parse(await Deno.readTextFile(fixture.truthPath));
  const cells = new Map(truth.images.map((t) => [basename(t.imageFolderPath), t.inputCells!]));
  /** The motif planted at (row, col) of an image (by file name), or undefined for background. */
  const motifAt = (path: string, y: number, x: number) =>
    cells.get(basename(path))?.find((c) => c.row === y && c.col === x)?.motif;
  return { fixture, truth, motifAt };
}
