// Batched WGSL NMF (kernels/nmf/) against the CPU reference, on whatever WebGPU adapter exists (llvmpipe in CI).
import assert from "node:assert/strict";
import { nmf, nmfBatched, type NmfProblem } from "../kernels/nmf/nmf.ts";
import { groupDims, planGroups } from "../kernels/nmf/plan.ts";
import { matchedCosines, plantedProblem } from "../fixtures/planted_nmf.ts";
import { nmfReference } from "../kernels/nmf/reference.ts";
import { type NmfTrace, solveBatched } from "../kernels/nmf/solver.ts";
import { gaussianBlock } from "../kernels/nmf/random.ts";
import { weightedRowsOnGpu } from "../kernels/nmf/weighted_rows.ts";
import { factorize, keptRows } from "../src/pipeline/concepts/factorize.ts";
import { gpu, noGpu } from "./_helpers/gpu.ts";
import { assertStopsOnAbort } from "./_helpers/abort.ts";

const N = 600, C = 64;

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length &&
    new Uint32Array(a.buffer, a.byteOffset, a.length).every((x, i) =>
      x === new Uint32Array(b.buffer, b.byteOffset, b.length)[i]
    );
}

Deno.test(
  { name: "GPU NMF recovers planted factors and fits no worse than the CPU reference", ignore: noGpu },
  async () => {
    for (const [k, noise] of [[4, 0], [5, 0.01], [6, 0.02]]) {
      const { v, h0 } = plantedProblem(k, N, C, k, { noise });
      const r = await nmf(gpu!.device, { v, n: N, c: C }, { k });
      const ref = nmfReference(v, N, C, { k });
      const cos = matchedCosines(h0, r.h, C);
      assert.ok(Math.min(...cos) >= 0.99, `k=${k}: cosines ${cos}`);
      assert.ok(r.relError <= ref.relError * 1.01 + 1e-6, `k=${k}: GPU ${r.relError} vs CPU ${ref.relError}`);
      assert.ok(r.iterations > 1 && r.iterations < 200, `k=${k}: ${r.iterations} iterations`);
      assert.equal(r.w.length, N * k);
      assert.equal(r.h.length, k * C);
      assert.ok(r.w.every((x) => x >= 0) && r.h.every((x) => x >= 0));
    }
  },
);

Deno.test(
  { name: "GPU NMF: batched equals one at a time, mixed shapes, deterministic", ignore: noGpu },
  async () => {
    const k = 5;
    const problems: NmfProblem[] = [
      { v: plantedProblem(11, N, C, k, { noise: 0.01 }).v, n: N, c: C },
      { v: plantedProblem(12, 300, 48, k, { noise: 0.01 }).v, n: 300, c: 48 },
      { v: plantedProblem(13, N, C, k, { noise: 0.05 }).v, n: N, c: C },
      { v: plantedProblem(14, N, C, 3, { noise: 0.01 }).v, n: N, c: C },
    ];
    const batched = await nmfBatched(gpu!.device, problems, { k });
    const again = await nmfBatched(gpu!.device, problems, { k });
    for (let i = 0; i < problems.length; i++) {
      const single = await nmf(gpu!.device, problems[i], { k });
      assert.ok(sameBits(batched[i].h, single.h) && sameBits(batched[i].w, single.w), `problem ${i} differs`);
      assert.equal(batched[i].iterations, single.iterations);
      assert.ok(
        sameBits(batched[i].h, again[i].h) && sameBits(batched[i].w, again[i].w),
        `problem ${i} not repeatable`,
      );
      assert.equal(batched[i].relError, again[i].relError);
    }
    // Problems converge at different iterations; each stops on its own.
    assert.ok(
      new Set(batched.map((r) => r.iterations)).size > 1,
      `iterations ${batched.map((r) => r.iterations)}`,
    );
  },
);

Deno.test(
  { name: "GPU NMF splits a batch too large for one binding into dispatch groups", ignore: noGpu },
  async () => {
    const k = 4;
    const problems = [21, 22, 23].map((s) => ({
      v: plantedProblem(s, N, C, k, { noise: 0.01 }).v,
      n: N,
      c: C,
    }));
    const whole = await solveBatched(gpu!.device, problems, { k });
    // V of one problem is 153,600 bytes: a 200,000-byte binding holds one problem per group.
    const split = await solveBatched(gpu!.device, problems, { k, maxBindingBytes: 200_000 });
    for (let i = 0; i < problems.length; i++) {
      assert.ok(sameBits(whole[i].h, split[i].h) && sameBits(whole[i].w, split[i].w), `problem ${i} differs`);
    }
  },
);

