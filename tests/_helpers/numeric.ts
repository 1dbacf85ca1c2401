// Numeric comparisons shared by the tests.
import assert from "node:assert/strict";

export function assertClose(actual: number, expected: number, tol: number, what = "value"): void {
  assert.ok(
    Math.abs(actual - expected) <= tol,
    `${what}: ${actual} differs from ${expected} by more than ${tol}`,
  );
}

/** Largest |a - b| over max|b| across two arrays. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / Math.max(scale, 1e-30);
}
