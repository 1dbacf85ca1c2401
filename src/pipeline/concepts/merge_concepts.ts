// `deno task merge` for concepts: each shard's class folders (basis.npy, concepts.json without the shard mark)
// and the shared predictions, the index (concepts.json) rebuilt over all classes, the manifest unsharded.
import { join } from "node:path";
import { readJsonIfExists, writeJsonAtomic } from "../../io/atomic.ts";
import {
  copyPartFile,
  mergeSkipped,
  readPartOutputs,
  readParts,
  unshard,
  writeMergedManifest,
} from "../../io/shard_parts.ts";
import type { ConceptsSummary } from "./concepts.ts";
import { classFolders } from "./concepts.ts";

/** Copies a `predictions` subfolder that the parts computed alike (one run computes it once). */
export async function mergeSharedPredictions(dirs: string[], out: string): Promise<void> {
  const npy = join("predictions", "predictions.npy");
  const first = await Deno.readFile(join(dirs[0], npy)).catch(() => undefined);
  if (!first) return;
  for (const dir of dirs.slice(1)) {
    const other = await Deno.readFile(join(dir, npy)).catch(() => undefined);
    if (!other || other.length !== first.length || other.some((b, i) => b !== first[i])) {
      throw new Error(`--parts ${dir}: its predictions differ from ${dirs[0]}'s (${npy})`);
    }
  }
  await copyPartFile(dirs[0], out, npy);
  await copyPartFile(dirs[0], out, join("predictions", "predictions.json"));
  await copyPartFile(dirs[0], out, join("predictions", "manifest.json"));
}

export async function mergeConcepts(dirs: string[], out: string): Promise<ConceptsSummary> {
  const parts = await readParts(dirs, "concepts");
  const indexes = await readPartOutputs<ConceptsSummary>(parts, "concepts.json", out);
  await mergeSharedPredictions(parts.map((p) => p.dir), out);
  const owner = new Map<number, string>();
  for (const p of parts) {
    for (const c of await classFolders(p.dir)) {
      if (owner.has(c)) throw new Error(`--parts ${p.dir}: class ${c} is also in ${owner.get(c)}`);
      owner.set(c, p.dir);
      const file = await readJsonIfExists(join(p.dir, String(c), "concepts.json"));
      if (!file) continue;
      await copyPartFile(p.dir, out, join(String(c), "basis.npy"));
      // --signed split's 2C prototypes, where the part has them.
      await copyPartFile(p.dir, out, join(String(c), "basis_split.npy"));
      await writeJsonAtomic(join(out, String(c), "concepts.json"), unshard(file, p.shard.out, out));
    }
  }
  const merged: ConceptsSummary = {
    ...indexes[0],
    classes: indexes.flatMap((i) => i.classes).sort((a, b) => a.class - b.class),
    skipped: mergeSkipped(indexes.map((i) => i.skipped ?? [])),
  };
  await writeJsonAtomic(join(out, "concepts.json"), merged);
  await writeMergedManifest(parts, out);
  return merged;
}
