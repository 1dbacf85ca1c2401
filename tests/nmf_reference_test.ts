// CPU reference NMF (kernels/nmf/reference.ts): the ground truth of the GPU tests, so it is checked on its own.
import assert from "node:assert/strict";
import { matchedCosines, plantedProblem } from "../fixtures/planted_nmf.ts";
import { jacobiEigen, nmfReference, orthonormalizeRows, relativeError } from "../kernels/nmf/reference.ts";
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

Deno.test("orthonormalizeRows and jacobiEigen", () => {
  const p = 6, len = 30;
  const q = orthonormalizeRows(Float64Array.from(gaussianBlock(7, p, len)), p, len);
  for (let a = 0; a < p; a++) {
    for (let b = 0; b < p; b++) {
      let dot = 0;
      for (let j = 0; j < len; j++) dot += q[a * len + j] * q[b * len + j];
      assert.ok(Math.abs(dot - (a === b ? 1 : 0)) < 1e-12, `(${a},${b}) = ${dot}`);
    }
  }
  const m = Float64Array.from([4, 1, 2, 1, 3, 0, 2, 0, 5]);
  const original = m.slice();
  const vec = jacobiEigen(m, 3);
  // original * v_j = lambda_j * v_j for every eigenpair.
  for (let j = 0; j < 3; j++) {
    for (let r = 0; r < 3; r++) {
      let av = 0;
      for (let s = 0; s < 3; s++) av += original[r * 3 + s] * vec[s * 3 + j];
      assert.ok(Math.abs(av - m[j * 3 + j] * vec[r * 3 + j]) < 1e-10);
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
