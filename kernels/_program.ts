// The one place where protoscope's WGSL becomes pipelines: every kernel family asks here for its programs, so
// loading sources, specializing constants, reporting compile errors and caching per device are written once.
//
// Constants chosen by the host come in two kinds. WGSL `override`s are set at pipeline creation and are the
// default. Only where WGSL demands a creation-time constant expression that overrides cannot give (the size of
// a `var<private>` or `var<function>` array, a `var<workgroup>` array in some implementations), a
// `const NAME: u32 = <n>u;` line is rewritten (`constants`); the TypeScript that mirrors such a constant says so.

/** What a family compiles: its sources, the constants that specialize them, and the entry points it needs. */
export interface ProgramSpec<E extends string = string> {
  /** Label of shaders and pipelines (error messages and GPU captures), e.g. "nmf hals K=6". */
  label: string;
  /** WGSL files, concatenated in order (shared structs first): WGSL has no includes. */
  sources: readonly URL[];
  /** Entry points to build a pipeline for. */
  entryPoints: readonly E[];
  /** Values for `const NAME: u32 = <n>u;` lines (array sizes); each named line must exist. */
  constants?: Readonly<Record<string, number>>;
  /** Values for WGSL `override` declarations, set at pipeline creation. */
  overrides?: Readonly<Record<string, number>>;
}

export type Program<E extends string> = Record<E, GPUComputePipeline>;

const sourceCache = new Map<string, Promise<string>>();

/** WGSL source from a file beside the module that dispatches it (`new URL("./x.wgsl", import.meta.url)`). */
export function loadWgsl(url: URL): Promise<string> {
  let text = sourceCache.get(url.href);
  if (!text) {
    text = url.protocol === "file:" ? Deno.readTextFile(url) : fetch(url).then((r) => r.text());
    sourceCache.set(url.href, text);
    text.catch(() => sourceCache.delete(url.href));
  }
  return text;
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
 * per compile). A failed compile is reported with the label, line and message, and is not cached.
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
    const files = spec.sources.map((u) => u.pathname.split("/").pop()).join(" + ");
    throw new Error(
      `${spec.label} (${files}) failed to compile:\n` +
        errors.map((e) => `  line ${e.lineNum}:${e.linePos}: ${e.message}`).join("\n"),
    );
  }
  const entries = await Promise.all(spec.entryPoints.map(async (entryPoint) => {
    const pipeline = await device.createComputePipelineAsync({
      label: `${spec.label} ${entryPoint}`,
      layout: "auto",
      compute: { module, entryPoint, ...(spec.overrides ? { constants: { ...spec.overrides } } : {}) },
    });
    return [entryPoint, pipeline] as const;
  }));
  return Object.fromEntries(entries) as Program<E>;
}

/** A storage or uniform binding: a whole buffer, or an explicit range (ORT's buffers are larger than tensors). */
export type Binding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

/** A bind group for group 0 with `bindings[i]` at binding i. */
export function bindGroup(
  device: GPUDevice,
  pipeline: GPUComputePipeline,
  bindings: readonly Binding[],
): GPUBindGroup {
  return device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: bindings.map((b, binding) => ({
      binding,
      resource: "buffer" in b && !(b instanceof GPUBuffer) ? b : { buffer: b as GPUBuffer },
    })),
  });
}

/** Records one dispatch of `pipeline` with `bindings` into an open compute pass. */
export function encodeDispatch(
  pass: GPUComputePassEncoder,
  device: GPUDevice,
  pipeline: GPUComputePipeline,
  bindings: readonly Binding[],
  workgroups: readonly [number, number?, number?],
): void {
  const limit = device.limits.maxComputeWorkgroupsPerDimension;
  if (workgroups.some((n) => (n ?? 1) > limit)) {
    throw new Error(
      `${pipeline.label}: dispatch ${workgroups.join(" x ")} exceeds ${limit} workgroups per dimension`,
    );
  }
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup(device, pipeline, bindings));
  pass.dispatchWorkgroups(workgroups[0], workgroups[1] ?? 1, workgroups[2] ?? 1);
}

/** Splits a 1-D count of workgroups over x and y so that neither exceeds the per-dimension limit. */
export function dispatchGrid(workgroups: number, limit = 65535): [number, number] {
  if (workgroups <= limit) return [Math.max(1, workgroups), 1];
  const y = Math.ceil(workgroups / limit);
  return [Math.ceil(workgroups / y), y];
}
