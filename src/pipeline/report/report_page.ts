// Builds the report's HTML page from what a run folder holds (run_folder.ts): tables and inline SVG charts for
// the summaries, and the per-class images kept as base64 in <script type="application/json"> blocks that the
// page's small script turns into <img> only when that class is shown. A run of at most one page of classes is
// one self-contained file. Beyond, with `assets` (writeReport), the page's size is flat in K: it holds the first
// page of the class list, and the other rows and every class's images go to files in a folder beside it that
// the script loads by <script src> when asked (file:// allows that, not fetch). No URL outside them is used.
import { cropCaption } from "../search/crop_patches.ts";
import { stepQuartiles } from "../contrast/sanity_checks/step_figure.ts";
import type { Variant } from "../component_test/component_test_run.ts";
import { VARIANT_TITLES, VARIANTS } from "../component_test/component_test_run.ts";
import { summaryFootnote, summaryTableCells } from "../contrast/sanity_checks/contrast_summary.ts";
import { dataUri, escapeHtml, htmlTable, num, pct, scriptJson } from "./html.ts";
import {
  contrastSteps,
  type ContrastTestEntry,
  type ImageRef,
  type ManifestEntry,
  type RunContents,
  type RunProblem,
} from "./run_folder.ts";
import { curvesSvg, heatMapSvg, histogramSvg } from "./svg_charts.ts";
import { join, sep } from "node:path";
import { PAGE_SCRIPT, PAGE_STYLE } from "./page_assets.ts";

export interface ReportOptions {
  /** Shown in the header (the run folder as given). */
  title?: string;
  /** Classes per page of the class list (default 50). */
  pageSize?: number;
  /** Reads an image's bytes (default: Deno.readFile); a missing image is named in the page, not fatal. */
  readImage?: (path: string) => Promise<Uint8Array>;
  /** Where the class list beyond its first page goes (absent: everything inline, as the explorer wants). */
  assets?: PageAssets;
}

/** Files beside the page, each `protoscopeData(id, data);`, which the page script loads by <script src>. */
export interface PageAssets {
  /** The folder as the page refers to it (relative to the page). */
  dir: string;
  /** File name -> its text, filled while the page is built. */
  files: Map<string, string>;
}

/** Most pairs a contrast test's table lists in the page (the run's JSON has them all). */
const PAIR_ROWS = 100;

function assetScript(id: string, data: unknown): string {
  return `protoscopeData(${JSON.stringify(id)}, ${scriptJson(data)});\n`;
}

/** A lazy image as the page script reads it: t = title, s = data: URI (or e = why it is missing). */
interface LazyImage {
  t: string;
  s?: string;
  e?: string;
}

/** One row of the class list: c = class, n = name, pa/pe = p(class) per variant, aa/ae = argmax names. */
interface ClassRow {
  c: number;
  n: string;
  pa?: number;
  pe?: number;
  aa?: string;
  ae?: string;
  ok?: [boolean, boolean];
  i: number;
}

async function lazyImages(
  refs: ImageRef[],
  read: (path: string) => Promise<Uint8Array>,
): Promise<LazyImage[]> {
  const out: LazyImage[] = [];
  for (const r of refs) {
    try {
      out.push({ t: r.title, s: dataUri(await read(r.path)) });
    } catch (e) {
      out.push({ t: r.title, e: `${r.path}: ${(e as Error).message}` });
    }
  }
  return out;
}

function section(id: string, title: string, body: string): string {
  return `<section id="${id}"><h2>${escapeHtml(title)}</h2>${body}</section>`;
}

function componentSection(contents: RunContents): string {
  const c = contents.component;
  if (!c) return "";
  const r = c.report, s = r.settings;
  const head = ["variant", "passed", "pass rate", "mean p", "std p", "p>0.1", "p>0.2", "p>0.5"];
  const rows = VARIANTS.map((v: Variant) => {
    const x = r.summary[v];
    return [
      VARIANT_TITLES[v],
      `${x.passed}/${x.classes}`,
      pct(x.passRate),
      num(x.meanP),
      num(x.stdP),
      pct(x.shareAbove["0.1"]),
      pct(x.shareAbove["0.2"]),
      pct(x.shareAbove["0.5"]),
    ];
  });
  const histogram = histogramSvg("p(class) of the composites", "p(class)", [
    { label: "all images", color: "#2b6cb0", values: r.classes.map((x) => x.allImages.pClass) },
    { label: "target excluded", color: "#dd6b20", values: r.classes.map((x) => x.targetExcluded.pClass) },
  ]);
  const crops = cropCaption(s.cropSize, s.cropPatches ?? 1, s.composite !== undefined);
  const about = `${r.classes.length} classes, k = ${s.k} crops of ${crops} per composite ` +
    `(${s.layer}, ${s.pooledGrid[0]}x${s.pooledGrid[1]} grid), from <code>${escapeHtml(c.folder)}</code>` +
    // A transformer tap's composites are laid out otherwise (component_test_run.ts): say how.
    (s.composite ? `. ${escapeHtml(s.composite)}` : "");
  return section(
    "component",
    "Component prediction test",
    `<p>${about}</p>${htmlTable(head, rows, "summary")}<div class="figure">${histogram}</div>`,
  );
}

