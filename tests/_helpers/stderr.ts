// What code prints with console.error, for tests that check a warning reaches the console.

/** Runs `fn` with console.error captured; returns what it printed, one line per call (rethrows what it threw). */
export async function stderrOf(fn: () => Promise<unknown>): Promise<string> {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    await fn();
  } finally {
    console.error = original;
  }
  return lines.join("\n");
}
