// The rehearsal's per-stage peak GPU bytes come from counting the shared device's buffers: a peak that
// missed a buffer, or never fell after destroy(), would misreport every stage.
import assert from "node:assert/strict";
import { gpu, noGpu } from "./_helpers/gpu.ts";
import { peakGpuBufferBytes } from "../src/runtime/gpu_meter.ts";

Deno.test("the shared device's buffers are counted: the peak is the most bytes live at once", {
  ignore: noGpu,
}, () => {
  const device = gpu!.device;
  const before = peakGpuBufferBytes()!;
  const usage = GPUBufferUsage.STORAGE;
  // Sizes far above anything earlier in this process, so the peak is set here.
  const big = before + 4096;
  const a = device.createBuffer({ size: big, usage });
  const b = device.createBuffer({ size: 1024, usage });
  assert.ok(peakGpuBufferBytes()! >= big + 1024);
  const peakAfterTwo = peakGpuBufferBytes()!;
  a.destroy();
  a.destroy(); // a second destroy() is no second release
  const c = device.createBuffer({ size: big - 4, usage });
  assert.equal(peakGpuBufferBytes(), peakAfterTwo, "a buffer made after a destroy() reuses its share");
  const d = device.createBuffer({ size: 8, usage });
  assert.equal(peakGpuBufferBytes(), peakAfterTwo + 4, "only what exceeds the earlier peak raises it");
  for (const x of [b, c, d]) x.destroy();
});