function classRows(contents: RunContents): ClassRow[] {
  return [...contents.classes.values()].sort((a, b) => a.class - b.class).map((e) => {
    const row: ClassRow = { c: e.class, n: e.name ?? "", i: e.images.length };
    if (e.component) {
      const a = e.component.allImages, x = e.component.targetExcluded;
      Object.assign(row, {
        pa: Number(a.pClass.toFixed(4)),
        pe: Number(x.pClass.toFixed(4)),
        aa: String(a.argmaxName ?? a.argmax),
        ae: x.noCrops ? "(no crops)" : String(x.argmaxName ?? x.argmax),
        ok: [a.pass, x.pass],
      });
    }
    return row;
  });
}

async function classesSection(
  contents: RunContents,
  read: (path: string) => Promise<Uint8Array>,
  pageSize: number,
  assets: PageAssets | undefined,
): Promise<string> {
  if (!contents.classes.size) return "";
  const rows = classRows(contents);
  // More than one page: only the first page's rows stay in the page; images and the other rows go beside it.
  const deferred = assets && rows.length > pageSize ? assets : undefined;
  const blocks: string[] = [];
  for (const e of [...contents.classes.values()].sort((a, b) => a.class - b.class)) {
    if (!e.images.length) continue;
    const images = await lazyImages(e.images, read);
    if (deferred) deferred.files.set(`img-${e.class}.js`, assetScript(`img-${e.class}`, images));
    else blocks.push(`<script type="application/json" id="img-${e.class}">${scriptJson(images)}</script>`);
  }
  if (deferred) deferred.files.set("rows.js", assetScript("rows", rows));
  const where = deferred ? ` data-assets="${escapeHtml(deferred.dir)}"` : "";
  const body =
    `<p>Per class: its prototype grid, the explanation figure and the composites of the component ` +
    `test, where the run has them. Search by class name or index; click a row to show the class.</p>` +
    `<div class="controls"><input id="class-search" type="search" placeholder="class name or index" ` +
    `aria-label="search classes"> <button id="prev" type="button">&lt;</button> <span id="page-info"></span> ` +
    `<button id="next" type="button">&gt;</button></div>` +
    `<table class="classes"><thead><tr><th>class</th><th>name</th><th>p (all)</th><th>argmax (all)</th>` +
    `<th>p (excl.)</th><th>argmax (excl.)</th><th>images</th></tr></thead><tbody id="class-rows"></tbody></table>` +
    `<div id="class-page" class="class-page"></div>` +
    `<script type="application/json" id="class-index" data-page-size="${pageSize}" ` +
    `data-total="${rows.length}"${where}>${scriptJson(deferred ? rows.slice(0, pageSize) : rows)}</script>` +
    blocks.join("\n");
  return section("classes", `Classes (${contents.classes.size})`, body);
}

async function hyperplaneSection(contents: RunContents): Promise<string> {
  const h = contents.hyperplanes;
  if (!h) return "";
  const values = [...h.accuracy].filter(Number.isFinite);
  const mean = values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
  // K(K-1) values: a spread into Math.min overflows the stack at K = 1000 (the rehearsal found it).
  const min = values.length ? values.reduce((a, b) => (b < a ? b : a)) : NaN;
  const info = htmlTable([
    "classes",
    "pairs with a hyperplane",
    "mean accuracy",
    "min accuracy",
    "trained",
    "derived",
  ], [[
    `${h.index.classes.length} of ${h.k}`,
    String(values.length),
    num(mean),
    num(min),
    String(h.index.pairs.trained),
    String(h.index.pairs.derived),
  ]], "summary");
  const map = await heatMapSvg("training accuracy of the hyperplane (i, j)", h.accuracy, h.k, {
    row: "class i (label 0)",
    column: "class j (label 1)",
    value: "accuracy",
  });
  const folder = join(contents.root, h.folder);
  const bad = contents.problems.filter((p) => p.path.startsWith(folder + sep)).length;
  const warning = bad
    ? `<p class="missing">${bad} of this folder's files could not be used (see the problems at the top): ` +
      "their pairs show as no pair and are left out of these numbers.</p>"
    : "";
  return section(
    "hyperplanes",
    "Hyperplanes",
    `${warning}<p>From <code>${escapeHtml(h.folder)}</code>, layer ${
      escapeHtml(h.index.layer ?? "?")
    }, ${h.index.channels} ` +
      `channels.</p>${info}<div class="figure">${map}</div>`,
  );
}

