// The one place where protoscope's WGSL becomes pipelines: every kernel family asks here for its programs, so
// loading sources, specializing constants, reporting compile errors and caching per device are written once.
//
// Constants chosen by the host come in two kinds. WGSL `override`s are set at pipeline creation and are the
// default: workgroup sizes, loop bounds, scalars, and (in wgpu) the length of `var<workgroup>` arrays. Only
// the length of a function- or private-scope array must be a creation-time `const`; for those a
// `const NAME: u32 = <n>u;` line is rewritten (`constants`). Either way the value is written once, in the
// TypeScript that also sizes the dispatch grid, and passed in, so no shader number is mirrored by hand.

import { readTextAsset } from "../src/runtime/assets.ts";

/** What a family compiles: its sources, the constants that specialize them, and the entry points it needs. */
export interface ProgramSpec<E extends string = string> {
  /** Label of shaders and pipelines (error messages and GPU captures), e.g. "nmf hals K=6". */
  label: string;
  /** WGSL files, concatenated in order (shared structs first): WGSL has no includes. */
  sources: readonly URL[];
  /** Entry points to build a pipeline for. */
  entryPoints: readonly E[];
  /** Values for `const NAME: u32 = <n>u;` lines (function/private array sizes); each named line must exist. */
  constants?: Readonly<Record<string, number>>;
  /** Values for WGSL `override` declarations, set at pipeline creation; each must be declared in the sources. */
  overrides?: Readonly<Record<string, number>>;
}

export type Program<E extends string> = Record<E, GPUComputePipeline>;

/**
 * WGSL source from a file beside the module that dispatches it (`new URL("./x.wgsl", import.meta.url)`), read
 * through the asset loader so that the compiled binary reads its embedded copy.
 */
export function loadWgsl(url: URL): Promise<string> {
  return url.protocol === "file:" ? readTextAsset(url) : fetch(url).then((r) => r.text());
}

/** Rewrites `const NAME: u32 = <n>u;` lines; a constant the source lacks is an error, not a silent no-op. */
export function specializeConstants(
  source: string,
  constants: Readonly<Record<string, number>>,
  label = "WGSL",
): string {
  let out = source;
  for (const [name, value] of Object.entries(constants)) {
    const pattern = new RegExp(`^const ${name}: u32 = \\d+u;`, "m");
    if (!pattern.test(out)) throw new Error(`${label}: the WGSL has no line "const ${name}: u32 = <n>u;"`);
    out = out.replace(pattern, `const ${name}: u32 = ${value >>> 0}u;`);
  }
  return out;
}

const programs = new WeakMap<GPUDevice, Map<string, Promise<Program<string>>>>();

/**
 * The pipelines of `spec` on `device`, compiled once per device and specialization (llvmpipe takes seconds
 * per compile). A failed compile is reported with the label, the file and line, and the message, and is not
 * cached.
 */
export function compileProgram<E extends string>(
  device: GPUDevice,
  spec: ProgramSpec<E>,
): Promise<Program<E>> {
  let perDevice = programs.get(device);
  if (!perDevice) programs.set(device, perDevice = new Map());
  const key = JSON.stringify([
    spec.label,
    spec.sources.map((u) => u.href),
    spec.entryPoints,
    spec.constants ?? {},
    spec.overrides ?? {},
  ]);
  let program = perDevice.get(key);
  if (!program) {
    program = build(device, spec);
    perDevice.set(key, program);
    program.catch(() => perDevice.delete(key));
  }
  return program as Promise<Program<E>>;
}

