// The settings of the random family, written once for fill.wgsl, its dispatcher and its CPU twin.
import { LINEAR_WORKGROUP } from "../_program.ts";

/** Invocations per workgroup of fill.wgsl (its `override WORKGROUP`), which also sizes the grid. */
export const FILL_WORKGROUP = LINEAR_WORKGROUP;

/** `count` floats of `buffer` (from byte 0) to fill from `seed`. */
export interface RandomFill {
  buffer: GPUBuffer;
  count: number;
  seed: number;
}
