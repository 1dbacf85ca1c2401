// kernels/_program.ts, the plumbing every kernel family compiles through: compile errors name the label, the
// file and the line; a `const` the host means to rewrite must exist; one spec compiles once per device; and
// overrides, rewritten constants, sparse bindings and indirect dispatches reach the GPU.
import assert from "node:assert/strict";
import { compileProgram, encodeDispatch, specializeConstants } from "../kernels/_program.ts";
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

globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
