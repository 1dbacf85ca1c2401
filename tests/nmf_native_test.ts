// NMF's CPU path with onnxruntime-node's GEMMs (kernels/nmf/native.ts) against the float64 reference it
// shares its algorithm with, and the fallback to that reference where the native library cannot load.
import assert from "node:assert/strict";
import { join } from "node:path";
import { matchedCosines, plantedProblem } from "../fixtures/planted_nmf.ts";
import { cpuNmf, nmfNative } from "../kernels/nmf/native.ts";
import { nmfReference } from "../kernels/nmf/reference.ts";
import { writeNpy } from "../src/io/npy.ts";
import { loadNativeCpu } from "../src/runtime/native_cpu.ts";
import { nmfTask } from "../tasks/nmf.ts";
import { assertStopsOnAbort } from "./_helpers/abort.ts";

const native = await loadNativeCpu();

Deno.test({
  name: "native NMF = the float64 reference: same iterations, error and components (float32 products)",
  ignore: !native.ort,
  async fn() {
    for (const [k, noise] of [[4, 0], [5, 0.01], [6, 0.02]]) {
      const { v } = plantedProblem(k + 20, 600, 64, k, { noise });
      const ours = await nmfNative(native.ort!, v, 600, 64, { k });
      const ref = nmfReference(v, 600, 64, { k });
      assert.ok(
        Math.abs(ours.iterations - ref.iterations) <= 1,
        `k=${k}: ${ours.iterations} vs ${ref.iterations}`,
      );
      assert.ok(
        Math.abs(ours.relError - ref.relError) <= 1e-4 * ref.relError + 1e-7,
        `k=${k}: ${ours.relError} vs ${ref.relError}`,
      );
      const cos = matchedCosines(ref.h, ours.h, 64);
      assert.ok(Math.min(...cos) > 0.99999, `k=${k}: cosines ${cos}`);
    }
    const bad = new Float32Array(20 * 5).fill(1);
    bad[13] = -1;
    await assert.rejects(() => nmfNative(native.ort!, bad, 20, 5, { k: 2 }), /nmfNative: .*V\[2, 3\] = -1/);
  },
});

Deno.test("nmf --cpu says which CPU path ran: onnxruntime-node's GEMMs, or the reference and why", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { v } = plantedProblem(41, 120, 16, 3, { noise: 0.01 });
    const input = join(dir, "v.npy");
    await writeNpy(input, v, [120, 16]);
    const args = (out: string) => ["--input", input, "--k", "3", "--cpu", "--out", join(dir, out)];
    const fast = await nmfTask(args("native"), () => {});
    Deno.env.set("PROTOSCOPE_NO_NATIVE", "1");
    const lines: string[] = [];
    const slow = await nmfTask(args("reference"), (l) => lines.push(l)).finally(() =>
      Deno.env.delete("PROTOSCOPE_NO_NATIVE")
    );
    assert.equal(slow.cpu, "float64 reference (PROTOSCOPE_NO_NATIVE=1)");
    assert.match(lines.join("\n"), /CPU \(float64 reference \(PROTOSCOPE_NO_NATIVE=1\)\)/);
    const json = JSON.parse(await Deno.readTextFile(join(dir, "reference", "nmf.json")));
    assert.equal(json.cpu, slow.cpu);
    assert.equal((await cpuNmf()).native, Boolean(native.ort));
    if (native.ort) {
      assert.match(fast.cpu!, /^onnxruntime-node .* CPU GEMMs$/);
      assert.ok(Math.abs(fast.relError - slow.relError) <= 1e-4 * slow.relError);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "native NMF stops between iterations when its signal is aborted (the explorer's cancel)",
  ignore: !native.ort,
  async fn() {
    // tol 0 and a large cap: uninterrupted, this runs all 100000 iterations (minutes).
    const { v } = plantedProblem(3, 400, 32, 4, { noise: 0.05 });
    await assertStopsOnAbort(
      (signal) => nmfNative(native.ort!, v, 400, 32, { k: 4, tol: 0, maxIter: 100_000, signal }),
      50,
    );
  },
});
