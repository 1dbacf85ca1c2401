// Which class pairs (i, j) the shifting and masking tests visit. The reference samples them per run: 1000
// draws of i, each followed by 10 draws of j, skipping i == j and pairs already seen; we reproduce that loop
// with our seeded generator (Python's own random stream cannot be reproduced, the structure can). `all` is
// the full study the reference could not afford; an explicit list serves spot checks.
import { seededRandom } from "../../../runtime/random.ts";
import { UsageError } from "../../../cli/cli.ts";

export interface ClassPair {
  from: number;
  to: number;
}

export interface SamplingOptions {
  /** Draws of the source class i per run (reference: 1000). */
  draws: number;
  /** Draws of the target class j per i (reference: 10). */
  others: number;
  seed: number;
  /** Whether class i has images to shift; the reference draws no j for a class without a dataset. */
  hasImages?: (cls: number) => boolean;
}

/** Uniform integer in [lo, hi], both ends included (Python's random.randint). */
function randint(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

/**
 * The reference's pair loop for one run: i uniform in 0..K-1, j uniform in 1..K-1 (its randint(1, 999): class
 * 0 is never a target), i == j and repeats skipped. Pairs come out in visiting order.
 */
export function samplePairs(numClasses: number, opts: SamplingOptions): ClassPair[] {
  if (numClasses < 2) throw new Error(`pair sampling needs at least 2 classes, got ${numClasses}`);
  const rand = seededRandom(opts.seed);
  const seen = new Set<number>();
  const pairs: ClassPair[] = [];
  for (let d = 0; d < opts.draws; d++) {
    const from = randint(rand, 0, numClasses - 1);
    if (opts.hasImages && !opts.hasImages(from)) continue;
    for (let o = 0; o < opts.others; o++) {
      const to = randint(rand, 1, numClasses - 1);
      const key = from * numClasses + to;
      if (from === to || seen.has(key)) continue;
      seen.add(key);
      pairs.push({ from, to });
    }
  }
  return pairs;
}

/** Every ordered pair i != j whose source class has images, i-major. */
export function allPairs(numClasses: number, hasImages: (cls: number) => boolean = () => true): ClassPair[] {
  const pairs: ClassPair[] = [];
  for (let from = 0; from < numClasses; from++) {
    if (!hasImages(from)) continue;
    for (let to = 0; to < numClasses; to++) if (to !== from) pairs.push({ from, to });
  }
  return pairs;
}

/** `--pairs` as given: "all", or "i:j,i:j" with 0 <= i, j < K and i != j. Returns undefined for sampling. */
export function parsePairList(
  value: string | undefined,
  numClasses: number,
): ClassPair[] | "all" | undefined {
  if (value === undefined || value === "" || value === "sample") return undefined;
  if (value === "all") return "all";
  return value.split(",").map((item) => {
    const m = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(item);
    if (!m) {
      throw new UsageError(`--pairs expects all, or a list like 3:7,0:1 (from:to); '${item}' is neither`);
    }
    const from = Number(m[1]), to = Number(m[2]);
    for (const c of [from, to]) {
      if (c >= numClasses) {
        throw new UsageError(`--pairs ${item}: class ${c} is outside the ${numClasses} classes`);
      }
    }
    if (from === to) throw new UsageError(`--pairs ${item}: a class cannot be contrasted with itself`);
    return { from, to };
  });
}

/** Runs of the reference's pair sampling when --runs is not given (its 5 seeds). */
export const DEFAULT_RUNS = 5;

/**
 * The runs a test makes: `runs` (default 5) when sampling, one for fixed `--pairs`. With fixed pairs, a note
 * only when the user asked for another count than the default and one (the command line always passes 5).
 */
export function plannedRuns(
  pairs: string | undefined,
  fixed: boolean,
  runs?: number,
): { runs: number; note?: string } {
  if (!fixed) return { runs: runs ?? DEFAULT_RUNS };
  if (runs === undefined || runs === 1 || runs === DEFAULT_RUNS) return { runs: 1 };
  return { runs: 1, note: `--pairs ${pairs}: the pairs are fixed, so one run (not ${runs}) is made` };
}

/** Groups pairs by source class, keeping first-seen order, so one class's activations serve all its pairs. */
export function groupBySource(pairs: ClassPair[]): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  for (const p of pairs) (groups.get(p.from) ?? groups.set(p.from, []).get(p.from)!).push(p.to);
  return groups;
}
