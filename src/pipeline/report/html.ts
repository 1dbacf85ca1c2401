// Small HTML-building helpers for the report: escaping, data: URIs, tables, and JSON that is safe inside a
// <script type="application/json"> block (where the report keeps its lazy images).

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** Base64 of bytes, through btoa in chunks (String.fromCharCode takes a bounded argument list). */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** A JPEG (or PNG) as a data: URI, so the report needs no file beside it. */
export function dataUri(bytes: Uint8Array, mime = "image/jpeg"): string {
  return `data:${mime};base64,${encodeBase64(bytes)}`;
}

/**
 * JSON for a <script type="application/json"> block: "<" is escaped so that no string inside can close the
 * block ("</script>") or open a comment.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}

/** A table with a header row; cells are escaped text. */
export function htmlTable(head: string[], rows: string[][], className = ""): string {
  const cls = className ? ` class="${className}"` : "";
  return `<table${cls}><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead>` +
    `<tbody>${
      rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join("")}</tr>`).join("")
    }</tbody></table>`;
}

/** A number for a table: fixed digits, or the plain text of NaN/Infinity/undefined. */
export function num(x: number | undefined | null, digits = 4): string {
  if (x === undefined || x === null) return "";
  return Number.isFinite(x) ? x.toFixed(digits) : String(x);
}

export function pct(x: number | undefined): string {
  return x === undefined ? "" : `${(100 * x).toFixed(1)}%`;
}
