// Headless Chromium for the report's browser test: finds the system's binary and runs one page to a dumped DOM
// or a screenshot, returning the page's console lines (Chromium logs each console message and uncaught error
// to stderr as `INFO:CONSOLE...` with --enable-logging=stderr).

/** The Chromium binary: $PROTOSCOPE_CHROMIUM, else the first of the usual names on PATH; undefined if none. */
export function findChromium(): string | undefined {
  const given = Deno.env.get("PROTOSCOPE_CHROMIUM");
  if (given) return given;
  for (const name of ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]) {
    try {
      const r = new Deno.Command("which", { args: [name], stdout: "piped", stderr: "null" }).outputSync();
      const path = new TextDecoder().decode(r.stdout).trim();
      if (r.success && path) return path;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export interface PageRun {
  dom: string;
  /** The page's console messages and uncaught errors, one per line. */
  console: string[];
}

/** Loads `url` headless; with `screenshot` writes a PNG of the window (width x height) there. */
export async function runChromium(
  chromium: string,
  url: string,
  opts: { screenshot?: string; width?: number; height?: number; virtualTimeBudgetMs?: number } = {},
): Promise<PageRun> {
  // Its own profile folder per run, so runs in parallel do not share (or wait for) one.
  const profile = await Deno.makeTempDir({ prefix: "chromium-profile-" });
  try {
    const args = [
      "--headless",
      "--disable-gpu",
      "--no-sandbox",
      "--no-first-run",
      `--user-data-dir=${profile}`,
      "--enable-logging=stderr",
      "--v=0",
      `--window-size=${opts.width ?? 1280},${opts.height ?? 1600}`,
      // Waits for the page's fetches (virtual time stands still while a request is in flight) before the dump.
      ...(opts.virtualTimeBudgetMs ? [`--virtual-time-budget=${opts.virtualTimeBudgetMs}`] : []),
      ...(opts.screenshot ? [`--screenshot=${opts.screenshot}`, "--hide-scrollbars"] : ["--dump-dom"]),
      url,
    ];
    const r = await new Deno.Command(chromium, { args, stdout: "piped", stderr: "piped" }).output();
    const stderr = new TextDecoder().decode(r.stderr);
    if (!r.success) throw new Error(`${chromium} exited with ${r.code}:\n${stderr.slice(-2000)}`);
    return {
      dom: new TextDecoder().decode(r.stdout),
      console: stderr.split("\n").filter((l) => /:CONSOLE[:(]/.test(l)),
    };
  } finally {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}
