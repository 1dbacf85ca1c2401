// The planted ViT fixture with its truth, as the ViT tests read it: which motif each input cell holds.
import { basename } from "node:path";
import { ensureVitFixture } from "../../fixtures/ensure.ts";
import type { FixtureTruth } from "../../fixtures/fixture_images.ts";
import { MOTIFS } from "../../fixtures/spec.ts";
import { vitMotifChannel } from "../../fixtures/vit_fixture.ts";
import type { Concepts } from "../../src/pipeline/concepts/read_concepts.ts";

export async function plantedVit() {
  const fixture = await ensureVitFixture();
  const truth: FixtureTruth = JSON.parse(await Deno.readTextFile(fixture.truthPath));
  const cells = new Map(truth.images.map((t) => [basename(t.imageFolderPath), t.inputCells!]));
  /** The motif planted at (row, col) of an image (by file name), or undefined for background. */
  const motifAt = (path: string, y: number, x: number) =>
    cells.get(basename(path))?.find((c) => c.row === y && c.col === x)?.motif;
  return { fixture, truth, motifAt };
}

/** Which planted motif each prototype of `read` is, and the prototypes (global rows) of a class. */
export function prototypeMotifs(read: Concepts) {
  /** The motif of prototype p (global row), if one motif channel dominates it. */
  const motifOf = (p: number) => {
    const row = read.bases.subarray(p * read.channels, (p + 1) * read.channels);
    const values = MOTIFS.map((m) => row[vitMotifChannel(m.slot)]);
    const best = values.indexOf(Math.max(...values));
    return values[best] > 0.3 ? MOTIFS[best].id : undefined;
  };
  const prototypesOf = (cls: number) =>
    [...read.prototypeClass.keys()].filter((p) => read.prototypeClass[p] === cls);
  return { motifOf, prototypesOf };
}
