// What a prototype search returns, and the one ordering every search (GPU and CPU) agrees on.

/** One pooled position of the dataset and its cosine similarity to a prototype. */
export interface SearchHit {
  score: number;
  /** Dataset index of the image. */
  image: number;
  /** Row and column in the pooled grid (7x7 at layer3.5, 3x3 at layer4.2). */
  y: number;
  x: number;
}

/** A hit with its source image's path and predicted class, as the run's JSON outputs record it. */
export interface HitSource {
  image: number;
  path: string;
  y: number;
  x: number;
  score: number;
  predicted: number;
}

export function hitSource(
  h: SearchHit,
  entries: readonly { path: string }[],
  predicted: ArrayLike<number>,
): HitSource {
  return {
    image: h.image,
    path: entries[h.image].path,
    y: h.y,
    x: h.x,
    score: h.score,
    predicted: predicted[h.image],
  };
}

export interface SearchResult {
  /** Per prototype, its best positions over the whole dataset, best first (fewer than k only for tiny data). */
  topK: SearchHit[][];
  /** Per prototype, its best position among images not predicted as the prototype's class; null if none. */
  bestOther: (SearchHit | null)[];
  /**
   * Per prototype, its best positions among images not predicted as the prototype's class, best first
   * (`bestOther` is the first); as many as the search was asked to keep.
   */
  excludedTopK?: SearchHit[][];
}

export interface SearchGeometry {
  /** Channels at the tap (1024 at layer3.5, 2048 at layer4.2). */
  channels: number;
  /** Spatial size of the tap activations (14x14 or 7x7). */
  height: number;
  width: number;
  /**
   * Side of the average pooling (default 2, the paper's 2x2 cells of a CNN tap); 1 searches every position
   * alone, as a transformer's patch tokens are searched (each token's crop is its patch).
   */
  pool?: 1 | 2;
}

/**
 * PyTorch avg_pool2d(kernel pool, stride pool) output size: an odd last row/column is dropped at pool 2.
 */
export function pooledSize(
  height: number,
  width: number,
  pool: 1 | 2 = 2,
): { height: number; width: number } {
  return { height: Math.floor(height / pool), width: Math.floor(width / pool) };
}

/** The pooling side of a geometry, checked: 1 or 2. */
export function poolOf(geometry: Pick<SearchGeometry, "pool">, what: string): 1 | 2 {
  const pool = geometry.pool ?? 2;
  if (pool !== 1 && pool !== 2) throw new Error(`${what}: pool must be 1 or 2, got ${pool}`);
  return pool;
}

/**
 * True when `a` ranks before `b`: higher score first; equal scores go to the lower image, then row, then
 * column, so results do not depend on how the dataset was batched.
 */
export function ranksBefore(a: SearchHit, b: SearchHit): boolean {
  if (a.score !== b.score) return a.score > b.score;
  if (a.image !== b.image) return a.image < b.image;
  if (a.y !== b.y) return a.y < b.y;
  return a.x < b.x;
}

/** Array.sort comparator for the same ranking. */
export function compareHits(a: SearchHit, b: SearchHit): number {
  return ranksBefore(a, b) ? -1 : ranksBefore(b, a) ? 1 : 0;
}

/** Checks the prototype arguments shared by the GPU search and the CPU reference. */
export function checkPrototypes(
  bases: Float32Array,
  prototypeClass: Int32Array,
  channels: number,
  what: string,
): number {
  if (!Number.isInteger(channels) || channels <= 0) {
    throw new Error(`${what}: channels must be a positive integer, got ${channels}`);
  }
  if (bases.length === 0 || bases.length % channels !== 0) {
    throw new Error(`${what}: bases must hold P x ${channels} floats, got ${bases.length}`);
  }
  const prototypes = bases.length / channels;
  if (prototypeClass.length !== prototypes) {
    throw new Error(
      `${what}: prototypeClass must have one class per prototype (${prototypes}), got ${prototypeClass.length}`,
    );
  }
  return prototypes;
}
