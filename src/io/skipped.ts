// Inputs a task could not use, reported the same way by every task: a "skipped" list in the task's JSON and
// one console line that says how many, shows the first few and where the full list is.
import { basename } from "node:path";

/** An input image a task left out, with the reason (an unreadable file, usually). */
export interface SkippedImage {
  /** Dataset index. */
  index: number;
  path: string;
  reason: string;
}

/** The console line for `skipped` (undefined when nothing was skipped); `listedIn` names the JSON file. */
export function skippedLine(skipped: readonly SkippedImage[], listedIn: string): string | undefined {
  if (!skipped.length) return undefined;
  const shown = skipped.slice(0, 3).map((s) => `${basename(s.path)} (${s.reason})`).join(", ");
  return `${skipped.length} image${skipped.length > 1 ? "s" : ""} skipped: ${shown}` +
    `${skipped.length > 3 ? ", ..." : ""}; all are listed under "skipped" in ${listedIn}`;
}
