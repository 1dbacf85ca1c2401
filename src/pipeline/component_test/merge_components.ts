// `deno task merge` for component-test: the shards' class records joined in class order, both variants'
// summaries recomputed over all classes, the composites copied, the timings added up, the manifest unsharded.
import { join } from "node:path";
import { readJsonIfExists, writeJsonAtomic } from "../../io/atomic.ts";
import {
  checkParts,
  copyPartFile,
  mergeSkipped,
  type PartManifest,
  refuseUnfinishedPart,
  unshard,
  writeMergedManifest,
} from "../../io/shard_parts.ts";
import { mergeSharedPredictions } from "../concepts/merge_concepts.ts";
import { type ComponentTestReport, summarizeVariant } from "./component_test_run.ts";

const REPORT = "component_test.json";

export async function mergeComponentTest(dirs: string[], out: string): Promise<ComponentTestReport> {
  const reports = new Map<string, ComponentTestReport>();
  for (const dir of dirs) {
    const report = await readJsonIfExists<ComponentTestReport>(join(dir, REPORT));
    if (!report) throw new Error(`--parts ${dir}: no ${REPORT} (did that shard finish?)`);
    await refuseUnfinishedPart(dir, "component-test");
    reports.set(dir, report);
  }
  const parts = checkParts(
    dirs.map((dir) => ({ dir, manifest: reports.get(dir)!.manifest as PartManifest })),
    "component-test",
  );
  const ordered = parts.map((p) => unshard(reports.get(p.dir)!, p.shard.out, out));
  await mergeSharedPredictions(parts.map((p) => p.dir), out);
  for (const [i, p] of parts.entries()) {
    for (const r of ordered[i].classes) {
      for (const suffix of ["all", "excluded"]) {
        await copyPartFile(p.dir, out, join("composites", `${r.class}_${suffix}.jpg`));
      }
    }
  }
  const classes = ordered.flatMap((r) => r.classes);
  const sum = (f: (r: ComponentTestReport) => number) => ordered.reduce((t, r) => t + f(r), 0);
  const searchSeconds = sum((r) => r.timing.searchSeconds);
  const compositeSeconds = sum((r) => r.timing.compositeSeconds);
  const first = ordered[0];
  const merged: ComponentTestReport = {
    ...first,
    classes,
    summary: {
      allImages: summarizeVariant(classes.map((r) => r.allImages)),
      targetExcluded: summarizeVariant(classes.map((r) => r.targetExcluded)),
    },
    // The shards' times added up, as if they ran one after another; rates over that time.
    timing: {
      ...first.timing,
      searchSeconds,
      imagesPerSecond: sum((r) => r.timing.imagesPerSecond * r.timing.searchSeconds) /
        Math.max(searchSeconds, 1e-9),
      compositeSeconds,
      compositesPerSecond: (2 * classes.length) / Math.max(compositeSeconds, 1e-9),
    },
    skipped: mergeSkipped(ordered.map((r) => r.skipped)),
  };
  await writeJsonAtomic(join(out, REPORT), merged);
  await writeMergedManifest(parts, out);
  return merged;
}
