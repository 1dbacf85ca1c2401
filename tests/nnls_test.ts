// The NNLS decomposition (kernels/nnls): exact per-position solutions checked by the KKT conditions, against
// brute force over every support, GPU against its CPU twin, and against the reference's 500 Adam steps.
import assert from "node:assert/strict";
import { seededRandom } from "../src/runtime/random.ts";
import {
  checkNnlsProblem,
  gram,
  nnlsCpu,
  nnlsGpu,
  project,
  residuals,
  solveNnlsGram,
} from "../kernels/nnls/mod.ts";
import { adamNnls, bruteForceNnls, kktViolation, objective } from "./_helpers/nnls_reference.ts";
import { gpu, noGpu } from "./_helpers/gpu.ts";

interface Case {
  basis: Float32Array;
  activations: Float32Array;
  n: number;
  channels: number;
  hw: number;
  k: number;
}

/**
 * NMF-like data: sparse non-negative prototypes that overlap (so the Gram matrix is far from diagonal), and
 * activations mixing a random half of them plus non-negative noise (so some coefficients are zero, some not).
 */
function randomCase(seed: number, k: number, channels = 48, hw = 25, n = 2): Case {
  const rand = seededRandom(seed);
  const basis = Float32Array.from({ length: k * channels }, () => rand() ** 3);
  const activations = new Float32Array(n * channels * hw);
  for (let img = 0; img < n; img++) {
    for (let p = 0; p < hw; p++) {
      const x = Array.from({ length: k }, () => (rand() < 0.5 ? 0 : 2 * rand()));
      for (let c = 0; c < channels; c++) {
        let a = 0.4 * rand() ** 2;
        for (let j = 0; j < k; j++) a += basis[j * channels + c] * x[j];
        activations[img * channels * hw + c * hw + p] = p % 7 === 3 ? 0 : a;
      }
    }
  }
  return { basis, activations, n, channels, hw, k };
}

function normalEquations(c: Case): { g: Float64Array; b: Float64Array } {
  return {
    g: gram(c.basis, c.k, c.channels),
    b: project(c.activations, c.basis, c.n, c.channels, c.hw, c.k),
  };
}

Deno.test("nnls: the CPU solution meets the KKT conditions on random cases, k = 1..24", () => {
  for (const [seed, k] of [[1, 1], [2, 3], [3, 6], [4, 12], [5, 24]]) {
    const c = randomCase(seed, k);
    const { g, b } = normalEquations(c);
    const r = nnlsCpu(c);
    let zeros = 0, positives = 0;
    for (let q = 0; q < c.n * c.hw; q++) {
      const x = r.x.subarray(q * k, (q + 1) * k);
      assert.ok(r.converged[q], `k=${k} position ${q}: not converged in ${r.iterations[q]} iterations`);
      const v = kktViolation(g, b.subarray(q * k, (q + 1) * k), x, k);
      // x is stored as float32: the gradient where x > 0 is zero up to that rounding.
      assert.ok(v < 1e-5, `k=${k} position ${q}: KKT violation ${v}`);
      for (const xi of x) xi > 0 ? positives++ : zeros++;
    }
    // The cases must exercise both sides of the complementarity.
    if (k > 1) assert.ok(zeros > 0 && positives > 0, `k=${k}: ${zeros} zero and ${positives} positive`);
  }
});

Deno.test("nnls: equals brute force over all 2^k supports (k <= 8)", () => {
  for (const [seed, k] of [[11, 2], [12, 4], [13, 6], [14, 8]]) {
    const c = randomCase(seed, k, 32, 12, 1);
    const { g, b } = normalEquations(c);
    for (let q = 0; q < c.hw; q++) {
      const bq = b.subarray(q * k, (q + 1) * k);
      const exact = bruteForceNnls(g, bq, k);
      const ours = solveNnlsGram(g, bq, k).x;
      const scale = Math.max(1e-12, ...exact);
      for (let i = 0; i < k; i++) {
        assert.ok(
          Math.abs(ours[i] - exact[i]) <= 1e-6 * scale,
          `k=${k} position ${q} coefficient ${i}: ${ours[i]} vs brute force ${exact[i]}`,
        );
      }
      assert.ok(
        objective(g, bq, ours, k) <= objective(g, bq, exact, k) + 1e-9 * Math.abs(objective(g, bq, exact, k)),
      );
    }
  }
});

Deno.test("nnls: reconstruction error <= that of the reference's 500 Adam steps (lr 0.01)", () => {
  for (const [seed, k] of [[21, 6], [22, 12]]) {
    const c = randomCase(seed, k, 64, 30, 1);
    const { g, b } = normalEquations(c);
    const adam = adamNnls(g, b, k, c.hw, c.channels);
    const adamError = residuals(c.activations, c.basis, adam, 1, c.channels, c.hw, k).error.reduce((s, e) =>
      s + e
    );
    const ours = nnlsCpu(c).error.reduce((s, e) => s + e);
    assert.ok(ours <= adamError * (1 + 1e-9), `k=${k}: NNLS ${ours} vs Adam ${adamError}`);
    console.log(`k=${k}: squared error NNLS ${ours.toFixed(4)}, Adam x500 ${adamError.toFixed(4)}`);
  }
});

Deno.test("nnls: bad shapes are refused before compute", () => {
  const c = randomCase(31, 4);
  assert.throws(() => checkNnlsProblem({ ...c, k: 25, basis: new Float32Array(25 * c.channels) }), /1 to 24/);
  assert.throws(() => checkNnlsProblem({ ...c, k: 0 }), /k = 0/);
  assert.throws(() => checkNnlsProblem({ ...c, basis: c.basis.subarray(1) }), /expected k x C/);
  assert.throws(() => checkNnlsProblem({ ...c, n: 3 }), /expected n x C x hw/);
});

Deno.test({
  name: "nnls: the GPU equals its CPU twin (k = 6 and 12, several images)",
  ignore: noGpu,
  async fn() {
    for (const [seed, k] of [[41, 6], [42, 12]]) {
      const c = randomCase(seed, k, 64, 49, 3);
      const cpu = nnlsCpu(c);
      const gpuResult = await nnlsGpu(gpu!.device, c);
      const { g, b } = normalEquations(c);
      let scale = 0;
      for (const v of cpu.x) scale = Math.max(scale, v);
      for (let q = 0; q < c.n * c.hw; q++) {
        assert.equal(gpuResult.converged[q], 1, `k=${k} position ${q}: GPU solve not converged`);
        const x = gpuResult.x.subarray(q * k, (q + 1) * k);
        // float32 on the GPU: KKT within float32 round-off of the normal equations.
        const v = kktViolation(g, b.subarray(q * k, (q + 1) * k), x, k);
        assert.ok(v < 2e-3, `k=${k} position ${q}: GPU KKT violation ${v}`);
        for (let i = 0; i < k; i++) {
          const d = Math.abs(x[i] - cpu.x[q * k + i]);
          assert.ok(
            d <= 2e-3 * scale,
            `k=${k} position ${q} coefficient ${i}: GPU ${x[i]} CPU ${cpu.x[q * k + i]}`,
          );
        }
        assert.ok(
          Math.abs(gpuResult.error[q] - cpu.error[q]) <= 1e-3 * cpu.norm[q] + 1e-6,
          `k=${k} position ${q}: error GPU ${gpuResult.error[q]} CPU ${cpu.error[q]}`,
        );
        assert.ok(Math.abs(gpuResult.norm[q] - cpu.norm[q]) <= 1e-4 * cpu.norm[q] + 1e-6);
      }
    }
  },
});
