// One shape for every kernel family, checked on the files so that it cannot drift back. Every folder under
// kernels/ (except the shared `_` files) must have:
//  1. mod.ts opening with a module doc (`@module`) that holds a ```ts usage example, which type-checks;
//  2. settings.ts (defaults and limits, written once) and reference.ts (the CPU twin, under that one name in
//     every family: no *_cpu.ts, brute_force.ts or params.ts);
//  3. at least one .wgsl file, each opening with a comment that says what it computes, and each compiled by a
//     TypeScript file of its own family (its dispatcher);
//  4. nothing for benches: no export named bench* anywhere under kernels/ (bench helpers live in src/bench/);
//  5. no uniform block packed by hand (`new ArrayBuffer(...)` in a family's TypeScript: _program.ts packs
//     blocks from their WGSL struct), and no workgroup size mirrored as a literal divisor of a grid size
//     (`Math.ceil(x / 64)`; a named constant from settings.ts or plan.ts instead);
//  6. the integer hashes written once: `fn pcg` / `fn mix32` only in kernels/_hash.wgsl, their TypeScript twins
//     only in kernels/_hash.ts.
// The shared `_` files beside the families (_program.ts, _hash.*, the GEMM tile _gemm_tile.* and its loader
// _gemm_load_kmajor.wgsl) follow the same rules where they apply (sharedProblems): each shared .wgsl opens
// with a comment and is named by a shared .ts that hands it to the families; rules 4 to 6 hold in the shared
// TypeScript too (_program.ts, the packer itself, may make the bytes it packs); a shared WGSL's sizes are
// written once, in its TypeScript: every `const NAME: u32 = <n>u;` line is a constant the TypeScript names
// (and rewrites through compileProgram's `constants`), and a family that compiles the GEMM tile passes its
// GEMM_CONSTANTS.
// The self-test at the end plants a family and shared files that break every rule, so this test can fail.
import assert from "node:assert/strict";
import { join } from "node:path";

const KERNELS = new URL("../kernels", import.meta.url).pathname;

