// The roofline model of src/bench/roofline.ts: the slower roof (or the serial chain) decides, the kernel lines
// cover every family, and the GEMM lines count what the kernels compute.
import assert from "node:assert/strict";
import {
  H200,
  hyperplaneCosts,
  imagenetKernelCosts,
  type KernelCost,
  predict,
  rooflineTable,
  searchCosts,
} from "../src/bench/roofline.ts";

const base: KernelCost = {
  family: "search",
  kernel: "k",
  call: "c",
  flop: 0,
  bytes: 0,
  computeFraction: 0.5,
  memoryFraction: 0.5,
  callsPerRun: 10,
};

Deno.test("roofline: the slower of the two roofs, or the serial chain, gives the time", () => {
  // 67 GFLOP at half of 67 TFLOP/s: 2 ms; 2.4 GB at half of 4.8 TB/s: 1 ms.
  const compute = predict({ ...base, flop: 67e9, bytes: 2.4e9 });
  assert.equal(compute.bound, "compute");
  assert.ok(Math.abs(compute.predictedSeconds - 2e-3) < 1e-12);
  assert.ok(Math.abs(compute.predictedRunSeconds - 2e-2) < 1e-12);
  assert.ok(Math.abs(compute.intensity - 67 / 2.4) < 1e-12);
  const memory = predict({ ...base, flop: 6.7e9, bytes: 4.8e9 });
  assert.equal(memory.bound, "memory");
  assert.ok(Math.abs(memory.predictedSeconds - 2e-3) < 1e-12);
  const serial = predict({ ...base, flop: 1e6, bytes: 1e3, serialFlop: 1e6 });
  assert.equal(serial.bound, "serial");
  assert.ok(Math.abs(serial.predictedSeconds - 1e-3) < 1e-12);
  assert.equal(compute.machine, H200.name);
});

Deno.test("roofline: every kernel family has lines; the table is ordered by time over a run", () => {
  const table = rooflineTable();
  for (const family of ["nmf", "search", "hyperplane", "composite", "normalize", "nnls"]) {
    assert.ok(table.some((k) => k.family === family), family);
  }
  for (const k of table) {
    assert.ok(k.flop > 0 && k.bytes > 0 && Number.isFinite(k.predictedSeconds), k.kernel);
  }
  table.slice(1).forEach((k, i) => assert.ok(k.predictedRunSeconds <= table[i].predictedRunSeconds));
  assert.equal(imagenetKernelCosts().length, table.length);
});

Deno.test("roofline: the GEMM lines count 2 x M x N x K, and the old hyperplane tile is predicted slower", () => {
  const [, matmul] = searchCosts({
    prototypes: 6000,
    channels: 1024,
    batch: 64,
    positions: 196,
    cells: 49,
    topK: 8,
    excludedTopK: 8,
  }, 1);
  assert.equal(matmul.flop, 2 * 6000 * 1024 * 64 * 49);
  const shape = { channels: 1024, rowsPerClass: 2000, classesA: 64, classesB: 64 };
  const [logits, gradient] = hyperplaneCosts(shape, 1);
  assert.equal(gradient.flop, 2 * 64 * 2000 * 64 * 1025);
  const [oldLogits] = hyperplaneCosts(shape, 1, true);
  assert.ok(oldLogits.replaced && !logits.replaced);
  assert.ok(predict(oldLogits).predictedSeconds > 3 * predict(logits).predictedSeconds);
});
