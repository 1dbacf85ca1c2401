// CPU reference for the prototype search: the whole activation bank in memory, float64 arithmetic, every
// score computed and sorted. Slow and memory-hungry by design; it exists so tests can check the streaming GPU
// search (prototype_search.ts) against the reference's "materialize everything" approach.
import {
  checkPrototypes,
  compareHits,
  pooledSize,
  poolOf,
  type SearchGeometry,
  type SearchHit,
  type SearchResult,
} from "./hits.ts";
import { DEFAULT_EXCLUDED_TOP_K } from "./settings.ts";

/**
 * 2x2 average pooling with stride 2 (or, at pool 1, none) of one image's activations (C x h x w, NCHW),
 * returned position-major: out[(py * pw + px) * C + c].
 */
export function poolImage(
  bank: Float32Array,
  image: number,
  geometry: SearchGeometry,
): Float64Array {
  const { channels: C, height: h, width: w } = geometry;
  const pool = poolOf(geometry, "poolImage");
  const { height: ph, width: pw } = pooledSize(h, w, pool);
  const out = new Float64Array(ph * pw * C);
  const base = image * C * h * w;
  for (let c = 0; c < C; c++) {
    const plane = base + c * h * w;
    for (let py = 0; py < ph; py++) {
      for (let px = 0; px < pw; px++) {
        const i = plane + pool * py * w + pool * px;
        out[(py * pw + px) * C + c] = pool === 1
          ? bank[i]
          : (bank[i] + bank[i + 1] + bank[i + w] + bank[i + w + 1]) / 4;
      }
    }
  }
  return out;
}

/** Unit-length copy of `v` (zero stays zero, so its cosine with anything is 0). */
function unit(v: Float64Array): Float64Array {
  let sum = 0;
  for (const x of v) sum += x * x;
  const inv = sum > 0 ? 1 / Math.sqrt(sum) : 0;
  return v.map((x) => x * inv);
}

export interface BruteForceOptions extends SearchGeometry {
  topK: number;
  /** Positions kept among images not predicted as the prototype's class (default 1). */
  excludedTopK?: number;
}

/**
 * Exhaustive search over a materialized bank of `images` activations (images x C x h x w). `predicted[i]` is
 * the predicted class of image i.
 */
export function bruteForceSearch(
  bank: Float32Array,
  images: number,
  bases: Float32Array,
  prototypeClass: Int32Array,
  predicted: Int32Array,
  opts: BruteForceOptions,
): SearchResult {
  const { channels: C, height: h, width: w, topK } = opts;
  const P = checkPrototypes(bases, prototypeClass, C, "bruteForceSearch");
  if (bank.length < images * C * h * w) {
    throw new Error(
      `bruteForceSearch: bank holds ${bank.length} floats, need ${images} x ${C} x ${h} x ${w}`,
    );
  }
  if (predicted.length < images) {
    throw new Error(`bruteForceSearch: predicted has ${predicted.length} entries, need ${images}`);
  }
  const { height: ph, width: pw } = pooledSize(h, w, poolOf(opts, "bruteForceSearch"));
  const positions: { image: number; y: number; x: number; vector: Float64Array }[] = [];
  for (let i = 0; i < images; i++) {
    const pooled = poolImage(bank, i, opts);
    for (let s = 0; s < ph * pw; s++) {
      const vector = unit(pooled.subarray(s * C, (s + 1) * C));
      positions.push({ image: i, y: Math.floor(s / pw), x: s % pw, vector });
    }
  }
  const result: Required<SearchResult> = { topK: [], bestOther: [], excludedTopK: [] };
  for (let p = 0; p < P; p++) {
    const basis = unit(Float64Array.from(bases.subarray(p * C, (p + 1) * C)));
    const hits: SearchHit[] = positions.map(({ image, y, x, vector }) => {
      let dot = 0;
      for (let c = 0; c < C; c++) dot += basis[c] * vector[c];
      return { score: dot, image, y, x };
    });
    hits.sort(compareHits);
    result.topK.push(hits.slice(0, topK));
    // hits is sorted, so the first other-predicted ones are the best.
    const excluded = hits.filter((hit) => predicted[hit.image] !== prototypeClass[p]);
    result.excludedTopK.push(excluded.slice(0, opts.excludedTopK ?? DEFAULT_EXCLUDED_TOP_K));
    result.bestOther.push(excluded[0] ?? null);
  }
  return result;
}
