// kernels/_program.ts, the plumbing every kernel family compiles through: compile errors name the label, the
// file and the line; a `const` the host means to rewrite must exist; one spec compiles once per device; and
// overrides, rewritten constants, sparse bindings and indirect dispatches reach the GPU; and uniform blocks are
// packed from their WGSL struct by WGSL's alignment rules (checked against hand-computed layouts, against the
// offsets the families once packed by hand, and against what a kernel reads on the GPU).
import assert from "node:assert/strict";
import {
  compileProgram,
  encodeDispatch,
  packUniforms,
  parseUniformStruct,
  specializeConstants,
  uniformLayout,
} from "../kernels/_program.ts";
import { STATE_BYTES } from "../kernels/nmf/plan.ts";
import { GEMM_CONSTANTS, GEMM_LOAD_KMAJOR_SOURCE, GEMM_TILE_SOURCE } from "../kernels/_gemm_tile.ts";
import { acquireGpu, readBuffer } from "../src/runtime/gpu.ts";

const gpu = await acquireGpu();
const device = gpu?.device;
const dir = await Deno.makeTempDir({ prefix: "kernel_program_test_" });

async function wgslFile(name: string, text: string): Promise<URL> {
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, text);
  return new URL(`file://${path}`);
}

// Two lines shared by the kernels below, compiled ahead of each (as the families' params files are).
const shared = await wgslFile("shared.wgsl", "// shared declarations\nconst SHARED: u32 = 1u;");
const probe = await wgslFile(
  "probe.wgsl",
  `// Writes its overrides and the length of a const-sized function array, to check what reached the GPU.
override A: u32;
override SCALE: f32 = 1.0;
const N: u32 = 2u;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(1)
fn main() {
  var a: array<u32, N>;
  out[0] = A;
  out[1] = bitcast<u32>(SCALE);
  a[N - 1u] = N * SHARED;
  out[2] = a[N - 1u];
  out[3] = out[3] + 1u;
}`,
);

Deno.test("specializeConstants rewrites the named const lines and rejects a name the WGSL lacks", () => {
  const source = "const K: u32 = 6u;\nconst P: u32 = 16u;\n";
  assert.equal(specializeConstants(source, { K: 3 }), "const K: u32 = 3u;\nconst P: u32 = 16u;\n");
  assert.throws(
    () => specializeConstants(source, { Q: 4 }, "nmf hals"),
    /nmf hals: the WGSL has no line "const Q: u32 = <n>u;"/,
  );
});

Deno.test({
  name: "a compile error names the label, the file and the line within it",
  ignore: !device,
  fn: async () => {
    const broken = await wgslFile(
      "broken.wgsl",
      "// a kernel with a type error on line 4\n@compute @workgroup_size(1)\nfn main() {\n  let x: u32 = 1.5;\n}\n",
    );
    await assert.rejects(
      compileProgram(device!, { label: "broken probe", sources: [shared, broken], entryPoints: ["main"] }),
      (e: Error) => {
        assert.match(e.message, /^broken probe failed to compile:/);
        assert.match(e.message, /broken\.wgsl line 4:/);
        return true;
      },
    );
    await assert.rejects(
      compileProgram(device!, {
        label: "no const",
        sources: [probe],
        entryPoints: ["main"],
        constants: { M: 1 },
      }),
      /no const: the WGSL has no line "const M: u32 = <n>u;"/,
    );
    await assert.rejects(
      compileProgram(device!, { label: "no override", sources: [shared, probe], entryPoints: ["main"] }),
      /no override: pipeline main failed/,
    );
  },
});

Deno.test({
  name:
    "one spec compiles once per device; overrides, constants, sparse bindings and indirect sizes take effect",
  ignore: !device,
  fn: async () => {
    const spec = {
      label: "probe",
      sources: [shared, probe],
      entryPoints: ["main"],
      constants: { N: 5 },
      overrides: { A: 7, SCALE: 0.5 },
    };
    const first = await compileProgram(device!, spec);
    const again = await compileProgram(device!, { ...spec, overrides: { A: 7, SCALE: 0.5 } });
    assert.equal(again, first);
    assert.equal(again.main, first.main);
    const other = await compileProgram(device!, { ...spec, overrides: { A: 9 } });
    assert.notEqual(other.main, first.main);

    const out = device!.createBuffer({
      size: 16,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
    });
    const sizes = device!.createBuffer({
      size: 12,
      usage: GPUBufferUsage.INDIRECT | GPUBufferUsage.COPY_DST,
    });
    device!.queue.writeBuffer(sizes, 0, new Uint32Array([1, 1, 1]));
    const enc = device!.createCommandEncoder();
    const pass = enc.beginComputePass();
    encodeDispatch(pass, device!, first.main, { 1: out }, [1]);
    encodeDispatch(pass, device!, first.main, { 1: out }, { indirect: sizes });
    pass.end();
    device!.queue.submit([enc.finish()]);
    const got = new Uint32Array(await readBuffer(device!, out, 16));
    assert.deepEqual([...got], [7, new Uint32Array(new Float32Array([0.5]).buffer)[0], 5, 2]);

    const pass2 = device!.createCommandEncoder().beginComputePass();
    assert.throws(
      () =>
        encodeDispatch(pass2, device!, first.main, { 1: out }, [
          device!.limits.maxComputeWorkgroupsPerDimension + 1,
        ]),
      /probe main: dispatch \d+ exceeds \d+ workgroups per dimension/,
    );
    pass2.end();
    out.destroy();
    sizes.destroy();
  },
});

