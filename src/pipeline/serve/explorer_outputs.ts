// What the explorer has computed in a run folder (<run>/explorer/contrast/<A>-not-<B>/ and
// <run>/explorer/shifting/<A>-<B>/), for the run overview: the report reads the run's task outputs one level
// deep and would not find these, and they are what a user made in earlier sessions. Only completed outputs
// (manifest "complete": true) are listed; a cancelled or failed job leaves none.
import { join } from "node:path";
import { exists, readJsonIfExists } from "../../io/atomic.ts";
import { escapeHtml, num, pct } from "../report/html.ts";

export interface ExplorerContrast {
  a: number;
  b: number;
  aName?: string;
  bName?: string;
  /** Share of A's positions on A's side of the hyperplane (the mask's support), and B's for B, not A. */
  keptShare: [number, number | undefined];
  relError: [number, number | undefined];
  /** Relative to the run folder. */
  folder: string;
  figure: string;
}

export interface ExplorerShifting {
  a: number;
  b: number;
  offsets: number[];
  pTo: number[];
  folder: string;
  figure?: string;
}

export interface ExplorerOutputs {
  contrasts: ExplorerContrast[];
  shifting: ExplorerShifting[];
}

interface Direction {
  from: number;
  to: number;
  fromName?: string;
  toName?: string;
  keptShare: number;
  relError: number;
}

/** The completed subfolders of <root>/<folder>, sorted by name. */
async function completedFolders(root: string, folder: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(join(root, folder))) {
      if (e.isDirectory && !e.name.startsWith(".")) names.push(e.name);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  const done: string[] = [];
  for (const name of names.sort((x, y) => x.localeCompare(y, "en", { numeric: true }))) {
    const manifest = await readJsonIfExists<{ complete?: boolean }>(join(root, folder, name, "manifest.json"))
      .catch(() => undefined);
    if (manifest?.complete === true) done.push(`${folder}/${name}`);
  }
  return done;
}

/** The contrasts and shifting curves under <root>/<explorerFolder>/. */
export async function readExplorerOutputs(root: string, explorerFolder: string): Promise<ExplorerOutputs> {
  const contrasts: ExplorerContrast[] = [];
  for (const folder of await completedFolders(root, `${explorerFolder}/contrast`)) {
    const r = await readJsonIfExists<Direction & { figure: string; reverse?: Direction }>(
      join(root, folder, "contrast.json"),
    ).catch(() => undefined);
    if (!r || typeof r.figure !== "string" || !(await exists(join(root, folder, r.figure)))) continue;
    contrasts.push({
      a: r.from,
      b: r.to,
      aName: r.fromName,
      bName: r.toName,
      keptShare: [r.keptShare, r.reverse?.keptShare],
      relError: [r.relError, r.reverse?.relError],
      folder,
      figure: `${folder}/${r.figure}`,
    });
  }
  const shifting: ExplorerShifting[] = [];
  for (const folder of await completedFolders(root, `${explorerFolder}/shifting`)) {
    const r = await readJsonIfExists<{
      settings: { offsets: number[] };
      runs: { figure?: string; pairs: { from: number; to: number; pTo: number[] }[] }[];
    }>(join(root, folder, "shifting_test.json")).catch(() => undefined);
    const pair = r?.runs?.[0]?.pairs?.[0];
    if (!r || !pair) continue;
    const figure = r.runs[0].figure;
    shifting.push({
      a: pair.from,
      b: pair.to,
      offsets: r.settings.offsets,
      pTo: pair.pTo,
      folder,
      ...(figure ? { figure: `${folder}/${figure}` } : {}),
    });
  }
  return { contrasts, shifting };
}

/**
 * The overview's section for them: one row per contrast and per shifting curve, each with its figure (served
 * from `fileUrl`) and a link that opens it in the contrast view (answered from the run folder).
 */
export function explorerSection(outputs: ExplorerOutputs, fileUrl: (path: string) => string): string {
  if (!outputs.contrasts.length && !outputs.shifting.length) return "";
  const label = (c: number, name?: string) => escapeHtml(name ? `${c} ${name}` : String(c));
  const thumb = (path: string, alt: string) =>
    `<a href="${escapeHtml(fileUrl(path))}"><img class="thumb" alt="${escapeHtml(alt)}" src="${
      escapeHtml(fileUrl(path))
    }"></a>`;
  const contrastRows = outputs.contrasts.map((c) =>
    `<tr data-contrast="${c.a},${c.b}"><td><a href="#contrast=${c.a},${c.b}">why ${
      label(c.a, c.aName)
    }, not ${label(c.b, c.bName)}</a></td><td>${pct(c.keptShare[0])} / ${pct(c.keptShare[1])}</td><td>${
      num(c.relError[0], 3)
    } / ${num(c.relError[1], 3)}</td><td><code>${escapeHtml(c.folder)}</code></td><td>${
      thumb(c.figure, `why ${c.a}, not ${c.b}`)
    }</td></tr>`
  ).join("");
  const shiftingRows = outputs.shifting.map((s) =>
    `<tr data-shifting="${s.a},${s.b}"><td><a href="#shifting=${s.a},${s.b}">${s.a} towards ${s.b}</a></td><td>${
      s.offsets.map((o, i) => `${o}: ${num(s.pTo[i], 3)}`).join(", ")
    }</td><td><code>${escapeHtml(s.folder)}</code></td><td>${
      s.figure ? thumb(s.figure, `shifting ${s.a} towards ${s.b}`) : ""
    }</td></tr>`
  ).join("");
  return `<section id="explorer-outputs"><h2>Computed in the explorer</h2>` +
    (contrastRows
      ? `<h3>Why A, not B (${outputs.contrasts.length})</h3><table><thead><tr><th>pair</th>` +
        `<th>positions kept (A not B / B not A)</th><th>NMF relative error</th><th>folder</th><th>figure</th>` +
        `</tr></thead><tbody>${contrastRows}</tbody></table>`
      : "") +
    (shiftingRows
      ? `<h3>Shifting curves (${outputs.shifting.length})</h3><table><thead><tr><th>pair</th>` +
        `<th>p(B) at each offset</th><th>folder</th><th>figure</th></tr></thead><tbody>${shiftingRows}</tbody></table>`
      : "") +
    `</section>`;
}
