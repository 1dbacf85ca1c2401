// Row-major traversal of a strided view (a torch tensor's storage, a column-major .npy).

/**
 * Calls `visit(i, src)` for every element of `shape`: `i` counts in row-major order, `src` is the element's
 * position in the underlying buffer under `strides` (in elements) from `offset`.
 */
export function forEachStrided(
  shape: readonly number[],
  strides: readonly number[],
  offset: number,
  visit: (i: number, src: number) => void,
): void {
  const count = shape.reduce((a, b) => a * b, 1);
  const index = new Array<number>(shape.length).fill(0);
  let src = offset;
  for (let i = 0; i < count; i++) {
    visit(i, src);
    for (let d = shape.length - 1; d >= 0; d--) {
      index[d]++;
      src += strides[d];
      if (index[d] < shape[d]) break;
      src -= strides[d] * shape[d];
      index[d] = 0;
    }
  }
}

/** Strides (in elements) of a column-major array of `shape`. */
export function columnMajorStrides(shape: readonly number[]): number[] {
  return shape.map((_, d) => shape.slice(0, d).reduce((a, b) => a * b, 1));
}
