// The house rules, checked on the real imports so the layout cannot drift back. Every relative import of the
// library (static `from "..."`, dynamic `import("...")`, `new URL("...", import.meta.url)`) in src/,
// kernels/, tasks/ and mod.ts is read and resolved, and these rules must hold:
//  1. A stage under src/pipeline/<stage>/ imports only itself, earlier stages (STAGES is the run order),
//     the support folders and kernels/; never a later stage.
//  2. A support folder (src/<SUPPORT>/) imports no pipeline stage. The one exception is src/bench/: it
//     measures the stages, so it may import any of them; in turn only the bench task (BENCH_USERS) and
//     src/bench/ itself import src/bench/, so no stage depends on it.
//  3. kernels/ never imports src/pipeline/ (it may use the support folders: buffers, the input spec).
//  4. The library never imports tests/. src/, kernels/ and mod.ts never import fixtures/ (or tasks/);
//     of the tasks only FIXTURE_TASKS may import fixtures/: they generate the fixture or run on it.
//  5. Every file under src/ lies in a stage or a support folder named here (no loose modules).
//  6. Every `.wgsl` file lives under kernels/.
//  7. No library file name matches Deno's test pattern, so `deno test` never mistakes a module for a test.
// The self-tests at the end feed the checker planted violations, so this test can fail.
import assert from "node:assert/strict";
import { posix } from "node:path";

/** contrast's sub-stages in run order (src/pipeline/contrast/<sub-stage>/). */
const CONTRAST_SUBSTAGES = ["vectors", "hyperplanes", "sanity_checks", "why_not", "insert"];
/** Pipeline stages in run order: a stage may import the ones before it. */
const STAGES = [
  "predict",
  "attribute",
  "concepts",
  "search",
  "component_test",
  "figures",
  // decompose reads only concepts, but it explains images as figures does, so it comes after figures (free
  // to reuse their renderers) and before contrast, which never needs it.
  "decompose",
  // contrast is one stage made of sub-stages in their own run order; each is placed as a stage of its own.
  ...CONTRAST_SUBSTAGES.map((s) => `contrast/${s}`),
  "report",
  // the explorer server reads the run folder as the report does and calls the stages on demand: it comes last.
  "serve",
];
const SUPPORT = ["data", "model", "onnx", "runtime", "io", "render", "backward", "bench", "cli"];
/** Support folders that may import stages (rule 2). */
const STAGE_IMPORTING_SUPPORT = ["bench"];
/** The only files outside src/bench/ that may import it (rule 2). */
const BENCH_USERS = ["tasks/bench.ts", "tasks/rehearse.ts", "tasks/_rehearse_stage.ts"];
/** Tasks that may import fixtures/ (rule 4). */
const FIXTURE_TASKS = ["tasks/fixtures.ts", "tasks/demo.ts", "tasks/bench.ts", "tasks/rehearse.ts"];
const LIBRARY_ROOTS = ["src", "kernels", "tasks"];
const SOURCE = /\.(ts|tsx|mts|js|mjs)$/;
/** Deno's default test file pattern: test.ts, *_test.ts, *.test.ts (and the other script extensions). */
const DENO_TEST_NAME = /^(.*[._])?test\.(ts|tsx|mts|js|mjs|jsx)$/;
const SKIPPED_DIRS = new Set(["node_modules", ".git", ".cache", "out"]);

const ROOT = new URL("..", import.meta.url).pathname;

export interface ImportEdge {
  /** Repository-relative path of the importing file. */
  file: string;
  /** The specifier as written. */
  specifier: string;
}

