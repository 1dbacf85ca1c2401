// `deno task serve`: a local web server over one run folder (Deno.serve; the routes are few and fixed, so a
// table here serves where a router package would add a dependency). The page app (app_page.ts) and its JSON
// API:
//   GET  /api/classes[?q=&page=&size=]   the classes: index, name, has prototypes (paged, searchable)
//   GET  /api/classes/<c>                one class: its figures, component test record, prototype count
//   GET  /api/overview                   the run folder's name, what the explorer computed there, the report's
//                                        sections (component test, hyperplanes, curves, ...)
//   POST /api/decompose?class=C          body: image bytes -> top-5, per prototype share and overlay, errors
//   POST /api/where?a=A&b=B              body: image bytes -> where it looks like A rather than B (a map)
//   POST /api/contrast?a=A&b=B           job: why A, not B (and B, not A); POST /api/shifting?a=A&b=B likewise
//   GET  /api/jobs/<id>                  a job's state and events; /api/jobs/<id>/events streams them (SSE)
//   DELETE /api/jobs/<id>                cancels a job
//   GET  /files/<path>                   a file of the run folder (safe_path.ts)
// Every refusal is a 4xx JSON `{ error }` that names what was wrong; no request ends the server.
import { basename, extname } from "node:path";
import { checkRunFolder } from "../report/run_folder.ts";
import { reportSections } from "../report/report_page.ts";
import { APP_PAGE } from "./app_page.ts";
import { errorResponse, HttpError, json } from "./http_error.ts";
import { readCappedBody, UPLOAD_CAP_BYTES } from "./request_body.ts";
import { resolveRunFile } from "./safe_path.ts";
import { Explorer, EXPLORER_FOLDER, type ExplorerOptions, fileUrl } from "./explorer.ts";
import { explorerSection, readExplorerOutputs } from "./explorer_outputs.ts";
import type { Job, JobEvent } from "./job_queue.ts";

export interface ServeOptions extends ExplorerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Largest upload in bytes (default UPLOAD_CAP_BYTES). */
  uploadCap?: number;
  /** One line per request (default: none). */
  log?: (line: string) => void;
}

export interface RunningServer {
  url: string;
  explorer: Explorer;
  /** Resolves when the server has stopped. */
  finished: Promise<void>;
  shutdown(): Promise<void>;
}

export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_PORT = 8080;

const CONTENT_TYPES: Record<string, string> = {
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".json": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".csv": "text/plain; charset=utf-8",
  ".html": "text/html; charset=utf-8",
};

