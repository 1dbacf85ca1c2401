// What the contrast tests need from a folder of pair hyperplanes (the hyperplanes task's output): the normal
// and bias of any (i, j), read lazily, and the width check that catches a folder of another layer.
import { UsageError } from "../../cli/cli.ts";

/** The hyperplanes the contrast tests read: what hyperplanes_io's reader provides. */
export interface HyperplaneSet {
  numClasses: number;
  channels: number;
  /** Normal of the (i, j) hyperplane (C floats): positive towards class j. */
  normal(i: number, j: number): Float32Array;
  bias(i: number, j: number): number;
}

/** The hyperplane must live in the layer's channel space. */
export function checkHyperplaneWidth(planes: HyperplaneSet, source: string, layer: string, channels: number): void {
  if (planes.channels !== channels) {
    throw new UsageError(
      `--hyperplanes ${source}: normals have ${planes.channels} channels, but --layer ${layer} has ${channels}; ` +
        "the hyperplanes were trained at another layer",
    );
  }
}
