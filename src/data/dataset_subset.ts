// A view of some images of a dataset as a dataset of their own (image i of the view is image indices[i] of
// the source), so a pass that streams a whole dataset (the prototype search) can run over one class's images.
import type { Batch, Dataset } from "./dataset.ts";

export function datasetSubset(source: Dataset, indices: readonly number[]): Dataset {
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 0 || i >= source.size) {
      throw new Error(`datasetSubset: image ${i} is outside the dataset's ${source.size} images`);
    }
  }
  const entries = indices.map((i) => source.entries[i]);
  return {
    source: source.source,
    layout: source.layout,
    root: source.root,
    cacheDir: source.cacheDir,
    size: indices.length,
    entries,
    classNames: source.classNames,
    settings: source.settings,
    imageBytes: source.imageBytes,
    notes: source.notes,
    async readBatch(start: number, count: number): Promise<Batch> {
      if (
        !(Number.isInteger(start) && Number.isInteger(count) && start >= 0 && start + count <= indices.length)
      ) {
        throw new Error(
          `datasetSubset: readBatch(${start}, ${count}) is outside its ${indices.length} images`,
        );
      }
      const reads = await Promise.all(indices.slice(start, start + count).map((i) => source.readBatch(i, 1)));
      const images = new Uint8Array(count * source.imageBytes);
      reads.forEach((r, j) => images.set(r.images.subarray(0, source.imageBytes), j * source.imageBytes));
      return {
        images,
        ok: reads.map((r) => r.ok[0]),
        // Failures are renumbered into the view, as the view's readers expect.
        failures: reads.flatMap((r, j) => r.failures.map((f) => ({ ...f, index: start + j }))),
      };
    },
    close() {},
  };
}