Deno.test(
  { name: "GPU NMF reads V from GPU buffers (shared slices and separate buffers)", ignore: noGpu },
  async () => {
    const device = gpu!.device;
    const k = 4;
    const hosts = [31, 32].map((s) => plantedProblem(s, N, C, k, { noise: 0.01 }).v);
    const expected = await nmfBatched(device, hosts.map((v) => ({ v, n: N, c: C })), { k });
    const bytes = N * C * 4;
    const shared = device.createBuffer({
      size: 2 * bytes,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    });
    hosts.forEach((v, m) => device.queue.writeBuffer(shared, m * bytes, v));
    const separate = hosts.map((v) => {
      const b = device.createBuffer({
        size: bytes + 256,
        usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
      device.queue.writeBuffer(b, 256, v);
      return b;
    });
    try {
      const fromShared = await nmfBatched(
        device,
        [0, 1].map((m) => ({ v: shared, n: N, c: C, offset: m * bytes })),
        {
          k,
        },
      );
      const fromSeparate = await nmfBatched(device, separate.map((v) => ({ v, n: N, c: C, offset: 256 })), {
        k,
      });
      for (let i = 0; i < 2; i++) {
        assert.ok(sameBits(fromShared[i].h, expected[i].h), `shared slice ${i} differs`);
        assert.ok(sameBits(fromSeparate[i].h, expected[i].h), `separate buffer ${i} differs`);
      }
      await assert.rejects(
        nmf(device, { v: shared, n: N, c: C, offset: bytes + 4 }, { k }),
        /cannot hold 153600 bytes of V at offset 153604/,
      );
    } finally {
      shared.destroy();
      for (const b of separate) b.destroy();
    }
  },
);

Deno.test({ name: "GPU NMF refuses bad input with the problem and position", ignore: noGpu }, async () => {
  const v = new Float32Array(N * C).fill(1);
  v[2 * C + 7] = -3;
  await assert.rejects(
    nmfBatched(gpu!.device, [{ v: new Float32Array(N * C).fill(1), n: N, c: C }, { v, n: N, c: C }]),
    /problem 1: V must be finite and non-negative; V\[2, 7\] = -3/,
  );
  await assert.rejects(nmf(gpu!.device, { v, n: N, c: 10 }), /expected n\*c = 6000/);
  await assert.rejects(nmf(gpu!.device, { v: new Float32Array(20), n: 4, c: 5 }, { k: 6 }), /k=6 exceeds/);
});

Deno.test(
  { name: "GPU NMF stops at its next readback when its signal is aborted", ignore: noGpu },
  async () => {
    // tol 0 and a large cap: uninterrupted, this would run all 100000 iterations.
    const { v } = plantedProblem(4, N, C, 4, { noise: 0.02 });
    // The abort fires while the solver builds its pipelines or waits for a readback; it checks before every
    // submit.
    await assertStopsOnAbort(
      (signal) => solveBatched(gpu!.device, [{ v, n: N, c: C }], { k: 4, tol: 0, maxIter: 100_000, signal }),
      0,
    );
  },
);

Deno.test("planGroups groups by shape and splits by the binding size", () => {
  const dims = (n: number, c: number) => groupDims(n, c, 4, 14, 256);
  const shapes = [{ n: 600, c: 64 }, { n: 300, c: 48 }, { n: 600, c: 64 }, { n: 600, c: 64 }];
  const one = planGroups(shapes, dims, 11, 1 << 27);
  assert.deepEqual(one.map((g) => g.members), [[0, 2, 3], [1]]);
  const split = planGroups(shapes, dims, 11, 2 * 600 * 64 * 4);
  assert.deepEqual(split.map((g) => g.members), [[0, 2], [3], [1]]);
  assert.throws(() => planGroups(shapes, dims, 11, 1000), /largest storage binding \(1000 bytes\)/);
});

Deno.test({
  name: "GPU NMF reads the done flags at growing gaps: 5 readbacks for 200 iterations",
  ignore: noGpu,
}, async () => {
  const { v } = plantedProblem(41, 100, 16, 2, { noise: 0.1 });
  const trace = {} as NmfTrace;
  const [r] = await solveBatched(gpu!.device, [{ v, n: 100, c: 16 }], { k: 2, tol: 0, trace });
  assert.equal(r.iterations, 200);
  // 20 + 40 + 80 + 60 iterations, then the result readback (it was 10 + 1 at a fixed gap of 20).
  assert.equal(trace.readbacks, 5);
  assert.equal(trace.iterationsEncoded, 200);
});

Deno.test({
  name: "V built on the GPU from activations and maps equals the host's weighted rows",
  ignore: noGpu,
}, async () => {
  const c = 37, hw = 49;
  const source = (seed: number, images: number, keep: number[]) => ({
    activations: gaussianBlock(seed, images, c * hw).map(Math.abs),
    maps: gaussianBlock(seed + 1, images, hw).map(Math.abs),
    keep,
    hw,
  });
  // Odd sizes: the second problem starts at a byte offset that is no multiple of the binding alignment.
  const sources = [source(1, 5, [0, 2, 3, 4]), source(3, 3, [0, 1, 2]), source(5, 2, [])];
  const { buffer, offsets } = await weightedRowsOnGpu(gpu!.device, sources, c);
  try {
    const staging = gpu!.device.createBuffer({
      size: buffer.size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = gpu!.device.createCommandEncoder();
    enc.copyBufferToBuffer(buffer, 0, staging, 0, buffer.size);
    gpu!.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const all = new Float32Array(staging.getMappedRange().slice(0));
    staging.destroy();
    sources.forEach((s, g) => {
      const want = keptRows(s, c);
      const got = all.subarray(offsets[g] / 4, offsets[g] / 4 + want.length);
      assert.ok(sameBits(got, want), `problem ${g} differs`);
    });
  } finally {
    buffer.destroy();
  }
  // factorize builds V on the GPU from sources: the same factors as from host rows.
  const settings = { k: 3, maxIter: 30, tol: 1e-4, seed: 0 };
  const fromSources = await factorize(
    gpu!.device,
    sources.slice(0, 2).map((v) => ({ v, n: v.keep.length * hw })),
    c,
    settings,
  );
  const fromHost = await factorize(
    gpu!.device,
    sources.slice(0, 2).map((s) => ({ v: keptRows(s, c), n: s.keep.length * hw })),
    c,
    settings,
  );
  fromSources.forEach((r, i) =>
    assert.ok(sameBits(r.h, fromHost[i].h) && sameBits(r.w, fromHost[i].w), `problem ${i}`)
  );
});
