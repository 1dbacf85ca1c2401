// The NMF compute pipelines for one (k, p) pair, through the shared program cache. Every kernel file is
// compiled after common.wgsl (shared structs). The factor widths K and P size function-scope arrays, so they
// are rewritten `const`s; the grid geometry (plan.ts) and the algorithm's constants (settings.ts) are
// overrides, written once in TypeScript.
import { compileProgram, LINEAR_WORKGROUP, type UniformLayout, uniformLayout } from "../_program.ts";
import {
  GRAM_WORKGROUP,
  REDUCE_WORKGROUP,
  RES_ROWS,
  ROWS_PER_INVOCATION,
  STAT_CHUNK,
  UPDATE_WORKGROUP,
  VTF_GROUPS,
  VTX_COLUMNS,
} from "./plan.ts";
import { JACOBI_SKIP, JACOBI_SWEEPS, NNDSVD_EPS } from "./settings.ts";

export interface NmfPipelines {
  k: number;
  p: number;
  /** Rows (or columns) covered by one update_w / update_h workgroup. */
  rowsPerUpdateTile: number;
  /** Rows of V per vtf workgroup for K = k and K = p. */
  vtfRowsK: number;
  vtfRowsP: number;
  /** Gram upper triangle + violation: floats per update partial. */
  partialWidth: number;
  /** The Params block of common.wgsl, packed by the solver. */
  params: UniformLayout;
  vtfK: GPUComputePipeline;
  vtxK: GPUComputePipeline;
  vtfP: GPUComputePipeline;
  vtxP: GPUComputePipeline;
  updateW: GPUComputePipeline;
  updateH: GPUComputePipeline;
  reduceW: GPUComputePipeline;
  reduceH: GPUComputePipeline;
  compact: GPUComputePipeline;
  gramH: GPUComputePipeline;
  stats: GPUComputePipeline;
  sumSplits: GPUComputePipeline;
  gramTall: GPUComputePipeline;
  orthonormalize: GPUComputePipeline;
  ritz: GPUComputePipeline;
  nndsvdScales: GPUComputePipeline;
  nndsvdW: GPUComputePipeline;
  nndsvdH: GPUComputePipeline;
  residual: GPUComputePipeline;
  finish: GPUComputePipeline;
}

/** Rows per vtf lane group (R in products.wgsl): fewer for wide K, to bound the R * K accumulators. */
function vtfRows(width: number): number {
  return width <= 8 ? 4 : width <= 16 ? 2 : 1;
}

const wgsl = (name: string) => new URL(`./${name}`, import.meta.url);
const COMMON = wgsl("common.wgsl");

/** The pipelines for factor width k and subspace width p, compiled once per device (see compileProgram). */
export async function nmfPipelines(device: GPUDevice, k: number, p: number): Promise<NmfPipelines> {
  const program = <E extends string>(
    file: string,
    label: string,
    entryPoints: E[],
    constants: Record<string, number>,
    overrides: Record<string, number>,
  ) => compileProgram(device, { label, sources: [COMMON, wgsl(file)], entryPoints, constants, overrides });
  const products = (width: number) =>
    program(
      "products.wgsl",
      `nmf products K=${width}`,
      ["vtf", "vtx"],
      { K: width, P: p, R: vtfRows(width) },
      { GROUPS: VTF_GROUPS, VTX_COLUMNS },
    );
  const [prodK, prodP, hals, init, error, params] = await Promise.all([
    products(k),
    products(p),
    program(
      "hals.wgsl",
      `nmf hals K=${k}`,
      ["update_w", "update_h", "reduce_w", "reduce_h", "compact", "gram_h"],
      { K: k, P: p },
      { RW: UPDATE_WORKGROUP, RPT: ROWS_PER_INVOCATION, GRAM_WORKGROUP, REDUCE_WORKGROUP },
    ),
    program(
      "init.wgsl",
      `nmf init K=${k} P=${p}`,
      [
        "stats",
        "sum_splits",
        "gram_tall",
        "orthonormalize",
        "ritz",
        "nndsvd_scales",
        "nndsvd_w",
        "nndsvd_h",
      ],
      { K: k, P: p },
      { STAT_CHUNK, JACOBI_SWEEPS, JACOBI_SKIP, NNDSVD_EPS, WORKGROUP: LINEAR_WORKGROUP, GRAM_WORKGROUP },
    ),
    program("error.wgsl", `nmf error K=${k}`, ["residual", "finish"], { K: k, P: p }, { RES_ROWS }),
    uniformLayout(COMMON, "Params"),
  ]);
  return {
    k,
    p,
    rowsPerUpdateTile: UPDATE_WORKGROUP * ROWS_PER_INVOCATION,
    vtfRowsK: VTF_GROUPS * vtfRows(k),
    vtfRowsP: VTF_GROUPS * vtfRows(p),
    partialWidth: (k * (k + 1)) / 2 + 1,
    params,
    vtfK: prodK.vtf,
    vtxK: prodK.vtx,
    vtfP: prodP.vtf,
    vtxP: prodP.vtx,
    updateW: hals.update_w,
    updateH: hals.update_h,
    reduceW: hals.reduce_w,
    reduceH: hals.reduce_h,
    compact: hals.compact,
    gramH: hals.gram_h,
    stats: init.stats,
    sumSplits: init.sum_splits,
    gramTall: init.gram_tall,
    orthonormalize: init.orthonormalize,
    ritz: init.ritz,
    nndsvdScales: init.nndsvd_scales,
    nndsvdW: init.nndsvd_w,
    nndsvdH: init.nndsvd_h,
    residual: error.residual,
    finish: error.finish,
  };
}