/** Names the twin of a family may not have: one name, reference.ts, in every family. */
const OTHER_TWIN_NAMES = /(_cpu\.ts|^brute_force\.ts|^params\.ts)$/;
/** A workgroup size (8 or more) written as a literal divisor of a grid size. */
const LITERAL_GRID_DIVISOR = /Math\.ceil\([^;]*?\/\s*(\d+)\s*\)/g;
/** A block packed by hand: raw bytes, or words sized by a byte count mirrored from a WGSL struct. */
const HAND_PACKED = /new ArrayBuffer\(|new (Uint32|Int32|Float32)Array\(\w*_BYTES\b/;
const HASH_WGSL = /^\s*fn\s+(pcg|mix32|mix)\s*\(/m;
const HASH_TS = /^\s*(export\s+)?function\s+(pcg|mix32)\s*\(/m;

function listFiles(dir: string): string[] {
  return [...Deno.readDirSync(dir)].filter((e) => e.isFile).map((e) => e.name).sort();
}

/** Every way the families under `root` depart from the shape, one line each ("family: what"). */
export function familyProblems(root: string): string[] {
  const problems: string[] = [];
  const families = [...Deno.readDirSync(root)]
    .filter((e) => e.isDirectory && !e.name.startsWith("_"))
    .map((e) => e.name)
    .sort();
  if (families.length === 0) problems.push(`${root}: no kernel families`);
  for (const family of families) {
    const dir = join(root, family);
    const files = listFiles(dir);
    const read = (name: string) => Deno.readTextFileSync(join(dir, name));
    const problem = (what: string) => problems.push(`${family}: ${what}`);

    if (!files.includes("mod.ts")) {
      problem("no mod.ts");
    } else {
      const doc = /^\/\*\*([\s\S]*?)\*\//.exec(read("mod.ts"))?.[1] ?? "";
      if (!doc.includes("@module")) problem("mod.ts does not open with a module doc (@module)");
      if (!/```ts[\s\S]+```/.test(doc)) problem("mod.ts's module doc has no ```ts usage example");
    }
    for (const required of ["settings.ts", "reference.ts"]) {
      if (!files.includes(required)) problem(`no ${required}`);
    }
    for (const name of files.filter((f) => OTHER_TWIN_NAMES.test(f))) {
      problem(`${name}: the CPU twin is reference.ts and the settings settings.ts in every family`);
    }

    const shaders = files.filter((f) => f.endsWith(".wgsl"));
    if (shaders.length === 0) problem("no .wgsl kernel");
    const scripts = files.filter((f) => f.endsWith(".ts"));
    const typescript = scripts.map(read).join("\n");
    for (const shader of shaders) {
      const text = read(shader);
      if (!text.startsWith("//")) problem(`${shader} does not open with a comment saying what it computes`);
      if (!typescript.includes(`${shader}`) && !typescript.includes(`"${shader.replace(/\.wgsl$/, "")}"`)) {
        problem(`${shader} is compiled by no TypeScript file of its family`);
      }
      if (HASH_WGSL.test(text)) problem(`${shader} defines a hash function: they live in kernels/_hash.wgsl`);
    }
    for (const script of scripts) {
      const text = read(script);
      for (
        const m of text.matchAll(
          /export\s+(?:async\s+)?(?:function|const|class|interface|type)\s+(bench\w*)/gi,
        )
      ) {
        problem(`${script} exports ${m[1]}: bench helpers live in src/bench/`);
      }
      if (HAND_PACKED.test(text)) {
        problem(
          `${script} builds a buffer by hand: pack uniform blocks with packUniforms (kernels/_program.ts)`,
        );
      }
      for (const m of text.matchAll(LITERAL_GRID_DIVISOR)) {
        if (Number(m[1]) >= 8) {
          problem(`${script}: "${m[0]}" mirrors a workgroup size; use the named constant the WGSL gets`);
        }
      }
      if (HASH_TS.test(text)) {
        problem(`${script} defines a hash function: its twin lives in kernels/_hash.ts`);
      }
    }
  }
  return problems;
}

/** A `const NAME: u32 = <n>u;` line: a size the host rewrites (specializeConstants). */
const REWRITABLE_CONST = /^const\s+(\w+)\s*:\s*u32\s*=\s*\d+u;/gm;

/** Every way the shared `_` files under `root` depart from the rules, one line each ("shared: what"). */
export function sharedProblems(root: string): string[] {
  const problems: string[] = [];
  const problem = (what: string) => problems.push(`shared: ${what}`);
  const shared = listFiles(root).filter((f) => f.startsWith("_"));
  const read = (name: string) => Deno.readTextFileSync(join(root, name));
  const scripts = shared.filter((f) => f.endsWith(".ts"));
  for (const shader of shared.filter((f) => f.endsWith(".wgsl"))) {
    const text = read(shader);
    if (!text.startsWith("//")) problem(`${shader} does not open with a comment saying what it computes`);
    const owners = scripts.filter((s) => read(s).includes(`./${shader}`));
    if (owners.length === 0) problem(`${shader} is handed to the families by no shared TypeScript file`);
    if (shader !== "_hash.wgsl" && HASH_WGSL.test(text)) {
      problem(`${shader} defines a hash function: they live in kernels/_hash.wgsl`);
    }
    const typescript = owners.map(read).join("\n");
    for (const m of text.matchAll(REWRITABLE_CONST)) {
      if (!new RegExp(`\\b${m[1]}\\b`).test(typescript)) {
        problem(`${shader}: const ${m[1]} is a size written in the WGSL only; write it in its TypeScript`);
      }
    }
  }
  for (const script of scripts) {
    const text = read(script);
    for (
      const m of text.matchAll(/export\s+(?:async\s+)?(?:function|const|class|interface|type)\s+(bench\w*)/gi)
    ) {
      problem(`${script} exports ${m[1]}: bench helpers live in src/bench/`);
    }
    if (script !== "_program.ts" && HAND_PACKED.test(text)) {
      problem(
        `${script} builds a buffer by hand: pack uniform blocks with packUniforms (kernels/_program.ts)`,
      );
    }
    for (const m of text.matchAll(LITERAL_GRID_DIVISOR)) {
      if (Number(m[1]) >= 8) {
        problem(`${script}: "${m[0]}" mirrors a workgroup size; use the named constant the WGSL gets`);
      }
    }
    if (script !== "_hash.ts" && HASH_TS.test(text)) {
      problem(`${script} defines a hash function: its twin lives in kernels/_hash.ts`);
    }
  }
  // The families that compile the GEMM tile pass its sizes.
  for (const family of [...Deno.readDirSync(root)].filter((e) => e.isDirectory && !e.name.startsWith("_"))) {
    for (const script of listFiles(join(root, family.name)).filter((f) => f.endsWith(".ts"))) {
      const text = Deno.readTextFileSync(join(root, family.name, script));
      if (text.includes("GEMM_TILE_SOURCE") && !text.includes("GEMM_CONSTANTS")) {
        problem(`${family.name}/${script} compiles the GEMM tile without its GEMM_CONSTANTS`);
      }
    }
  }
  return problems;
}

Deno.test("every kernel family has the one family shape", () => {
  assert.deepEqual(familyProblems(KERNELS), []);
});

Deno.test("the shared files beside the families follow the same rules", () => {
  assert.deepEqual(sharedProblems(KERNELS), []);
  // The GEMM tile is one of them: its sizes are rewritten from _gemm_tile.ts.
  assert.match(Deno.readTextFileSync(join(KERNELS, "_gemm_tile.wgsl")), /^const GEMM_TILE: u32 = \d+u;/m);
});

Deno.test("every family's usage example type-checks against the public API", async () => {
  const mods = [...Deno.readDirSync(KERNELS)]
    .filter((e) => e.isDirectory && !e.name.startsWith("_"))
    .map((e) => join(KERNELS, e.name, "mod.ts"));
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--doc", join(KERNELS, "mod.ts"), ...mods],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
});

Deno.test("the shared hashes exist once, in _hash.wgsl and its twin _hash.ts", () => {
  assert.match(Deno.readTextFileSync(join(KERNELS, "_hash.wgsl")), /fn pcg\(/);
  assert.match(Deno.readTextFileSync(join(KERNELS, "_hash.wgsl")), /fn mix32\(/);
  assert.match(Deno.readTextFileSync(join(KERNELS, "_hash.ts")), /function pcg\(/);
  assert.match(Deno.readTextFileSync(join(KERNELS, "_hash.ts")), /function mix32\(/);
});

Deno.test("the kernels' public API exports no bench helper", async () => {
  const api = await import("../kernels/mod.ts");
  const names = Object.keys(api).filter((n) => /^bench|^fill/i.test(n));
  assert.deepEqual(names, []);
});

Deno.test("the shape check reports a planted family that breaks every rule", () => {
  const root = Deno.makeTempDirSync({ prefix: "kernel_families_" });
  try {
    Deno.mkdirSync(join(root, "bad"));
    const write = (name: string, text: string) => Deno.writeTextFileSync(join(root, "bad", name), text);
    write("mod.ts", "// no module doc\nexport { benchBad } from './bad.ts';\n");
    write("bad_cpu.ts", "export function twin() {}\n");
    write("orphan.wgsl", "fn pcg(v: u32) -> u32 { return v; }\n");
    write(
      "bad.ts",
      "export function benchBad() {}\nconst b = new ArrayBuffer(48);\nconst g = Math.ceil(n / 256);\n" +
        "function mix32(x: number) { return x; }\n",
    );
    Deno.writeTextFileSync(
      join(root, "_orphan.wgsl"),
      "const SIZE: u32 = 64u;\nfn mix32(x: u32) -> u32 { return x; }\n",
    );
    Deno.writeTextFileSync(
      join(root, "_shared.ts"),
      "export const benchShared = 1;\nconst b = new ArrayBuffer(16);\nconst g = Math.ceil(n / 64);\n",
    );
    write("gemm.ts", "const sources = [GEMM_TILE_SOURCE];\n");
    const found = [...familyProblems(root), ...sharedProblems(root)].join("\n");
    for (
      const expected of [
        /does not open with a module doc/,
        /no ```ts usage example/,
        /no settings\.ts/,
        /no reference\.ts/,
        /bad_cpu\.ts: the CPU twin is reference\.ts/,
        /orphan\.wgsl does not open with a comment/,
        /orphan\.wgsl is compiled by no TypeScript file/,
        /orphan\.wgsl defines a hash function/,
        /bad\.ts exports benchBad/,
        /bad\.ts builds a buffer by hand/,
        /Math\.ceil\(n \/ 256\)" mirrors a workgroup size/,
        /bad\.ts defines a hash function/,
        /shared: _orphan\.wgsl does not open with a comment/,
        /shared: _orphan\.wgsl is handed to the families by no shared TypeScript file/,
        /shared: _orphan\.wgsl defines a hash function/,
        /shared: _orphan\.wgsl: const SIZE is a size written in the WGSL only/,
        /shared: _shared\.ts exports benchShared/,
        /shared: _shared\.ts builds a buffer by hand/,
        /shared: _shared\.ts: "Math\.ceil\(n \/ 64\)" mirrors a workgroup size/,
        /shared: bad\/gemm\.ts compiles the GEMM tile without its GEMM_CONSTANTS/,
      ]
    ) {
      assert.match(found, expected);
    }
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
