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

/** The integer hashes every family that draws seeded values compiles ahead of its own sources. */
export const HASH_WGSL = new URL("./_hash.wgsl", import.meta.url);

/** Invocations per workgroup of the kernels that run one invocation per element (`override WORKGROUP`). */
export const LINEAR_WORKGROUP = 256;

/** Splits a 1-D count of workgroups over x and y so that neither exceeds the per-dimension limit. */
export function dispatchGrid(workgroups: number, limit = 65535): [number, number] {
  if (workgroups <= limit) return [Math.max(1, workgroups), 1];
  const y = Math.ceil(workgroups / limit);
  return [Math.ceil(workgroups / y), y];
}

// Uniform blocks. A block's struct is declared once, in the WGSL the kernels read; the host packs it from
// that declaration by field name (uniformLayout + packUniforms), so no byte offset is written by hand and the
// two sides cannot drift: a field the host does not give, or gives with the wrong shape, is an error.

/** A scalar type of a struct member, and how its bytes are written. */
type ScalarKind = "u32" | "i32" | "f32";

/** One member of a struct, placed by WGSL's alignment rules. */
export interface StructField {
  name: string;
  /** The type as written, e.g. "vec4<f32>". */
  type: string;
  offset: number;
  size: number;
  align: number;
  /** Scalar components: 1, 2..4 (vectors), columns x rows (matrices) or the array's flattened length. */
  components: number;
  kind: ScalarKind;
  /** Bytes from one component to the next column / array element (matrices and arrays); 0 otherwise. */
  stride: number;
  /** Components per column or array element (matrix rows, vector width of an array element). */
  perStride: number;
}

/** A struct's layout in the uniform address space. */
export interface UniformLayout {
  name: string;
  /** Bytes of the struct (WGSL's SizeOf: the end of its last member rounded up to its alignment). */
  size: number;
  fields: readonly StructField[];
}

const roundUp = (align: number, n: number) => Math.ceil(n / align) * align;

/** Size, alignment and scalar shape of a WGSL type in the uniform address space. */
function typeLayout(type: string, where: string): Omit<StructField, "name" | "type" | "offset"> {
  const scalar = /^(u32|i32|f32)$/.exec(type);
  if (scalar) {
    return { size: 4, align: 4, components: 1, kind: scalar[1] as ScalarKind, stride: 0, perStride: 1 };
  }
  const shorthand = /^vec([234])([uif])$/.exec(type);
  const vec = /^vec([234])<(u32|i32|f32)>$/.exec(type) ??
    (shorthand && [type, shorthand[1], { u: "u32", i: "i32", f: "f32" }[shorthand[2]]!]);
  if (vec) {
    const n = Number(vec[1]);
    return {
      size: 4 * n,
      align: n === 2 ? 8 : 16,
      components: n,
      kind: vec[2] as ScalarKind,
      stride: 0,
      perStride: n,
    };
  }
  const mat = /^mat([234])x([234])(?:<f32>|f)$/.exec(type);
  if (mat) {
    const [cols, rows] = [Number(mat[1]), Number(mat[2])];
    const column = typeLayout(`vec${rows}<f32>`, where);
    const stride = roundUp(column.align, column.size);
    return {
      size: cols * stride,
      align: column.align,
      components: cols * rows,
      kind: "f32",
      stride,
      perStride: rows,
    };
  }
  const array = /^array<(.+),\s*(\d+)u?>$/.exec(type);
  if (array) {
    const element = typeLayout(array[1].trim(), where);
    if (element.stride) throw new Error(`${where}: arrays of arrays or matrices are not supported here`);
    const stride = roundUp(element.align, element.size);
    if (stride % 16 !== 0) {
      // WGSL's uniform address space constraint; the compiler would refuse the block.
      throw new Error(
        `${where}: an array in a uniform block needs a 16-byte element stride (vec3 / vec4 elements)`,
      );
    }
    const n = Number(array[2]);
    return {
      size: n * stride,
      align: roundUp(16, element.align),
      components: n * element.components,
      kind: element.kind,
      stride,
      perStride: element.components,
    };
  }
  throw new Error(
    `${where}: type ${type} is not supported in a packed uniform block (scalars, vectors, matrices, arrays)`,
  );
}