async function contrastSection(
  t: ContrastTestEntry,
  n: number,
  read: (path: string) => Promise<Uint8Array>,
): Promise<string> {
  const r = t.report;
  const steps = contrastSteps(r);
  const pairs = r.runs.flatMap((run) => run.pairs);
  const pTo = stepQuartiles(pairs.map((p) => p.pTo));
  const pFrom = stepQuartiles(pairs.map((p) => p.pFrom));
  const name = t.file.replace(/_test\.json$|\.json$/, "");
  const xLabel = steps.key === "offsets"
    ? "offset along the normal"
    : steps.key === "levels"
    ? "mask level (0 = whole image)"
    : steps.key;
  const chart = curvesSvg(
    `${name} test: p(j) and p(i) over ${pairs.length} pairs`,
    xLabel,
    "mean softmax",
    steps.values,
    [
      { label: "p(j), target", color: "#2b6cb0", ...pTo },
      { label: "p(i), source", color: "#c53030", ...pFrom, dashed: true },
    ],
  );
  const { head, rows } = summaryTableCells(r.summary.perRun, r.summary.overRuns);
  const pairRows = pairs.slice(0, PAIR_ROWS).map((p) => [
    `${p.from} → ${p.to}`,
    String(p.images),
    num(p.pTo[0]),
    num(Math.max(...p.pTo.slice(1))),
    num(p.pFrom[0]),
  ]);
  // The run's own JPEG of the curves says what the SVG above says: kept, but folded and decoded only on demand.
  const figures = await lazyDetails(
    `fig-${n}`,
    `the run's figure${t.figures.length > 1 ? "s" : ""}`,
    t.figures,
    read,
  );
  return section(
    `contrast-${n}`,
    `${name[0].toUpperCase()}${name.slice(1)} test`,
    `<p>From <code>${escapeHtml(t.folder)}/${
      escapeHtml(t.file)
    }</code>; lines are medians over pairs, bands ` +
      `the quartiles.</p>${htmlTable(head, rows, "summary")}<p><small>${
        escapeHtml(summaryFootnote(name))
      }</small></p><div class="figure">${chart}</div>` +
      `<details><summary>${pairs.length} pairs${
        pairs.length > PAIR_ROWS ? ` (the first ${PAIR_ROWS} here, all in ${escapeHtml(t.file)})` : ""
      }</summary>${
        htmlTable(["pair i → j", "images", "p(j) orig", "max p(j)", "p(i) orig"], pairRows)
      }</details>${figures}`,
  );
}

/** A folded list of images whose block the page script turns into <img> when it is opened ("" for none). */
async function lazyDetails(
  id: string,
  label: string,
  refs: ImageRef[],
  read: (path: string) => Promise<Uint8Array>,
): Promise<string> {
  if (!refs.length) return "";
  return `<details data-images="${id}"><summary>${escapeHtml(label)}</summary><div class="images"></div>` +
    `</details><script type="application/json" id="${id}">${
      scriptJson(await lazyImages(refs, read))
    }</script>`;
}

