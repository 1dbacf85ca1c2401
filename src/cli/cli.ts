// Shared command-line handling for the tasks: node:util parseArgs with clear errors for bad arguments.
import { parseArgs } from "node:util";

export interface Flag {
  type: "string" | "boolean";
  help: string;
  default?: string | boolean;
  required?: boolean;
  /** A string flag given one or more times, or followed by several values (`--parts a b c`): a string[]. */
  multiple?: boolean;
}

export type Flags = Record<string, Flag>;

/** Parsed flag values by name, as parseCli returns them. */
export type FlagValues = Record<string, string | boolean | undefined>;

export class UsageError extends Error {}

// How a task is invoked, for its usage line: `deno task predict`, or `protoscope predict` in the single binary.
let usagePrefix = "deno task";
export function setUsagePrefix(prefix: string): void {
  usagePrefix = prefix;
}

export function parseCli<F extends Flags>(
  task: string,
  summary: string,
  flags: F,
  args: string[] = Deno.args,
): Record<keyof F, string | boolean | undefined> {
  const usage = () =>
    `usage: ${usagePrefix} ${task} ${
      Object.entries(flags).map((
        [k, f],
      ) => (f.required ? `--${k} ${f.type === "string" ? (f.multiple ? "X..." : "X") : ""}` : `[--${k}]`))
        .join(" ")
    }\n${summary}\n\n` +
    Object.entries(flags).map(([k, f]) =>
      `  --${k.padEnd(14)} ${f.help}${f.default !== undefined ? ` (default: ${f.default})` : ""}`
    ).join("\n");
  if (args.includes("--help") || args.includes("-h")) {
    console.log(usage());
    Deno.exit(0);
  }
  // A value that starts with "-" (e.g. `--k -1`) would be taken for an option: attach it to its flag, so the
  // flag's own check says what is wrong with it.
  args = args.flatMap((arg, i) => {
    const flag = /^--([^=]+)$/.exec(arg)?.[1];
    const next = args[i + 1];
    if (flag && flags[flag]?.type === "string" && next !== undefined && /^-\d/.test(next)) {
      return [`${arg}=${next}`];
    }
    if (i > 0 && /^-\d/.test(arg) && flags[/^--([^=]+)$/.exec(args[i - 1])?.[1] ?? ""]?.type === "string") {
      return [];
    }
    return [arg];
  });
  // `--flag a b c` of a multiple flag means `--flag a --flag b --flag c`.
  args = args.flatMap((arg, i) => {
    if (arg.startsWith("-") || i === 0) return [arg];
    let j = i - 1;
    while (j >= 0 && !args[j].startsWith("-")) j--;
    const flag = j >= 0 ? /^--([^=]+)$/.exec(args[j])?.[1] : undefined;
    return flag && flags[flag]?.multiple && j < i - 1 ? [`--${flag}`, arg] : [arg];
  });
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    const options = Object.fromEntries(
      Object.entries(flags).map((
        [k, f],
      ) => [k, {
        type: f.type,
        ...(f.multiple ? { multiple: true } : {}),
        ...(f.default !== undefined ? { default: f.default } : {}),
      }]),
    );
    values = parseArgs({ args, options: options as never, strict: true, allowPositionals: false })
      .values as never;
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${usage()}`);
  }
  const required = Object.keys(flags).filter((k) => flags[k].required);
  const missing = required.filter((k) => values[k] === undefined || values[k] === "");
  if (missing.length === 1 && required.length === 1) {
    throw new UsageError(`--${missing[0]} is required: ${flags[missing[0]].help}\n\n${usage()}`);
  }
  if (missing.length) {
    // Name every required flag, so one run shows all that a command needs.
    const names = required.map((k) => `--${k}`);
    throw new UsageError(
      `${names.slice(0, -1).join(", ")} and ${names.at(-1)} are required; missing ${
        missing.map((k) => `--${k} (${flags[k].help})`).join(", ")
      }\n\n${usage()}`,
    );
  }
  return values as Record<keyof F, string | boolean | undefined>;
}

/** A flag's value as a number; a blank string is no number (Number("") would be 0). */
function numberOf(value: string | boolean): number {
  return typeof value === "string" && value.trim() === "" ? NaN : Number(value);
}

export function intArg(name: string, value: string | boolean | undefined, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = numberOf(value);
  if (!Number.isInteger(n) || n < min) {
    throw new UsageError(`--${name} expects an integer >= ${min}, got '${value}'`);
  }
  return n;
}

export function floatArg(name: string, value: string | boolean | undefined, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const n = numberOf(value);
  if (!Number.isFinite(n) || n < min) {
    throw new UsageError(`--${name} expects a number${min > -Infinity ? ` >= ${min}` : ""}, got '${value}'`);
  }
  return n;
}

export function choiceArg<const T extends string>(
  name: string,
  value: string | boolean | undefined,
  choices: readonly T[],
): T {
  if (typeof value !== "string" || !choices.includes(value as T)) {
    throw new UsageError(`--${name} expects one of ${choices.join("|")}, got '${value}'`);
  }
  return value as T;
}

/**
 * Runs a task's main; usage errors print their message and exit 2, other errors one line (`<prefix>: message`,
 * the prefix "error" unless the task names itself) and exit 1, instead of a stack trace.
 */
export async function runTask(main: () => Promise<void>, prefix = "error"): Promise<void> {
  try {
    await main();
    Deno.exit(0);
  } catch (e) {
    const err = e as Error;
    if (e instanceof UsageError) console.error(err.message);
    else if (Deno.env.get("PROTOSCOPE_DEBUG")) console.error(err);
    else console.error(`${prefix}: ${err.message}`);
    Deno.exit(e instanceof UsageError ? 2 : 1);
  }
}
