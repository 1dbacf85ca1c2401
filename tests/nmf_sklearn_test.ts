// Our NMF against scikit-learn's (1.2.1, the reference implementation's NMF(n_components=k) call): the same
// number of iterations, the same reconstruction error and the same components, for the CPU reference, the
// WebGPU solver and the CPU path with onnxruntime-node's GEMMs (native). Expected values: tests/testdata/sklearn/ (tools/reference/make_sklearn_cases.ts).
import assert from "node:assert/strict";
import { readNpy } from "../src/io/npy.ts";
import { nmf } from "../kernels/nmf/nmf.ts";
import { matchedCosines } from "../fixtures/planted_nmf.ts";
import { nmfReference } from "../kernels/nmf/reference.ts";
import { nmfNative } from "../kernels/nmf/native.ts";
import { loadNativeCpu } from "../src/runtime/native_cpu.ts";
import type { NmfResult } from "../kernels/nmf/settings.ts";
import { gpu, noGpu } from "./_helpers/gpu.ts";
import { SKLEARN_NMF_CASES, sklearnCaseMatrix } from "../fixtures/sklearn_cases.ts";

const native = await loadNativeCpu();
const DIR = new URL("./testdata/sklearn/", import.meta.url).pathname;
const expected: Record<string, { n_iter: number; relError: number }> = JSON.parse(
  await Deno.readTextFile(`${DIR}cases.json`),
);

for (const c of SKLEARN_NMF_CASES) {
  for (const where of ["cpu", "webgpu", "native"] as const) {
    Deno.test({
      name: `NMF = scikit-learn's: ${c.name} (${c.n} x ${c.c}, k ${c.k}), ${where}`,
      ignore: (where === "webgpu" && noGpu) || (where === "native" && !native.ort),
      fn: async () => {
        const v = sklearnCaseMatrix(c);
        const sk = await readNpy(`${DIR}${c.name}.npy`);
        assert.deepEqual(sk.shape, [c.k, c.c]);
        const ours: NmfResult = where === "cpu"
          ? nmfReference(v, c.n, c.c, { k: c.k })
          : where === "native"
          ? await nmfNative(native.ort!, v, c.n, c.c, { k: c.k })
          : await nmf(gpu!.device, { v, n: c.n, c: c.c }, { k: c.k });
        const want = expected[c.name];
        const cosines = matchedCosines(sk.data as Float32Array, ours.h, c.c);
        console.log(
          `${c.name} ${where}: iterations ${ours.iterations} (scikit-learn ${want.n_iter}), relative error ` +
            `${ours.relError} (${want.relError}), worst matched component cosine ${Math.min(...cosines)}`,
        );
        assert.equal(ours.iterations, want.n_iter);
        assert.ok(Math.abs(ours.relError - want.relError) <= 1e-6 * want.relError + 1e-7);
        assert.ok(Math.min(...cosines) > 0.99999, `components differ: cosines ${cosines}`);
        // the same scale too, not only the same directions: row norms of H agree
        const norms = (h: ArrayLike<number>) =>
          Array.from({ length: c.k }, (_, r) => {
            let s = 0;
            for (let j = 0; j < c.c; j++) s += h[r * c.c + j] ** 2;
            return Math.sqrt(s);
          }).sort((a, b) => a - b);
        const a = norms(ours.h), b = norms(sk.data as Float32Array);
        for (let r = 0; r < c.k; r++) {
          assert.ok(Math.abs(a[r] - b[r]) <= 1e-3 * b[r], `row norms ${a} vs ${b}`);
        }
      },
    });
  }
}