async function build<E extends string>(device: GPUDevice, spec: ProgramSpec<E>): Promise<Program<E>> {
  const sources = await Promise.all(spec.sources.map(loadWgsl));
  const code = specializeConstants(sources.join("\n"), spec.constants ?? {}, spec.label);
  const module = device.createShaderModule({ label: spec.label, code });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === "error");
  if (errors.length) {
    const where = sourceLine(spec.sources, sources);
    throw new Error(
      `${spec.label} failed to compile:\n` +
        errors.map((e) => `  ${where(e.lineNum)}:${e.linePos}: ${e.message.trim()}`).join("\n"),
    );
  }
  const constants = spec.overrides ? { constants: { ...spec.overrides } } : {};
  const entries = await Promise.all(spec.entryPoints.map(async (entryPoint) => {
    try {
      const pipeline = await device.createComputePipelineAsync({
        label: `${spec.label} ${entryPoint}`,
        layout: "auto",
        compute: { module, entryPoint, ...constants },
      });
      return [entryPoint, pipeline] as const;
    } catch (e) {
      throw new Error(`${spec.label}: pipeline ${entryPoint} failed: ${(e as Error).message}`);
    }
  }));
  return Object.fromEntries(entries) as Program<E>;
}

/** Maps a line of the concatenated code back to "file.wgsl line n" (sources are joined with one newline). */
function sourceLine(urls: readonly URL[], texts: readonly string[]): (line: number) => string {
  return (line) => {
    let first = 1;
    for (let i = 0; i < texts.length; i++) {
      const lines = texts[i].split("\n").length;
      if (line < first + lines) return `${urls[i].pathname.split("/").pop()} line ${line - first + 1}`;
      first += lines;
    }
    return `line ${line}`;
  };
}

/** A storage or uniform binding: a whole buffer, or an explicit range (ORT's buffers are larger than tensors). */
export type Binding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

/** Group 0's bindings by index: an array (`[a, b]` is bindings 0 and 1) or, when sparse, `{ 1: a, 3: b }`. */
export type Bindings = readonly Binding[] | Readonly<Record<number, Binding>>;

/** A bind group for group 0 of `pipeline`. */
export function bindGroup(device: GPUDevice, pipeline: GPUComputePipeline, bindings: Bindings): GPUBindGroup {
  return device.createBindGroup({
    label: pipeline.label,
    layout: pipeline.getBindGroupLayout(0),
    entries: Object.entries(bindings).map(([binding, b]: [string, Binding]) => ({
      binding: Number(binding),
      resource: b instanceof GPUBuffer ? { buffer: b } : b,
    })),
  });
}

/** Workgroups of one dispatch: a direct grid, or indirect sizes (3 u32) stored in a buffer on the GPU. */
export type Workgroups = readonly [number, number?, number?] | { indirect: GPUBuffer; offset?: number };

/**
 * Records one dispatch of `pipeline` into an open compute pass, with `bindings` or a bind group made once
 * and reused (loops that dispatch the same bindings many times). A direct grid is checked against the
 * device's per-dimension limit.
 */
export function encodeDispatch(
  pass: GPUComputePassEncoder,
  device: GPUDevice,
  pipeline: GPUComputePipeline,
  bindings: Bindings | GPUBindGroup,
  workgroups: Workgroups,
): void {
  const limit = device.limits.maxComputeWorkgroupsPerDimension;
  if (!("indirect" in workgroups) && workgroups.some((n) => (n ?? 1) > limit)) {
    throw new Error(
      `${pipeline.label}: dispatch ${workgroups.join(" x ")} exceeds ${limit} workgroups per dimension`,
    );
  }
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindings instanceof GPUBindGroup ? bindings : bindGroup(device, pipeline, bindings));
  if ("indirect" in workgroups) pass.dispatchWorkgroupsIndirect(workgroups.indirect, workgroups.offset ?? 0);
  else pass.dispatchWorkgroups(workgroups[0], workgroups[1] ?? 1, workgroups[2] ?? 1);
}

/** Invocations per workgroup of the kernels that run one invocation per element (`override WORKGROUP`). */
export const LINEAR_WORKGROUP = 256;

/** Splits a 1-D count of workgroups over x and y so that neither exceeds the per-dimension limit. */
export function dispatchGrid(workgroups: number, limit = 65535): [number, number] {
  if (workgroups <= limit) return [Math.max(1, workgroups), 1];
  const y = Math.ceil(workgroups / limit);
  return [Math.ceil(workgroups / y), y];
}
