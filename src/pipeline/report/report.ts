// The report stage: reads a run folder and writes an HTML file describing it: self-contained up to one page of
// classes; beyond, the class list's other rows and the class images in `<name>_files/` beside it, so that the
// page's own size and opening time stay flat in K (issue 17: 1000 classes open in under 2 s).
import { basename, dirname, join, resolve } from "node:path";
import { writeFileAtomic } from "../../io/atomic.ts";
import { UsageError } from "../../cli/cli.ts";
import { parseClassList } from "../../data/class_names.ts";
import { checkWritableFolder } from "../../io/out_dir.ts";
import { buildReportHtml, type PageAssets, type ReportOptions } from "./report_page.ts";
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
  /** The page's bytes (without the folder beside it). */
  bytes: number;
  /** The folder beside the page and its files' bytes (absent when the page holds everything). */
  assets?: { dir: string; files: number; bytes: number };
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
  const assetsName = `${basename(job.out).replace(/\.html?$/i, "")}_files`;
  const assets: PageAssets = { dir: assetsName, files: new Map() };
  const html = await buildReportHtml(contents, { ...job, title: job.title ?? job.run, assets });
  const bytes = new TextEncoder().encode(html);
  const written = await replaceAssetFolder(join(dirname(job.out), assetsName), assets.files);
  await writeFileAtomic(job.out, bytes);
  return {
    out: job.out,
    bytes: bytes.length,
    ...(written ? { assets: written } : {}),
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

/**
 * Writes the page's files into a fresh folder and then puts it in place of `dir`, so that the page never meets
 * a mix of this and an earlier report's files; with no files, an earlier report's folder goes.
 */
async function replaceAssetFolder(
  dir: string,
  files: Map<string, string>,
): Promise<{ dir: string; files: number; bytes: number } | undefined> {
  const old = `${dir}.old-${Deno.pid}`;
  const hadOld = await Deno.rename(dir, old).then(() => true, (e) => {
    if (e instanceof Deno.errors.NotFound) return false;
    throw new Error(`${dir}: cannot replace the report's folder (${(e as Error).message})`);
  });
  try {
    if (!files.size) return undefined;
    const fresh = `${dir}.new-${Deno.pid}`;
    await Deno.remove(fresh, { recursive: true }).catch(() => {});
    await Deno.mkdir(fresh);
    let bytes = 0;
    const encoder = new TextEncoder();
    for (const [name, text] of files) {
      const data = encoder.encode(text);
      bytes += data.length;
      await Deno.writeFile(join(fresh, name), data);
    }
    await Deno.rename(fresh, dir);
    return { dir, files: files.size, bytes };
  } finally {
    if (hadOld) await Deno.remove(old, { recursive: true });
  }
}