/** Relative specifiers of `source`: static and dynamic imports, re-exports and `new URL(..., import.meta.url)`. */
export function readImports(file: string, source: string): ImportEdge[] {
  // Whole-line comments only: they may quote an import as an example (kernels/_program.ts does).
  const code = source.split("\n").filter((l) => !/^\s*(\/\/|\*|\/\*)/.test(l)).join("\n");
  const patterns = [
    /\bfrom\s+["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
    /\bimport\s+["']([^"']+)["']/g,
    /\bnew\s+URL\(\s*["']([^"']+)["']\s*,\s*import\.meta\.url\s*\)/g,
  ];
  const specifiers = patterns.flatMap((p) => [...code.matchAll(p)].map((m) => m[1]));
  return specifiers.filter((s) => s.startsWith(".")).map((specifier) => ({ file, specifier }));
}

/** Where a path lies in the house: its top folder, and for src/ its folder (and stage). */
function place(path: string): { top: string; srcFolder?: string; stage?: string } {
  const parts = path.split("/");
  if (parts[0] !== "src") return { top: parts.length === 1 ? path : parts[0] };
  if (parts[1] === "pipeline") {
    // A file right under src/pipeline/contrast/ has no sub-stage and so no stage: rule 5 refuses it.
    const stage = parts[2] === "contrast"
      ? (parts.length > 4 ? `contrast/${parts[3]}` : undefined)
      : parts[2];
    return { top: "src", srcFolder: "pipeline", stage };
  }
  return { top: "src", srcFolder: parts.length > 2 ? parts[1] : undefined };
}

/** The broken rules of these imports, one message per import naming the file, the import and the rule. */
export function checkImports(edges: ImportEdge[]): string[] {
  const problems: string[] = [];
  for (const { file, specifier } of edges) {
    const target = posix.normalize(posix.join(posix.dirname(file), specifier));
    const from = place(file);
    const to = place(target);
    const broken = (rule: string) => problems.push(`${file} imports "${specifier}" (${target}): ${rule}`);
    if (to.top === "tests") broken("the library never imports tests/");
    if (to.top === "fixtures" && !FIXTURE_TASKS.includes(file)) {
      broken(`only ${FIXTURE_TASKS.join(", ")} may import fixtures/`);
    }
    if ((from.top === "src" || from.top === "kernels") && (to.top === "tasks" || to.top === "mod.ts")) {
      broken("src/ and kernels/ never import the entry points (tasks/, mod.ts)");
    }
    if (from.top === "kernels" && to.srcFolder === "pipeline") broken("kernels/ never imports src/pipeline/");
    if (to.srcFolder === "bench" && from.srcFolder !== "bench" && !BENCH_USERS.includes(file)) {
      broken(`only ${BENCH_USERS.join(", ")} and src/bench/ import src/bench/`);
    }
    if (to.stage === undefined) continue;
    if (from.stage !== undefined) {
      const [a, b] = [STAGES.indexOf(from.stage), STAGES.indexOf(to.stage)];
      if (a >= 0 && b > a) {
        broken(`stage ${from.stage} imports the later stage ${to.stage} (run order: ${STAGES.join(", ")})`);
      }
    } else if (from.srcFolder && !STAGE_IMPORTING_SUPPORT.includes(from.srcFolder)) {
      broken(
        `support folder src/${from.srcFolder}/ imports a pipeline stage (only ${
          STAGE_IMPORTING_SUPPORT.map((s) => `src/${s}/`).join(", ")
        } may)`,
      );
    }
  }
  return problems;
}

/** The broken rules of these repository-relative file paths (placement, WGSL, test-pattern names). */
export function checkFiles(paths: string[]): string[] {
  const problems: string[] = [];
  for (const path of paths) {
    const { top, srcFolder, stage } = place(path);
    const name = posix.basename(path);
    if (name.endsWith(".wgsl") && top !== "kernels") problems.push(`${path}: a .wgsl file outside kernels/`);
    const library = top === "mod.ts" || LIBRARY_ROOTS.includes(top);
    if (library && DENO_TEST_NAME.test(name)) {
      problems.push(
        `${path}: a library file named like a test (Deno's pattern test.ts, *_test.ts, *.test.ts)`,
      );
    }
    if (top !== "src") continue;
    if (srcFolder === "pipeline" ? !stage || !STAGES.includes(stage) : !SUPPORT.includes(srcFolder ?? "")) {
      problems.push(
        `${path}: every file under src/ lies in src/pipeline/<stage>/ (${STAGES.join(", ")}) or a support ` +
          `folder (${SUPPORT.join(", ")}); add a new folder to tests/architecture_test.ts with its rule`,
      );
    }
  }
  return problems;
}

async function walk(dir: string, out: string[] = []): Promise<string[]> {
  for await (const e of Deno.readDir(posix.join(ROOT, dir))) {
    const path = dir ? `${dir}/${e.name}` : e.name;
    if (e.isDirectory && !SKIPPED_DIRS.has(e.name) && !e.name.startsWith(".")) await walk(path, out);
    else if (e.isFile) out.push(path);
  }
  return out;
}

const repoFiles = await walk("");
const libraryFiles = repoFiles.filter((p) =>
  p === "mod.ts" || (LIBRARY_ROOTS.includes(p.split("/")[0]) && SOURCE.test(p))
);

Deno.test("architecture: the library's imports follow the house rules", async () => {
  const edges = (await Promise.all(
    libraryFiles.map(async (f) => readImports(f, await Deno.readTextFile(posix.join(ROOT, f)))),
  )).flat();
  assert.ok(edges.length > 100, `only ${edges.length} relative imports found: is the reader broken?`);
  const problems = checkImports(edges);
  assert.deepEqual(problems, [], `\n${problems.join("\n")}`);
});

Deno.test("architecture: WGSL only in kernels/, no library file named like a test, src/ all in its folders", () => {
  assert.ok(repoFiles.some((p) => p.startsWith("kernels/") && p.endsWith(".wgsl")), "no kernels found");
  const problems = checkFiles(repoFiles);
  assert.deepEqual(problems, [], `\n${problems.join("\n")}`);
});

Deno.test("architecture self-test: the import reader finds every import form and skips comments", () => {
  const source = [
    `import { a } from "./a.ts";`,
    `import type { B } from "../b.ts";`,
    `export { c } from "./c.ts";`,
    `import "./side_effect.ts";`,
    `const d = await import("./d.ts");`,
    `const wgsl = new URL("./e.wgsl", import.meta.url);`,
    `import { ort } from "onnxruntime-web";`,
    `// an example in a comment: import("./not_an_import.ts")`,
    ` * new URL("./nor_this.wgsl", import.meta.url)`,
  ].join("\n");
  assert.deepEqual(
    readImports("src/io/x.ts", source).map((e) => e.specifier).sort(),
    ["../b.ts", "./a.ts", "./c.ts", "./d.ts", "./e.wgsl", "./side_effect.ts"],
  );
});

Deno.test("architecture self-test: the checker catches planted import violations and names them", () => {
  const planted: [ImportEdge, RegExp][] = [
    [
      { file: "src/pipeline/predict/predict.ts", specifier: "../concepts/concepts.ts" },
      /later stage concepts/,
    ],
    [{ file: "src/pipeline/search/run.ts", specifier: "../report/r.ts" }, /later stage report/],
    [
      { file: "src/pipeline/contrast/vectors/v.ts", specifier: "../hyperplanes/h.ts" },
      /stage contrast\/vectors imports the later stage contrast\/hyperplanes/,
    ],
    [{ file: "src/cli/task_flags.ts", specifier: "../pipeline/attribute/a.ts" }, /support folder src\/cli\//],
    [
      { file: "kernels/nmf/nmf.ts", specifier: "../../src/pipeline/concepts/c.ts" },
      /kernels\/ never imports/,
    ],
    [{ file: "src/data/dataset.ts", specifier: "../../tests/_helpers/x.ts" }, /never imports tests/],
    [{ file: "kernels/nmf/nmf.ts", specifier: "../../fixtures/prng.ts" }, /may import fixtures/],
    [{ file: "mod.ts", specifier: "./fixtures/ensure.ts" }, /may import fixtures/],
    [{ file: "tasks/predict.ts", specifier: "../fixtures/ensure.ts" }, /may import fixtures/],
    [{ file: "tasks/demo.ts", specifier: "../tests/_helpers/x.ts" }, /never imports tests/],
    [{ file: "src/io/npy.ts", specifier: "../../tasks/nmf.ts" }, /never import the entry points/],
    [{ file: "src/pipeline/concepts/concepts.ts", specifier: "../../bench/nmf.ts" }, /import src\/bench\//],
  ];
  for (const [edge, rule] of planted) {
    const problems = checkImports([edge]);
    assert.equal(problems.length, 1, `${edge.file} -> ${edge.specifier}: ${problems.join("; ")}`);
    assert.ok(problems[0].startsWith(`${edge.file} imports "${edge.specifier}"`), problems[0]);
    assert.match(problems[0], rule);
  }
  const allowed: ImportEdge[] = [
    { file: "src/pipeline/figures/explain.ts", specifier: "../component_test/component_test_run.ts" },
    { file: "src/pipeline/concepts/concepts.ts", specifier: "./read_concepts.ts" },
    { file: "src/pipeline/search/run.ts", specifier: "../../../kernels/search/hits.ts" },
    { file: "src/bench/attribution.ts", specifier: "../pipeline/attribute/attributor.ts" },
    { file: "kernels/normalize/normalize.ts", specifier: "../../src/data/input_spec.ts" },
    { file: "tasks/fixtures.ts", specifier: "../fixtures/ensure.ts" },
    { file: "tasks/bench.ts", specifier: "../src/bench/nmf.ts" },
    { file: "tasks/concepts.ts", specifier: "../src/pipeline/concepts/concepts.ts" },
    { file: "mod.ts", specifier: "./src/pipeline/figures/explain.ts" },
    { file: "src/pipeline/contrast/insert/insert.ts", specifier: "../sanity_checks/contrast_summary.ts" },
    { file: "src/pipeline/report/report_page.ts", specifier: "../contrast/why_not/why_not.ts" },
  ];
  assert.deepEqual(checkImports(allowed), []);
});

Deno.test("architecture self-test: the file checker catches misplaced WGSL, test-named modules, loose files", () => {
  const problems = checkFiles([
    "src/model/normalize.wgsl",
    "kernels/nmf/hals.wgsl",
    "src/pipeline/component_test/component_test.ts",
    "kernels/search/search.test.ts",
    "tasks/test.ts",
    "tests/nmf_task_test.ts",
    "src/loose.ts",
    "src/pipeline/rerank/rerank.ts",
    "src/pipeline/contrast/contrast.ts",
    "src/pipeline/contrast/vectors/vectors_io.ts",
  ]);
  assert.equal(problems.length, 7, problems.join("\n"));
  assert.match(problems[0], /^src\/model\/normalize\.wgsl: a \.wgsl file outside kernels/);
  assert.match(
    problems[1],
    /^src\/pipeline\/component_test\/component_test\.ts: a library file named like a test/,
  );
  assert.match(problems[2], /^kernels\/search\/search\.test\.ts: a library file named like a test/);
  assert.match(problems[3], /^tasks\/test\.ts: a library file named like a test/);
  assert.match(problems[4], /^src\/loose\.ts: every file under src\/ lies in/);
  assert.match(problems[5], /^src\/pipeline\/rerank\/rerank\.ts: every file under src\/ lies in/);
  assert.match(problems[6], /^src\/pipeline\/contrast\/contrast\.ts: every file under src\/ lies in/);
});