async function genericSection(
  contents: RunContents,
  read: (path: string) => Promise<Uint8Array>,
): Promise<string> {
  if (!contents.generic.length) return "";
  const parts: string[] = [];
  for (const [i, g] of contents.generic.entries()) {
    const summaries = g.summaries.map((s) =>
      `<h4>${escapeHtml(s.file)}</h4><pre>${escapeHtml(clip(JSON.stringify(s.summary, null, 2), 4000))}</pre>`
    ).join("");
    const more = g.imagesLeftOut ? ` (${g.imagesLeftOut} more in the folder, not inlined)` : "";
    const images = await lazyDetails(`gen-${i}`, `${g.images.length} images${more}`, g.images, read);
    parts.push(
      `<div class="output"><h3>${escapeHtml(g.folder)}${
        g.tasks.length ? ` <small>(${escapeHtml(g.tasks.join(", "))})</small>` : ""
      }</h3>${summaries}${images}</div>`,
    );
  }
  return section("other", "Other outputs", parts.join(""));
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}\n... (${text.length - max} more characters)`;
}

function field(m: Record<string, unknown>, ...path: string[]): unknown {
  let v: unknown = m;
  for (const p of path) v = (v as Record<string, unknown> | undefined)?.[p];
  return v;
}

function manifestSection(manifests: ManifestEntry[]): string {
  if (!manifests.length) return "";
  const rows = manifests.map(({ folder, file, manifest: m }) => {
    const sha = field(m, "model", "sha256");
    const layer = field(m, "layer", "name") ?? field(m, "settings", "layer");
    const versions = field(m, "versions") as Record<string, unknown> | undefined;
    return [
      `${folder}/${file}`,
      String(m.task ?? ""),
      typeof sha === "string" ? sha.slice(0, 12) : "",
      typeof layer === "string" ? layer : "",
      String(m.device ?? ""),
      versions ? Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(", ") : "",
      String(m.created ?? ""),
    ];
  });
  const details = manifests.map(({ folder, file, manifest }) =>
    `<details><summary>${escapeHtml(`${folder}/${file}`)}</summary><pre>${
      escapeHtml(clip(JSON.stringify(manifest, null, 2), 20000))
    }</pre></details>`
  ).join("");
  return section(
    "manifests",
    "Manifests",
    htmlTable(["file", "task", "model sha256", "layer", "device", "versions", "created"], rows) + details,
  );
}

/** The box of inputs that could not be used as their folder says, first on the page ("" when there are none). */
function problemsSection(problems: RunProblem[]): string {
  if (!problems.length) return "";
  const items = problems.map((p) => `<li><code>${escapeHtml(p.path)}</code>: ${escapeHtml(p.problem)}</li>`);
  return `<section id="problems" class="problems" role="alert"><h2>${problems.length} problem${
    problems.length > 1 ? "s" : ""
  } in the run folder</h2><p>These inputs are unreadable or do not agree with what names them; the sections ` +
    `below show only what could be read, so their numbers may leave these out.</p><ul>${
      items.join("")
    }</ul></section>`;
}

/**
 * The page's sections as [id, nav label, html]; without `classes` the class list is left out (the explorer
 * server draws its own from its API and shows these sections as the run's overview).
 */
export async function reportSections(
  contents: RunContents,
  opts: ReportOptions & { classes?: boolean } = {},
): Promise<[string, string, string][]> {
  const read = opts.readImage ?? ((p: string) => Deno.readFile(p));
  const sections: [string, string, string][] = [];
  const add = (id: string, label: string, html: string) => html && sections.push([id, label, html]);
  add("problems", `problems (${contents.problems.length})`, problemsSection(contents.problems));
  add("component", "component test", componentSection(contents));
  if (opts.classes !== false) {
    add("classes", "classes", await classesSection(contents, read, opts.pageSize ?? 50, opts.assets));
  }
  add("hyperplanes", "hyperplanes", await hyperplaneSection(contents));
  for (const [i, t] of contents.contrastTests.entries()) {
    add(`contrast-${i}`, t.file.replace(/_test\.json$|\.json$/, ""), await contrastSection(t, i, read));
  }
  add("other", "other outputs", await genericSection(contents, read));
  const outputs = htmlTable(
    ["folder", "tasks", "files"],
    contents.outputs.map((o) => [o.folder, o.tasks.join(", "), String(o.files)]),
  );
  add("outputs", "outputs", section("outputs", "Output folders", outputs));
  add("manifests", "manifests", manifestSection(contents.manifests));
  return sections;
}

/** The whole page. */
export async function buildReportHtml(contents: RunContents, opts: ReportOptions = {}): Promise<string> {
  const title = opts.title ?? contents.root;
  const sections = await reportSections(contents, opts);
  const nav = sections.map(([id, label]) => `<a href="#${id}">${escapeHtml(label)}</a>`).join(" · ");
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>protoscope report: ${escapeHtml(title)}</title><style>${PAGE_STYLE}</style></head>
<body><header><h1>protoscope report</h1><p><code>${escapeHtml(title)}</code></p><nav>${nav}</nav></header>
<main>
${sections.map(([, , html]) => html).join("\n")}
</main><script>${PAGE_SCRIPT}</script></body></html>
`;
}
