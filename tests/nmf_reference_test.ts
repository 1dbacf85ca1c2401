// CPU reference NMF (kernels/nmf/reference.ts): the ground truth of the GPU tests, so it is checked on its own.
import assert from "node:assert/strict";
import { matchedCosines, plantedProblem } from "../fixtures/planted_nmf.ts";
import {
  jacobiEigen,
  nmfReference,
  orthonormalizeRows,
  relativeError,
  roundRobinPair,
} from "../kernels/nmf/reference.ts";
import { gaussianBlock } from "../kernels/nmf/random.ts";

Deno.test("reference NMF recovers planted factors up to permutation and scale", () => {
  for (const [k, noise] of [[4, 0], [6, 0.02]]) {
    const { v, h0 } = plantedProblem(k, 600, 64, k, { noise });
    const r = nmfReference(v, 600, 64, { k });
    const cos = matchedCosines(h0, r.h, 64);
    assert.ok(Math.min(...cos) >= 0.99, `k=${k}: cosines ${cos}`);
    assert.ok(r.iterations > 1 && r.iterations < 200, `k=${k}: ${r.iterations} iterations`);
    assert.ok(r.relError < (noise ? 0.05 : 1e-3), `k=${k}: relError ${r.relError}`);
    assert.ok(Math.abs(r.relError - relativeError(v, 600, 64, k, r.w, r.h)) < 1e-6);
    assert.ok(r.w.every((x) => x >= 0) && r.h.every((x) => x >= 0));
  }
});

Deno.test("reference HALS never increases the error, and tol=0 runs exactly maxIter iterations", () => {
  const { v } = plantedProblem(3, 300, 40, 5, { noise: 0.05 });
  let previous = Infinity;
  for (let it = 1; it <= 6; it++) {
    const r = nmfReference(v, 300, 40, { k: 5, maxIter: it, tol: 0 });
    assert.equal(r.iterations, it);
    assert.ok(r.relError <= previous + 1e-12, `iteration ${it}: ${r.relError} > ${previous}`);
    previous = r.relError;
  }
});

Deno.test("scikit-learn's stopping rule: a looser tol stops earlier, a tighter one fits no worse", () => {
  const { v } = plantedProblem(5, 300, 40, 5, { noise: 0.05 });
  const loose = nmfReference(v, 300, 40, { k: 5, tol: 1e-2 });
  const tight = nmfReference(v, 300, 40, { k: 5, tol: 1e-5 });
  assert.ok(loose.iterations < tight.iterations, `${loose.iterations} vs ${tight.iterations}`);
  assert.ok(tight.relError <= loose.relError + 1e-9);
});

/** max |Q Q^T - I| over the p rows (length len) of q. */
function orthogonalityError(q: ArrayLike<number>, p: number, len: number, nonzero = p): number {
  let worst = 0;
  for (let a = 0; a < nonzero; a++) {
    for (let b = 0; b < nonzero; b++) {
      let dot = 0;
      for (let j = 0; j < len; j++) dot += q[a * len + j] * q[b * len + j];
      worst = Math.max(worst, Math.abs(dot - (a === b ? 1 : 0)));
    }
  }
  return worst;
}

Deno.test("orthonormalizeRows: orthonormal in float64 and in float32 arithmetic, at any condition number", () => {
  const p = 34, len = 64;
  const gaussian = gaussianBlock(7, p, len);
  assert.ok(orthogonalityError(orthonormalizeRows(gaussian, p, len), p, len) < 1e-13);
  // Rows that all lean on one direction, as V^T V Q does for V = offset + small noise: condition numbers of
  // 1e5 and 1e7, beyond what a Gram-matrix method (the GPU's before) survives in float32.
  for (const spread of [1e-5, 1e-7]) {
    const common = gaussianBlock(8, 1, len);
    const rows = Float32Array.from({ length: p * len }, (_, e) => common[e % len] + spread * gaussian[e]);
    const q = orthonormalizeRows(rows, p, len, Math.fround);
    assert.ok(q.every(Number.isFinite));
    const err = orthogonalityError(q, p, len);
    assert.ok(err < 1e-5, `float32, spread ${spread}: |QQ^T - I| = ${err}`);
  }
  // Rank 5 of 34, as V^T V Q is for an exactly low-rank V: the other rows are round-off, which the second
  // pass turns into further orthonormal directions; exactly zero rows stay zero.
  const basis = gaussianBlock(9, 5, len);
  const mix = gaussianBlock(10, p, 5);
  const low = new Float32Array(p * len);
  for (let a = 0; a < p - 2; a++) {
    for (let j = 0; j < len; j++) {
      let s = 0;
      for (let t = 0; t < 5; t++) s += mix[a * 5 + t] * basis[t * len + j];
      low[a * len + j] = s;
    }
  }
  const q = orthonormalizeRows(low, p, len, Math.fround);
  assert.ok(q.every(Number.isFinite));
  assert.ok(
    orthogonalityError(q, p, len, p - 2) < 1e-5,
    `float32, rank 5: ${orthogonalityError(q, p, len, p - 2)}`,
  );
  assert.ok(q.subarray((p - 2) * len).every((x) => x === 0), "zero rows must stay zero");
});

Deno.test("jacobiEigen: eigenpairs to float32 precision (rotations below float32 round-off are skipped)", () => {
  const m = Float64Array.from([4, 1, 2, 1, 3, 0, 2, 0, 5]);
  const original = m.slice();
  const vec = jacobiEigen(m, 3);
  // original * v_j = lambda_j * v_j for every eigenpair.
  for (let j = 0; j < 3; j++) {
    for (let r = 0; r < 3; r++) {
      let av = 0;
      for (let s = 0; s < 3; s++) av += original[r * 3 + s] * vec[s * 3 + j];
      assert.ok(Math.abs(av - m[j * 3 + j] * vec[r * 3 + j]) < 1e-6 * 7);
    }
  }
});

Deno.test("reference NMF refuses negative, non-finite and too-wide input", () => {
  const v = new Float32Array(20 * 5).fill(1);
  v[13] = -1;
  assert.throws(() => nmfReference(v, 20, 5, { k: 2 }), /V\[2, 3\] = -1/);
  v[13] = NaN;
  assert.throws(() => nmfReference(v, 20, 5, { k: 2 }), /V\[2, 3\] = NaN/);
  assert.throws(
    () => nmfReference(new Float32Array(100).fill(1), 20, 5, { k: 6 }),
    /k=6 exceeds min\(n, c\) = 5/,
  );
});

Deno.test("roundRobinPair: every pair once per sweep, the pairs of a step disjoint", () => {
  for (const m of [2, 4, 10, 34]) {
    const seen = new Set<string>();
    for (let s = 0; s + 1 < m; s++) {
      const used = new Set<number>();
      for (let i = 0; i < m / 2; i++) {
        const [a, b] = roundRobinPair(i, s, m);
        assert.ok(a < b && !used.has(a) && !used.has(b), `m=${m} step ${s}: pair ${a},${b} overlaps`);
        used.add(a).add(b);
        seen.add(`${a},${b}`);
      }
    }
    assert.equal(seen.size, (m * (m - 1)) / 2, `m=${m}`);
  }
});