/** Whether a host name binds only the loopback interface. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  await checkRunFolder(opts.run);
  const root = await Deno.realPath(opts.run);
  const explorer = await Explorer.open(root, opts);
  const cap = opts.uploadCap ?? UPLOAD_CAP_BYTES;
  const handle = route(explorer, cap);
  const server = Deno.serve({
    hostname: opts.host ?? DEFAULT_HOST,
    port: opts.port ?? DEFAULT_PORT,
    onListen: () => {},
    onError: errorResponse,
  }, async (req) => {
    const start = performance.now();
    let res: Response;
    try {
      res = await handle(req);
    } catch (e) {
      res = errorResponse(e);
    }
    res.headers.set("x-content-type-options", "nosniff");
    opts.log?.(
      `${req.method} ${new URL(req.url).pathname} ${res.status} ${(performance.now() - start).toFixed(0)} ms`,
    );
    return res;
  });
  const addr = server.addr as Deno.NetAddr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return {
    url: `http://${host}:${addr.port}`,
    explorer,
    finished: server.finished,
    async shutdown() {
      await server.shutdown();
      await explorer.close();
    },
  };
}

function route(explorer: Explorer, cap: number): (req: Request) => Promise<Response> {
  return async (req) => {
    const url = new URL(req.url);
    const path = url.pathname;
    const method = req.method;
    const only = (m: string) => {
      if (method !== m) throw new HttpError(405, `${path} answers ${m} only, not ${method}`);
    };
    if (path === "/" || path === "/index.html") {
      only("GET");
      return new Response(APP_PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    if (path.startsWith("/files/")) {
      only("GET");
      return await serveFile(explorer.root, path.slice("/files/".length));
    }
    if (path === "/api/classes") {
      only("GET");
      return json(pageOfClasses(explorer, url.searchParams));
    }
    let m = path.match(/^\/api\/classes\/([^/]+)$/);
    if (m) {
      only("GET");
      return json(explorer.classDetail(explorer.classArg(decodeURIComponent(m[1]), "class")));
    }
    if (path === "/api/overview") {
      only("GET");
      const sections = await reportSections(explorer.contents, { classes: false });
      const computed = explorerSection(await readExplorerOutputs(explorer.root, EXPLORER_FOLDER), fileUrl);
      if (computed) sections.unshift(["explorer-outputs", "computed in the explorer", computed]);
      return json({
        // The folder's name only: the page (and its screenshots) need not show where the run lies.
        run: basename(explorer.root),
        model: explorer.model ?? null,
        data: explorer.data ?? null,
        uploadCap: cap,
        sections: sections.map(([id, label, html]) => ({ id, label, html })),
      });
    }
    if (path === "/api/decompose") {
      only("POST");
      // The class is checked before the body is read: a bad class costs no upload.
      const cls = explorer.classArg(url.searchParams.get("class"), "class");
      const bytes = await readCappedBody(req, cap);
      return json(await explorer.decompose(bytes, cls));
    }
    if (path === "/api/where") {
      only("POST");
      const a = explorer.classArg(url.searchParams.get("a"), "a");
      const b = explorer.classArg(url.searchParams.get("b"), "b");
      const bytes = await readCappedBody(req, cap);
      return json(await explorer.where(bytes, a, b));
    }
    if (path === "/api/contrast" || path === "/api/shifting") {
      only("POST");
      const a = explorer.classArg(url.searchParams.get("a"), "a");
      const b = explorer.classArg(url.searchParams.get("b"), "b");
      const job = path === "/api/contrast" ? explorer.submitContrast(a, b) : explorer.submitShifting(a, b);
      return json(job.view(), 202);
    }
    if (path === "/api/jobs") {
      only("GET");
      return json([...explorer.queue.jobs.values()].map((j) => j.view()));
    }
    m = path.match(/^\/api\/jobs\/(\d+)(\/events)?$/);
    if (m) {
      const job = explorer.queue.jobs.get(m[1]);
      if (!job) throw new HttpError(404, `no job ${m[1]}`);
      if (m[2]) {
        only("GET");
        return eventStream(job);
      }
      if (method === "DELETE") return json({ ...job.view(), cancelled: explorer.queue.cancel(job.id) });
      only("GET");
      return json({ ...job.view(), result: job.result ?? null, error: job.error ?? null, log: job.events });
    }
    throw new HttpError(404, `no such page or API: ${path}`);
  };
}

async function serveFile(root: string, requested: string): Promise<Response> {
  const path = await resolveRunFile(root, requested);
  const info = await Deno.stat(path);
  if (!info.isFile) throw new HttpError(404, `${decodeURIComponent(requested)}: a folder, not a file`);
  const type = CONTENT_TYPES[extname(path).toLowerCase()] ?? "application/octet-stream";
  const file = await Deno.open(path);
  return new Response(file.readable, {
    headers: { "content-type": type, "content-length": String(info.size), "cache-control": "no-cache" },
  });
}

/** GET /api/classes: filtered by `q` (name or index substring), paged by `page` (1-based) and `size`. */
function pageOfClasses(explorer: Explorer, params: URLSearchParams) {
  const q = (params.get("q") ?? "").trim().toLowerCase();
  const size = intParam(params, "size", 50, 1, 1000);
  const page = intParam(params, "page", 1, 1, Number.MAX_SAFE_INTEGER);
  const matching = explorer.classes().filter((c) =>
    !q || String(c.index) === q || c.name.toLowerCase().includes(q) || String(c.index).startsWith(q)
  );
  const pages = Math.max(1, Math.ceil(matching.length / size));
  return {
    total: matching.length,
    page,
    pages,
    size,
    classes: matching.slice((page - 1) * size, page * size),
  };
}

function intParam(params: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const v = params.get(name);
  if (v === null || v === "") return fallback;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new HttpError(400, `?${name}=${v}: expected an integer from ${min} to ${max}`);
  }
  return Number(v);
}

/** A job's events as server-sent events: the past ones, then live ones until the job ends. */
function eventStream(job: Job): Response {
  const encoder = new TextEncoder();
  let stop = () => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (e: JobEvent) => {
        try {
          controller.enqueue(encoder.encode(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`));
          if (e.type === "done" || e.type === "error" || e.type === "cancelled") {
            queueMicrotask(() => {
              stop();
              controller.close();
            });
          }
        } catch {
          stop();
        }
      };
      stop = job.listen(send);
    },
    cancel() {
      stop();
    },
  });
  return new Response(body, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
  });
}