/** name -> byte offset of each member, and the struct's size. */
function offsets(source: string, name: string): { size: number; at: Record<string, number> } {
  const layout = parseUniformStruct(source, name);
  return { size: layout.size, at: Object.fromEntries(layout.fields.map((f) => [f.name, f.offset])) };
}

// Every alignment case at once. By hand (WGSL spec, "Alignment and Size"; uniform address space):
//   a u32 0..4 | b vec3<f32> align 16 -> 16..28 | c f32 28..32 (fills vec3's tail) | d vec2<u32> align 8 ->
//   32..40 | e mat3x3<f32>: 3 columns of vec3 (stride 16), align 16 -> 48..96 | f array<vec3<f32>, 2>:
//   stride 16 -> 96..128 | g i32 128..132 | struct align 16 -> size 144.
const MIXED = `struct Mixed {
  a: u32,
  b: vec3<f32>,  // a comment, with a comma
  c: f32,
  d: vec2u,
  e: mat3x3<f32>,
  f: array<vec3<f32>, 2>,
  g: i32,
}`;

/** A value for every member of Mixed: the numbers 1..22 in member order (g negative, to check its sign). */
const MIXED_VALUES = {
  a: 3,
  b: [1, 2, 3],
  c: 4,
  d: [5, 6],
  e: [7, 8, 9, 10, 11, 12, 13, 14, 15],
  f: [16, 17, 18, 19, 20, 21],
  g: -22,
};