/** The layout of `struct <name> { ... }` as WGSL places it in a uniform buffer. */
export function parseUniformStruct(source: string, name: string, what = "WGSL"): UniformLayout {
  const body = new RegExp(`struct\\s+${name}\\s*\\{([^}]*)\\}`).exec(source);
  if (!body) throw new Error(`${what}: no "struct ${name} { ... }" declaration`);
  const fields: StructField[] = [];
  let end = 0;
  let structAlign = 1;
  const members = body[1].replace(/\/\/[^\n]*/g, "").split(/,(?![^<]*>)/).map((m) => m.trim()).filter(
    Boolean,
  );
  for (const member of members) {
    const where = `${what}: ${name}.${member.split(":")[0].trim()}`;
    if (member.startsWith("@")) throw new Error(`${where}: @align / @size attributes are not supported here`);
    const m = /^(\w+)\s*:\s*(.+)$/.exec(member);
    if (!m) throw new Error(`${what}: cannot read member "${member}" of struct ${name}`);
    const layout = typeLayout(m[2].replace(/\s+/g, ""), where);
    const offset = roundUp(layout.align, end);
    fields.push({ name: m[1], type: m[2].replace(/\s+/g, ""), offset, ...layout });
    end = offset + layout.size;
    structAlign = Math.max(structAlign, layout.align);
  }
  return { name, size: roundUp(structAlign, end), fields };
}

const layouts = new Map<string, Promise<UniformLayout>>();

/** The layout of struct `name` in the WGSL file `source` (read once per file and struct). */
export function uniformLayout(source: URL, name: string): Promise<UniformLayout> {
  const key = `${source.href}#${name}`;
  let layout = layouts.get(key);
  if (!layout) {
    const file = source.pathname.split("/").pop();
    layout = loadWgsl(source).then((text) => parseUniformStruct(text, name, file));
    layouts.set(key, layout);
    layout.catch(() => layouts.delete(key));
  }
  return layout;
}

/** A value for one member: a number (booleans as 1 / 0 for u32 flags) or the components of a vector, matrix or array. */
export type UniformValue = number | boolean | readonly number[];

/**
 * The bytes of one uniform block: every member by name, except padding (names starting with `_`, left zero).
 * A missing or unknown name, a component count that does not match, or a u32 / i32 out of range is an error.
 */
export function packUniforms(
  layout: UniformLayout,
  values: Readonly<Record<string, UniformValue>>,
): Uint8Array<ArrayBuffer> {
  const bytes = new ArrayBuffer(layout.size);
  const view = new DataView(bytes);
  const what = `uniform block ${layout.name}`;
  const known = new Set(layout.fields.map((f) => f.name));
  for (const name of Object.keys(values)) {
    if (!known.has(name)) throw new Error(`${what}: it has no member "${name}"`);
  }
  for (const field of layout.fields) {
    const value = values[field.name];
    if (value === undefined) {
      if (field.name.startsWith("_")) continue;
      throw new Error(`${what}: no value given for ${field.name}: ${field.type}`);
    }
    const components = typeof value === "object" ? value : [Number(value)];
    if (components.length !== field.components) {
      throw new Error(
        `${what}: ${field.name}: ${field.type} takes ${field.components} values, got ${components.length}`,
      );
    }
    components.forEach((x, i) => {
      const at = field.offset +
        (field.stride ? Math.floor(i / field.perStride) * field.stride + (i % field.perStride) * 4 : i * 4);
      if (field.kind === "f32") return view.setFloat32(at, x, true);
      const [lo, hi] = field.kind === "u32" ? [0, 2 ** 32 - 1] : [-(2 ** 31), 2 ** 31 - 1];
      if (!Number.isInteger(x) || x < lo || x > hi) {
        throw new Error(`${what}: ${field.name} must be a ${field.kind}, got ${x}`);
      }
      if (field.kind === "u32") view.setUint32(at, x, true);
      else view.setInt32(at, x, true);
    });
  }
  return new Uint8Array(bytes);
}
