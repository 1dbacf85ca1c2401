// What the contrast tests need from a folder of pair hyperplanes: the part of hyperplanes_io's reader they
// use (rows loaded per source class, normal and bias of any (i, j)), so tests can hand in constructed
// hyperplanes, and the check that catches a folder of another model or layer before any compute.
import { UsageError } from "../../../cli/cli.ts";
import type { Hyperplanes } from "./hyperplanes_io.ts";
import { checkOrigin } from "../../../io/manifest.ts";

export type HyperplaneSet =
  & Pick<
    Hyperplanes,
    "numClasses" | "channels" | "rowClasses" | "loadRow" | "normal" | "bias"
  >
  & Partial<Pick<Hyperplanes, "manifest" | "ref">>;

/** What the consumer's model offers at its --layer. */
export interface TapOfModel {
  channels: number;
  tapTensor: string;
  sha256: string;
  path: string;
}

/**
 * The hyperplanes must come from the vectors of this model at this layer (their manifest records both; the
 * reference's .pt folders and in-memory sets record nothing and are checked by width only), and live in the
 * layer's channel space.
 */
export function checkHyperplanesFit(
  planes: HyperplaneSet,
  source: string,
  layer: string,
  model: TapOfModel,
): void {
  checkOrigin(`--hyperplanes ${source}`, "hyperplanes", planes.manifest, {
    model: { sha256: model.sha256, path: model.path },
    layer: { name: layer, tensor: model.tapTensor },
  });
  const channels = model.channels;
  if (planes.channels !== channels) {
    throw new UsageError(
      `--hyperplanes ${source}: normals have ${planes.channels} channels, but --layer ${layer} has ${channels}; ` +
        "the hyperplanes were trained at another layer",
    );
  }
}

/**
 * Hyperplanes held in memory (tests, demos): `normals[i]` is K x C (row j = normal of (i, j)), `biases[i]`
 * K values; classes without an entry have no row.
 */
export function hyperplanesInMemory(
  numClasses: number,
  channels: number,
  normals: Map<number, Float32Array>,
  biases: Map<number, Float32Array> = new Map(),
): HyperplaneSet {
  const row = (i: number) => {
    const r = normals.get(i);
    if (!r) throw new Error(`no hyperplanes for class ${i}`);
    return r;
  };
  return {
    numClasses,
    channels,
    rowClasses: [...normals.keys()].sort((a, b) => a - b),
    loadRow: (i) => {
      const r = row(i);
      return Promise.resolve({
        normals: r,
        bias: biases.get(i) ?? new Float32Array(numClasses),
        accuracy: new Float32Array(numClasses),
      });
    },
    normal: (i, j) => row(i).subarray(j * channels, (j + 1) * channels),
    bias: (i, j) => biases.get(i)?.[j] ?? 0,
  };
}
