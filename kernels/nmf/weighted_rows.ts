// Builds the NMF input V of attribution-weighted activations on the GPU (weighted_rows.wgsl): one upload of
// the activations in the network's layout instead of a transpose in JavaScript, and every problem's V in
// one storage buffer, consecutive, so that the solver binds it in place (no copy).
import { createStorageBuffer, createUniformBuffer } from "../../src/runtime/gpu.ts";
import { compileProgram, encodeDispatch, packUniforms, uniformLayout } from "../_program.ts";
import { WEIGHTED_ROWS_TILE as TILE } from "./settings.ts";

/** One problem: images x c x hw activations, images x hw maps, and which images give rows (in order). */
export interface WeightedRowsSource {
  activations: Float32Array;
  maps: Float32Array;
  keep: number[];
  hw: number;
}

/**
 * V of every source, (keep.length * hw) x c row-major each (as weightedRows in src/pipeline/concepts/), one after the other in one STORAGE buffer
 * (the caller destroys it); `offsets[g]` is problem g's byte offset.
 */
export async function weightedRowsOnGpu(
  device: GPUDevice,
  sources: WeightedRowsSource[],
  c: number,
): Promise<{ buffer: GPUBuffer; offsets: number[] }> {
  const source = new URL("./weighted_rows.wgsl", import.meta.url);
  const layout = await uniformLayout(source, "RowsParams");
  const program = await compileProgram(device, {
    label: "nmf weighted rows",
    sources: [source],
    entryPoints: ["weighted_rows"],
    overrides: { TILE },
  });
  const rowsBytes = (s: WeightedRowsSource) => s.keep.length * s.hw * c * 4;
  const offsets: number[] = [];
  let total = 0;
  for (const s of sources) {
    const hw = s.hw;
    if (s.activations.length % (c * hw) || s.maps.length * c !== s.activations.length) {
      throw new Error(
        `weightedRowsOnGpu: activations (${s.activations.length}) and maps (${s.maps.length}) ` +
          `are not images x ${c} x ${hw} and images x ${hw}`,
      );
    }
    const images = s.maps.length / hw;
    const bad = s.keep.find((i) => !Number.isInteger(i) || i < 0 || i >= images);
    if (bad !== undefined) throw new Error(`weightedRowsOnGpu: keep names image ${bad} of ${images}`);
    offsets.push(total);
    total += rowsBytes(s);
  }
  const buffer = createStorageBuffer(
    device,
    Math.max(4, total),
    GPUBufferUsage.COPY_SRC,
    "nmf V (weighted rows)",
  );
  const align = device.limits.minStorageBufferOffsetAlignment;
  const temporary: GPUBuffer[] = [];
  try {
    const encoder = device.createCommandEncoder({ label: "nmf weighted rows" });
    const pass = encoder.beginComputePass({ label: "nmf weighted rows" });
    sources.forEach((s, g) => {
      if (!s.keep.length) return;
      const hw = s.hw;
      // A binding starts at a multiple of the offset alignment; the rest of the offset goes in out_base.
      const bindAt = Math.floor(offsets[g] / align) * align;
      const prm = createUniformBuffer(
        device,
        packUniforms(layout, { c, hw, tiles_hw: Math.ceil(hw / TILE), out_base: (offsets[g] - bindAt) / 4 }),
        "nmf weighted rows params",
      );
      const act = createStorageBuffer(device, s.activations, 0, "nmf activations");
      const maps = createStorageBuffer(device, s.maps, 0, "nmf maps");
      const keep = createStorageBuffer(device, Uint32Array.from(s.keep), 0, "nmf kept images");
      temporary.push(prm, act, maps, keep);
      const out = { buffer, offset: bindAt, size: offsets[g] - bindAt + rowsBytes(s) };
      encodeDispatch(pass, device, program.weighted_rows, [prm, act, maps, keep, out], [
        Math.ceil(hw / TILE) * Math.ceil(c / TILE),
        s.keep.length,
      ]);
    });
    pass.end();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
  } catch (e) {
    buffer.destroy();
    throw e;
  } finally {
    for (const b of temporary) b.destroy();
  }
  return { buffer, offsets };
}
