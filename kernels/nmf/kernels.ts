// Compiles the NMF compute pipelines for one (k, p) pair, once per device. Each .wgsl file is prefixed with
// common.wgsl (shared structs) and its marked constants (`const NAME: u32 = <n>u;`) are rewritten, because
// WGSL sizes private arrays only with constants, not pipeline overrides.
import { loadWgsl } from "../_program.ts";

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
  gramWide: GPUComputePipeline;
  gramTall: GPUComputePipeline;
  orthFactor: GPUComputePipeline;
  orthApply: GPUComputePipeline;
  ritz: GPUComputePipeline;
  nndsvdScales: GPUComputePipeline;
  nndsvdW: GPUComputePipeline;
  nndsvdH: GPUComputePipeline;
  residual: GPUComputePipeline;
  finish: GPUComputePipeline;
}

/** Rows per invocation in update_w / update_h (RPT in hals.wgsl), and invocations per workgroup (RW). */
const ROWS_PER_INVOCATION = 4;
const UPDATE_WORKGROUP = 64;
/** vtf lane groups per workgroup (GROUPS in products.wgsl). */
const VTF_GROUPS = 8;

/** Rows per vtf lane group: fewer for wide K, to bound the R * K accumulators per invocation. */
function vtfRows(width: number): number {
  return width <= 8 ? 4 : width <= 16 ? 2 : 1;
}

const cache = new WeakMap<GPUDevice, Map<string, Promise<NmfPipelines>>>();

export function nmfPipelines(device: GPUDevice, k: number, p: number): Promise<NmfPipelines> {
  let perDevice = cache.get(device);
  if (!perDevice) cache.set(device, perDevice = new Map());
  const key = `${k}/${p}`;
  let pipelines = perDevice.get(key);
  if (!pipelines) {
    pipelines = build(device, k, p);
    perDevice.set(key, pipelines);
    pipelines.catch(() => perDevice.delete(key));
  }
  return pipelines;
}

export function specialize(source: string, constants: Record<string, number>): string {
  let out = source;
  for (const [name, value] of Object.entries(constants)) {
    const pattern = new RegExp(`^const ${name}: u32 = \\d+u;`, "m");
    if (!pattern.test(out)) throw new Error(`nmf kernels: WGSL has no specializable constant ${name}`);
    out = out.replace(pattern, `const ${name}: u32 = ${value}u;`);
  }
  return out;
}

async function build(device: GPUDevice, k: number, p: number): Promise<NmfPipelines> {
  const load = (name: string) => loadWgsl(new URL(`./${name}`, import.meta.url));
  const [common, products, hals, init, error] = await Promise.all(
    ["common.wgsl", "products.wgsl", "hals.wgsl", "init.wgsl", "error.wgsl"].map(load),
  );
  const partialWidth = (k * (k + 1)) / 2 + 1;
  const module = async (label: string, body: string, constants: Record<string, number>) => {
    const code = specialize(common + "\n" + body, constants);
    const m = device.createShaderModule({ label, code });
    const info = await m.getCompilationInfo();
    const errors = info.messages.filter((msg) => msg.type === "error");
    if (errors.length) {
      throw new Error(
        `nmf kernels: ${label} failed to compile:\n${
          errors.map((e) => `${e.lineNum}: ${e.message}`).join("\n")
        }`,
      );
    }
    return m;
  };
  const [prodK, prodP, halsK, initKP, errorK] = await Promise.all([
    module(`nmf products K=${k}`, products, { K: k, P: p, R: vtfRows(k) }),
    module(`nmf products K=${p}`, products, { K: p, P: p, R: vtfRows(p) }),
    module(`nmf hals K=${k}`, hals, { K: k, P: p, RW: UPDATE_WORKGROUP }),
    module(`nmf init K=${k} P=${p}`, init, { K: k, P: p }),
    module(`nmf error K=${k}`, error, { K: k, P: p }),
  ]);
  const pipeline = (m: GPUShaderModule, entryPoint: string) =>
    device.createComputePipeline({
      label: `nmf ${entryPoint}`,
      layout: "auto",
      compute: { module: m, entryPoint },
    });
  return {
    k,
    p,
    rowsPerUpdateTile: UPDATE_WORKGROUP * ROWS_PER_INVOCATION,
    vtfRowsK: VTF_GROUPS * vtfRows(k),
    vtfRowsP: VTF_GROUPS * vtfRows(p),
    partialWidth,
    vtfK: pipeline(prodK, "vtf"),
    vtxK: pipeline(prodK, "vtx"),
    vtfP: pipeline(prodP, "vtf"),
    vtxP: pipeline(prodP, "vtx"),
    updateW: pipeline(halsK, "update_w"),
    updateH: pipeline(halsK, "update_h"),
    reduceW: pipeline(halsK, "reduce_w"),
    reduceH: pipeline(halsK, "reduce_h"),
    compact: pipeline(halsK, "compact"),
    gramH: pipeline(halsK, "gram_h"),
    stats: pipeline(initKP, "stats"),
    sumSplits: pipeline(initKP, "sum_splits"),
    gramWide: pipeline(initKP, "gram_wide"),
    gramTall: pipeline(initKP, "gram_tall"),
    orthFactor: pipeline(initKP, "orth_factor"),
    orthApply: pipeline(initKP, "orth_apply"),
    ritz: pipeline(initKP, "ritz"),
    nndsvdScales: pipeline(initKP, "nndsvd_scales"),
    nndsvdW: pipeline(initKP, "nndsvd_w"),
    nndsvdH: pipeline(initKP, "nndsvd_h"),
    residual: pipeline(errorK, "residual"),
    finish: pipeline(errorK, "finish"),
  };
}
