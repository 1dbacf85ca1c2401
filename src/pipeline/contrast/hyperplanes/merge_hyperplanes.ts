// `deno task merge` for hyperplanes: every shard's row files (each row written by exactly one shard), the index
// and the manifest unsharded. Refuses unfinished shards and rows missing or written twice.
import { copyPartFile, readPartOutputs, readParts, writeMergedManifest } from "../../../io/shard_parts.ts";
import { HYPERPLANES_INDEX, type HyperplanesIndex, writeHyperplanesIndex } from "./hyperplanes_io.ts";

/** The three files of row i, relative to the folder (as hyperplaneRowPaths names them). */
const rowFiles = (i: number) => [`${i}.npy`, `bias_${i}.npy`, `accuracy_${i}.npy`];

export async function mergeHyperplanes(dirs: string[], out: string): Promise<HyperplanesIndex> {
  const parts = await readParts(dirs, "hyperplanes");
  const indexes = await readPartOutputs<HyperplanesIndex>(parts, HYPERPLANES_INDEX, out);
  const unfinished = indexes.findIndex((index) => !index.complete);
  if (unfinished >= 0) {
    throw new Error(`--parts ${parts[unfinished].dir}: ${HYPERPLANES_INDEX} is not complete`);
  }
  const rows = [...indexes[0].classes, ...(indexes[0].emptyClasses ?? [])].sort((a, b) => a - b);
  for (const i of rows) {
    const holders: string[] = [];
    for (const p of parts) {
      const copied = await Promise.all(rowFiles(i).map((f) => copyPartFile(p.dir, out, f)));
      if (copied.some(Boolean)) holders.push(p.dir);
    }
    if (holders.length !== 1) {
      throw new Error(
        holders.length
          ? `--parts: row ${i} is in ${holders.join(" and ")} (each row belongs to one shard)`
          : `--parts: no shard holds row ${i} (${rowFiles(i).join(", ")})`,
      );
    }
  }
  // Each shard counts the pairs of its own rows.
  const sum = (key: keyof HyperplanesIndex["pairs"]) => indexes.reduce((s, index) => s + index.pairs[key], 0);
  const merged = {
    ...indexes[0],
    pairs: { trained: sum("trained"), derived: sum("derived"), skipped: sum("skipped") },
  };
  await writeHyperplanesIndex(out, merged);
  await writeMergedManifest(parts, out);
  return merged;
}
