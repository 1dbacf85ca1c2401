// The report stage: reads a run folder and writes one self-contained HTML file describing it.
import { dirname, resolve } from "node:path";
import { writeFileAtomic } from "../../io/atomic.ts";
import { UsageError } from "../../cli/cli.ts";
import { parseClassList } from "../../data/class_names.ts";
import { checkWritableFolder } from "../../io/out_dir.ts";
import { buildReportHtml, type ReportOptions } from "./report_page.ts";
import { checkRunFolder, readRunFolder, type RunProblem } from "./run_folder.ts";

export interface ReportJob extends ReportOptions {
  run: string;
  out: string;
  /**
   * Classes whose images are inlined, as a `--classes` list (indices, ranges, names; default all). Every class
   * stays in the list; this bounds the file when the prototype grids of 1000 classes would make it hundreds of
   * MB.
   */
  classes?: string;
}

export interface ReportResult {
  out: string;
  bytes: number;
  classes: number;
  sections: { component: boolean; hyperplanes: boolean; contrastTests: number; otherOutputs: number };
  /** Unreadable or inconsistent inputs: in the page's problems box and on stderr. */
  problems: RunProblem[];
}

export async function writeReport(job: ReportJob): Promise<ReportResult> {
  if (!/\.html?$/i.test(job.out)) throw new Error(`--out ${job.out}: expected an .html file name`);
  await checkRunFolder(job.run);
  await checkWritableFolder(dirname(resolve(job.out)), "--out's folder");
  const contents = await readRunFolder(job.run);
  if (contents.problems.length) {
    console.error(
      `warning: ${job.run}: ${contents.problems.length} unreadable or inconsistent input${
        contents.problems.length > 1 ? "s" : ""
      } (the report's problems box lists them too):`,
    );
    for (const p of contents.problems) console.error(`  ${p.path}: ${p.problem}`);
  }
  if (job.classes !== undefined) {
    const k = Math.max(0, ...contents.classes.keys()) + 1;
    const names: string[] = Array.from({ length: k }, (_, c) => contents.classes.get(c)?.name ?? "");
    let keep: Set<number>;
    try {
      keep = new Set(parseClassList(job.classes, k, names));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    for (const e of contents.classes.values()) if (!keep.has(e.class)) e.images = [];
  }
  const html = await buildReportHtml(contents, { ...job, title: job.title ?? job.run });
  const bytes = new TextEncoder().encode(html);
  await writeFileAtomic(job.out, bytes);
  return {
    out: job.out,
    bytes: bytes.length,
    classes: contents.classes.size,
    sections: {
      component: !!contents.component,
      hyperplanes: !!contents.hyperplanes,
      contrastTests: contents.contrastTests.length,
      otherOutputs: contents.generic.length,
    },
    problems: contents.problems,
  };
}
