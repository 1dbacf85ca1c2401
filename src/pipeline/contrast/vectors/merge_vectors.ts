// `deno task merge` for contrast-vectors: each shard's `<class>.npy`, vectors.json's classes joined in class
// order with the shard taken out of their resume keys (identity), the shared predictions and the manifest unsharded.
import {
  copyPartFile,
  readPartOutputs,
  readParts,
  unshard,
  writeMergedManifest,
} from "../../../io/shard_parts.ts";
import { mergeSharedPredictions } from "../../concepts/merge_concepts.ts";
import type { RunIdentity } from "../../../io/run_identity.ts";
import { type ContrastClassRecord, vectorsResumeKey } from "./contrast_vectors.ts";
import { type ContrastVectorsIndex, VECTORS_INDEX, writeVectorsIndex } from "./vectors_io.ts";

type Index = ContrastVectorsIndex & { classes: ContrastClassRecord[] };

export async function mergeContrastVectors(dirs: string[], out: string): Promise<ContrastVectorsIndex> {
  const parts = await readParts(dirs, "contrast-vectors");
  const indexes = await readPartOutputs<Index>(parts, VECTORS_INDEX, out);
  await mergeSharedPredictions(parts.map((p) => p.dir), out);
  // The classes' resume key as one run writes it: its identity without the shard.
  const settingsKey = await vectorsResumeKey(
    unshard(parts[0].manifest.identity as RunIdentity, parts[0].shard.out, out),
  );
  const owner = new Map<number, string>();
  const classes: ContrastClassRecord[] = [];
  for (const [i, p] of parts.entries()) {
    for (const record of indexes[i].classes) {
      if (owner.has(record.class)) {
        throw new Error(`--parts ${p.dir}: class ${record.class} is also in ${owner.get(record.class)}`);
      }
      owner.set(record.class, p.dir);
      if (record.rows && !(await copyPartFile(p.dir, out, `${record.class}.npy`))) {
        throw new Error(`--parts ${p.dir}: ${record.class}.npy is missing (vectors.json records its rows)`);
      }
      classes.push({ ...record, settingsKey });
    }
  }
  const merged: Index = { ...indexes[0], classes: classes.sort((a, b) => a.class - b.class) };
  await writeVectorsIndex(out, merged);
  await writeMergedManifest(parts, out);
  return merged;
}
