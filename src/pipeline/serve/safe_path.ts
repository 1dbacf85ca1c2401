// The one door from a request to the file system: a path asked for under /files/ becomes a file of the run
// folder only if it stays inside it. Refused: absolute paths, `..` and `.` segments (also percent-encoded,
// which URL parsing does not fold), hidden names (the lock file, temporaries), NUL bytes, backslashes, and any
// symbolic link on the way (a link inside the folder may point anywhere).
import { join, resolve, sep } from "node:path";
import { HttpError } from "./http_error.ts";

/**
 * The real path of `requested` (URL-decoded, relative to the run folder) inside `root`, a folder given as its
 * real path; throws an HttpError (400, 403 or 404) that says why otherwise.
 */
export async function resolveRunFile(root: string, requested: string): Promise<string> {
  let path: string;
  try {
    path = decodeURIComponent(requested);
  } catch {
    throw new HttpError(400, `bad percent-encoding in the path ${JSON.stringify(requested)}`);
  }
  if (path.includes("\0") || path.includes("\\")) {
    throw new HttpError(400, "a path with NUL bytes or backslashes is refused");
  }
  if (path.startsWith("/") || /^[A-Za-z]:/.test(path)) {
    throw new HttpError(403, "absolute paths are refused: ask for a path relative to the run folder");
  }
  const segments = path.split("/").filter((s) => s !== "");
  if (segments.length === 0) throw new HttpError(404, "no file named");
  if (segments.some((s) => s === ".." || s === ".")) {
    throw new HttpError(403, "'..' and '.' segments are refused: the server serves only the run folder");
  }
  if (segments.some((s) => s.startsWith("."))) throw new HttpError(403, "hidden files are not served");
  let at = root;
  for (const s of segments) {
    at = join(at, s);
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(at);
    } catch {
      throw new HttpError(404, `${segments.join("/")}: no such file in the run folder`);
    }
    if (info.isSymlink) throw new HttpError(403, `${segments.join("/")}: symbolic links are not served`);
  }
  // Belt and braces: the resolved path must still lie under the root.
  const real = await Deno.realPath(at);
  if (real !== root && !real.startsWith(resolve(root) + sep)) {
    throw new HttpError(403, `${segments.join("/")}: outside the run folder`);
  }
  return real;
}