Deno.test("uniform layouts follow WGSL's alignment rules (hand-computed)", () => {
  assert.deepEqual(offsets(MIXED, "Mixed"), {
    size: 144,
    at: { a: 0, b: 16, c: 28, d: 32, e: 48, f: 96, g: 128 },
  });
  assert.deepEqual(offsets("struct S { x: f32, v: vec2<f32>, }", "S"), { size: 16, at: { x: 0, v: 8 } });
  assert.deepEqual(offsets("struct T { x: u32 }", "T"), { size: 4, at: { x: 0 } });
  assert.throws(
    () => parseUniformStruct("struct U { x: Inner }", "U", "u.wgsl"),
    /u\.wgsl: U\.x: type Inner/,
  );
  assert.throws(() => parseUniformStruct("struct U { @align(16) x: u32 }", "U"), /@align/);
  // array<f32, n> has a 4-byte stride, which uniform buffers refuse (the compiler would too).
  assert.throws(() => parseUniformStruct("struct A { x: array<f32, 4> }", "A"), /16-byte element stride/);
  assert.throws(() => parseUniformStruct("struct V { x: u32 }", "W", "v.wgsl"), /v\.wgsl: no "struct W/);
});

Deno.test("packUniforms writes every member where WGSL reads it, and refuses a wrong or missing value", () => {
  const layout = parseUniformStruct(MIXED, "Mixed");
  const bytes = packUniforms(layout, MIXED_VALUES);
  const view = new DataView(bytes.buffer);
  assert.equal(bytes.length, 144);
  assert.equal(view.getUint32(0, true), 3);
  assert.deepEqual([16, 20, 24, 28].map((o) => view.getFloat32(o, true)), [1, 2, 3, 4]);
  assert.deepEqual([view.getUint32(32, true), view.getUint32(36, true)], [5, 6]);
  // Matrix columns start every 16 bytes; the 4th float of each column is padding. So do vec3 array elements.
  assert.deepEqual(
    [48, 52, 56, 64, 68, 72, 80, 84, 88].map((o) => view.getFloat32(o, true)),
    [7, 8, 9, 10, 11, 12, 13, 14, 15],
  );
  assert.deepEqual(
    [96, 100, 104, 112, 116, 120].map((o) => view.getFloat32(o, true)),
    [16, 17, 18, 19, 20, 21],
  );
  assert.equal(view.getInt32(128, true), -22);
  const flags = parseUniformStruct("struct F { on: u32, off: u32, top: u32, _pad: u32 }", "F");
  assert.deepEqual(
    [...new Uint32Array(packUniforms(flags, { on: true, off: false, top: 4294967295 }).buffer)],
    [1, 0, 4294967295, 0],
  );

  const all = { a: 1, b: [0, 0, 0], c: 0, d: [0, 0], e: new Array(9).fill(0), f: new Array(6).fill(0), g: 0 };
  const { g: _, ...missing } = all;
  assert.throws(() => packUniforms(layout, missing), /uniform block Mixed: no value given for g: i32/);
  assert.throws(() => packUniforms(layout, { ...all, h: 1 }), /uniform block Mixed: it has no member "h"/);
  assert.throws(() => packUniforms(layout, { ...all, b: [1, 2] }), /b: vec3<f32> takes 3 values, got 2/);
  assert.throws(() => packUniforms(layout, { ...all, a: -1 }), /a must be a u32, got -1/);
  assert.throws(() => packUniforms(layout, { ...all, g: 2.5 }), /g must be a i32, got 2.5/);
});

// The offsets each family packed by hand before its block was packed from the WGSL (c88d2a6): the parsed
// layouts must put every member where the kernels have always read it. (Search's bases_stride and
// column_stride, the GEMM tile's padded row strides, took the words of `prototypes` and `_pad`.)
const FAMILY_BLOCKS: [string, string, number, Record<string, number>][] = [
  ["normalize/normalize.wgsl", "Params", 64, {
    count: 0,
    sigma: 16,
    seed: 20,
    row_offset: 24,
    mean: 32,
    inv_std: 48,
  }],
  ["composite/crop_composite.wgsl", "Params", 64, { count: 0, image_size: 16, mean: 32, inv_std: 48 }],
  ["search/common.wgsl", "Params", 48, {
    batch: 0,
    columns: 24,
    bases_stride: 28,
    rows: 36,
    first_key: 40,
    column_stride: 44,
  }],
  ["hyperplane/common.wgsl", "Params", 48, { side: 0, zero_init: 28, lr: 32, bound: 36, seed: 40 }],
  ["nmf/common.wgsl", "Params", 64, { n: 0, max_iter: 24, tol: 28, k: 44, vtf_tiles: 48, vtx_tiles: 52 }],
  ["nnls/common.wgsl", "Params", 16, { positions: 0, hw: 4, channels: 8, tolerance: 12 }],
  ["random/fill.wgsl", "Fill", 16, { count: 0, seed: 4, row: 8 }],
];

Deno.test("every family's uniform block keeps the layout its kernels were written for", async () => {
  for (const [file, name, size, expected] of FAMILY_BLOCKS) {
    const layout = await uniformLayout(new URL(`../kernels/${file}`, import.meta.url), name);
    assert.equal(layout.size, size, file);
    const at = Object.fromEntries(layout.fields.map((f) => [f.name, f.offset]));
    for (const [field, offset] of Object.entries(expected)) {
      assert.equal(at[field], offset, `${file} ${field}`);
    }
  }
});

Deno.test("the NMF solver's readback of its State structs matches their WGSL layout", async () => {
  // solver.ts reads words 0 (iter), 1 (done) and 7 (rel_err) of each STATE_BYTES-long State.
  const state = await uniformLayout(new URL("../kernels/nmf/common.wgsl", import.meta.url), "State");
  assert.equal(state.size, STATE_BYTES);
  const at = Object.fromEntries(state.fields.map((f) => [f.name, f.offset / 4]));
  assert.deepEqual([at.iter, at.done, at.rel_err], [0, 1, 7]);
});

Deno.test({
  name: "a kernel reads every member of a packed uniform block as it was given",
  ignore: !device,
  fn: async () => {
    const echo = await wgslFile(
      "echo.wgsl",
      `// Copies every member of a Mixed uniform block into a flat array, to check the packing on the GPU.
${MIXED}
@group(0) @binding(0) var<uniform> m: Mixed;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(1)
fn main() {
  out[0] = f32(m.a);
  out[1] = m.b.x; out[2] = m.b.y; out[3] = m.b.z;
  out[4] = m.c;
  out[5] = f32(m.d.x); out[6] = f32(m.d.y);
  for (var i = 0u; i < 3u; i++) {
    for (var j = 0u; j < 3u; j++) { out[7u + 3u * i + j] = m.e[i][j]; }
  }
  for (var i = 0u; i < 2u; i++) {
    for (var j = 0u; j < 3u; j++) { out[16u + 3u * i + j] = m.f[i][j]; }
  }
  out[22] = f32(m.g);
}`,
    );
    const { main } = await compileProgram(device!, { label: "echo", sources: [echo], entryPoints: ["main"] });
    const block = packUniforms(await uniformLayout(echo, "Mixed"), MIXED_VALUES);
    const uniforms = device!.createBuffer({
      size: block.length,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    device!.queue.writeBuffer(uniforms, 0, block);
    const out = device!.createBuffer({
      size: 23 * 4,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
    });
    const enc = device!.createCommandEncoder();
    const pass = enc.beginComputePass();
    encodeDispatch(pass, device!, main, [uniforms, out], [1]);
    pass.end();
    device!.queue.submit([enc.finish()]);
    const got = [...new Float32Array(await readBuffer(device!, out, 23 * 4))];
    assert.deepEqual(got, [
      ...[3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21],
      -22,
    ]);
    uniforms.destroy();
    out.destroy();
  },
});

// A product through the shared GEMM tile and its K-major loader: out[r, c] = sum_k a[k, r] * b[k, c], a [K, M]
// and b [K, N] stored depth-major (M, N multiples of 4, for the vec4 loads).
const GEMM_PROBE =
  `// Test kernel: a^T b through the shared GEMM tile (kernels/_gemm_tile.wgsl, _gemm_load_kmajor.wgsl).
struct Dims { m: u32, n: u32, k: u32, _pad: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
var<private> row0: u32;
var<private> col0: u32;
fn gemm_fetch_a4(k: u32, q: u32) -> vec4<f32> {
  if (k >= dims.k || row0 + 4u * q >= dims.m) { return vec4<f32>(0.0); }
  return a[(k * dims.m + row0) / 4u + q];
}
fn gemm_fetch_b4(k: u32, q: u32) -> vec4<f32> {
  if (k >= dims.k || col0 + 4u * q >= dims.n) { return vec4<f32>(0.0); }
  return b[(k * dims.n + col0) / 4u + q];
}
@compute @workgroup_size(GEMM_SIDE, GEMM_SIDE)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  row0 = wid.y * GEMM_TILE;
  col0 = wid.x * GEMM_TILE;
  let acc = gemm_tile(lid, li, 0u, dims.k);
  for (var i = 0u; i < 8u; i++) {
    let r = row0 + gemm_row(lid.y, i);
    for (var h = 0u; h < 2u; h++) {
      let c = col0 + gemm_col(lid.x, h);
      for (var j = 0u; j < 4u; j++) {
        if (r < dims.m && c + j < dims.n) { out[r * dims.n + c + j] = acc[2u * i + h][j]; }
      }
    }
  }
}`;

Deno.test({
  name: "the shared GEMM tile computes a^T b at its sizes and at other rewritten sizes",
  ignore: !device,
  fn: async () => {
    const probe = await wgslFile("gemm_probe.wgsl", GEMM_PROBE);
    // Small integers: every sum is exact in float32, so the GPU must match the CPU exactly.
    const [M, N, K] = [72, 40, 70];
    const ints = (n: number, seed: number) =>
      Float32Array.from({ length: n }, (_, i) => ((i * seed) % 7) - 3);
    const a = ints(K * M, 5);
    const b = ints(K * N, 3);
    const expected = new Float32Array(M * N);
    for (let r = 0; r < M; r++) {
      for (let c = 0; c < N; c++) {
        let sum = 0;
        for (let k = 0; k < K; k++) sum += a[k * M + r] * b[k * N + c];
        expected[r * N + c] = sum;
      }
    }
    const dims = device!.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    device!.queue.writeBuffer(
      dims,
      0,
      packUniforms(await uniformLayout(probe, "Dims"), { m: M, n: N, k: K }),
    );
    const buffers = [a, b].map((data) => {
      const buf = device!.createBuffer({
        size: data.byteLength,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
      });
      device!.queue.writeBuffer(buf, 0, data);
      return buf;
    });
    const out = device!.createBuffer({
      size: M * N * 4,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    for (const constants of [GEMM_CONSTANTS, { GEMM_TILE: 32, GEMM_DEPTH: 16 }]) {
      const { main } = await compileProgram(device!, {
        label: `gemm probe ${JSON.stringify(constants)}`,
        sources: [GEMM_TILE_SOURCE, GEMM_LOAD_KMAJOR_SOURCE, probe],
        entryPoints: ["main"],
        constants,
      });
      const enc = device!.createCommandEncoder();
      enc.clearBuffer(out);
      const pass = enc.beginComputePass();
      const tile = constants.GEMM_TILE;
      encodeDispatch(pass, device!, main, [dims, ...buffers, out], [
        Math.ceil(N / tile),
        Math.ceil(M / tile),
      ]);
      pass.end();
      device!.queue.submit([enc.finish()]);
      const got = new Float32Array(await readBuffer(device!, out, M * N * 4));
      assert.deepEqual([...got], [...expected], JSON.stringify(constants));
    }
    for (const buf of [dims, ...buffers, out]) buf.destroy();
  },
});

globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
