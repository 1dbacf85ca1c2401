// The report stage: reads a run folder and writes one self-contained HTML file describing it.
import { dirname, resolve } from "node:path";
import { writeFileAtomic } from "../../io/atomic.ts";
import { checkWritableFolder } from "../../io/out_dir.ts";
import { buildReportHtml, type ReportOptions } from "./report_page.ts";
import { checkRunFolder, readRunFolder } from "./run_folder.ts";

export interface ReportJob extends ReportOptions {
  run: string;
  out: string;
}

export interface ReportResult {
  out: string;
  bytes: number;
  classes: number;
  sections: { component: boolean; hyperplanes: boolean; contrastTests: number; otherOutputs: number };
}

export async function writeReport(job: ReportJob): Promise<ReportResult> {
  if (!/\.html?$/i.test(job.out)) throw new Error(`--out ${job.out}: expected an .html file name`);
  await checkRunFolder(job.run);
  await checkWritableFolder(dirname(resolve(job.out)), "--out's folder");
  const contents = await readRunFolder(job.run);
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
  };
}
