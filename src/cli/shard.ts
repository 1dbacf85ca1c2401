// `--shard k/n`: one shared parser and partitioner, so every sharded task splits its work the same way and
// `deno task merge` can rely on it. k is 1-based (1..n), as SLURM array ids are; a Kubernetes Indexed Job's
// 0-based JOB_COMPLETION_INDEX is passed as index + 1 (deploy/k8s). Shards are contiguous blocks in the order
// one run would process the items, so concatenating shard outputs in shard order gives one run's order.
import type { Flags } from "./cli.ts";
import { UsageError } from "./cli.ts";

export interface Shard {
  /** 1-based shard number, 1..count. */
  index: number;
  count: number;
}

export const SHARD_FLAG = {
  shard: {
    type: "string",
    help: "k/n: do only the k-th (1-based) of n equal parts of the work; combine with `deno task merge`",
  },
} satisfies Flags;

/** Parses "k/n" (1 <= k <= n); undefined when the flag is absent. Errors name the flag and the value. */
export function parseShard(value: string | boolean | undefined, flag = "--shard"): Shard | undefined {
  if (value === undefined) return undefined;
  const m = typeof value === "string" ? /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(value) : null;
  if (!m) throw new UsageError(`${flag} expects k/n with 1 <= k <= n (e.g. 2/8), got '${value}'`);
  const [index, count] = [Number(m[1]), Number(m[2])];
  if (count < 1) throw new UsageError(`${flag} ${value}: n must be at least 1`);
  if (index < 1 || index > count) {
    throw new UsageError(`${flag} ${value}: k must be in 1..${count} (shards are numbered from 1)`);
  }
  return { index, count };
}

export function shardLabel(shard: Shard): string {
  return `${shard.index}/${shard.count}`;
}

/** The half-open range [start, end) of `length` items that `shard` owns: contiguous, sizes differ by <= 1. */
export function shardRange(length: number, shard: Shard | undefined): { start: number; end: number } {
  if (!shard) return { start: 0, end: length };
  return {
    start: Math.floor(((shard.index - 1) * length) / shard.count),
    end: Math.floor((shard.index * length) / shard.count),
  };
}

/** The items `shard` owns (all of them without a shard), in their order. */
export function partition<T>(items: readonly T[], shard: Shard | undefined): T[] {
  const { start, end } = shardRange(items.length, shard);
  return items.slice(start, end);
}

/** The shard as recorded in run identities and manifests (absent for a whole run, so those stay unchanged). */
export function shardSetting(shard: Shard | undefined): { shard?: string } {
  return shard ? { shard: shardLabel(shard) } : {};
}
