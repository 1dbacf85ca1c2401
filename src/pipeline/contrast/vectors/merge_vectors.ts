// `deno task merge` for contrast-vectors: each shard's `<class>.npy`, vectors.json's classes joined in class
// order with the shard taken out of their resume keys, the shared predictions and the manifest unsharded.
import { join } from "node:path";
import { copyPartFile, readPartOutputs, readParts, unshard } from "../../../io/shard_parts.ts";
import { mergeSharedPredictions } from "../../concepts/merge_concepts.ts";
import { writeJsonAtomic } from "../../../io/atomic.ts";
import type { ContrastClassRecord } from "./contrast_vectors.ts";
import { type ContrastVectorsIndex, VECTORS_INDEX, writeVectorsIndex } from "./vectors_io.ts";

type Index = ContrastVectorsIndex & { classes: ContrastClassRecord[] };

/** A class's resume key as one run writes it: the shard element (the key's last, when sharded) removed. */
function unshardKey(key: string): string {
  const parts = JSON.parse(key) as unknown[];
  const last = parts.at(-1) as Record<string, unknown> | undefined;
  const sharded = last && typeof last === "object" && Object.keys(last).join() === "shard";
  return JSON.stringify(sharded ? parts.slice(0, -1) : parts);
}

export async function mergeContrastVectors(dirs: string[], out: string): Promise<ContrastVectorsIndex> {
  const parts = await readParts(dirs, "contrast-vectors");
  const indexes = await readPartOutputs<Index>(parts, VECTORS_INDEX, out);
  await mergeSharedPredictions(parts.map((p) => p.dir), out);
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
      classes.push({ ...record, settingsKey: unshardKey(record.settingsKey) });
    }
  }
  const merged: Index = { ...indexes[0], classes: classes.sort((a, b) => a.class - b.class) };
  await writeVectorsIndex(out, merged);
  await writeJsonAtomic(join(out, "manifest.json"), unshard(parts[0].manifest, parts[0].shard.out, out));
  return merged;
}
