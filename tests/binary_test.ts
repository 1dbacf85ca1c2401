// The single binary without its `deno compile` runtime (which cannot be downloaded here): main.ts runs every
// task (each `deno task` has its subcommand, each subcommand prints its own help), and the asset loader the
// binary uses reads the WGSL kernels and onnxruntime-web's wasm from a folder staged with exactly what
// `deno task compile` embeds (its --include list, plus node_modules that deno compile embeds itself).
import assert from "node:assert/strict";
import { cp } from "node:fs/promises";
import { join } from "node:path";
import { SUBCOMMANDS } from "../main.ts";
import { ASSET_ROOT_ENV, COMPILE_EXCLUDES, COMPILE_INCLUDES, MODULE_ROOT } from "../src/runtime/assets.ts";
import { writeNpy } from "../src/io/npy.ts";
import { plantedProblem } from "../fixtures/planted_nmf.ts";
import { ensureFixture } from "../fixtures/ensure.ts";
import { FIXTURE_TAP_LAYER3 } from "../fixtures/spec.ts";
import type { PredictionsFile } from "../src/pipeline/predict/predict.ts";

const ROOT = new URL("../", import.meta.url);
const MAIN = new URL("main.ts", ROOT).pathname;
/** deno.json tasks that are not tool commands. */
const NOT_SUBCOMMANDS = ["test", "check", "compile"];

const denoJson = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))) as {
  tasks: Record<string, string>;
};

async function protoscope(args: string[], env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

/** A folder laid out like the binary's embedded files: the --include list copied, node_modules linked. */
async function stageAssets(opts: { nodeModules: boolean }): Promise<string> {
  const stage = await Deno.makeTempDir({ prefix: "protoscope-assets-" });
  for (const include of COMPILE_INCLUDES) {
    await cp(new URL(include, MODULE_ROOT).pathname, join(stage, include), { recursive: true });
  }
  if (opts.nodeModules) {
    await Deno.symlink(new URL("node_modules", MODULE_ROOT).pathname, join(stage, "node_modules"));
  }
  return stage;
}

Deno.test("every deno.json tool task is a subcommand of main.ts, running tasks/<name>.ts", async () => {
  const tasks = Object.keys(denoJson.tasks).filter((t) => !NOT_SUBCOMMANDS.includes(t)).sort();
  assert.deepEqual(SUBCOMMANDS.map((s) => s.name).sort(), tasks);
  for (const s of SUBCOMMANDS) {
    assert.equal(denoJson.tasks[s.name], `deno run -A tasks/${s.name}.ts`);
    assert.equal(typeof (await s.load()).main, "function", `tasks/${s.name}.ts exports main(argv)`);
  }
  // The compile task embeds exactly the loader's list and builds main.ts.
  const compile = denoJson.tasks.compile.split(/\s+/);
  const flagged = (flag: string) => compile.flatMap((w, i) => (compile[i - 1] === flag ? [w] : []));
  assert.deepEqual(flagged("--include"), [...COMPILE_INCLUDES]);
  // It leaves out the installed onnxruntime-node (the binary runs the model on wasm; see the next test).
  assert.deepEqual(flagged("--exclude"), [...COMPILE_EXCLUDES]);
  const nodePackage = await Deno.realPath(new URL("node_modules/onnxruntime-node", MODULE_ROOT));
  assert.ok(
    COMPILE_EXCLUDES.some((e) => nodePackage.startsWith(new URL(`${e}/`, MODULE_ROOT).pathname)),
    `${nodePackage} is not excluded from the binary`,
  );
  assert.deepEqual(compile.slice(-3), ["--output", "dist/protoscope", "main.ts"]);
});

Deno.test("`main.ts <task> --help` prints each task's own usage; --help lists them; unknown tasks fail", async () => {
  const helps = await Promise.all(SUBCOMMANDS.map((s) => protoscope([s.name, "--help"])));
  SUBCOMMANDS.forEach((s, i) => {
    assert.equal(helps[i].code, 0, `${s.name}: ${helps[i].stderr}`);
    assert.match(helps[i].stdout, new RegExp(`^usage: protoscope ${s.name} `), s.name);
    assert.match(helps[i].stdout, /\n {2}--\w/, `${s.name} lists its flags`);
  });
  const list = await protoscope(["--help"]);
  assert.equal(list.code, 0);
  const lines = list.stdout.split("\n").map((l) => l.trim().split(/ {2,}/));
  for (const s of SUBCOMMANDS) {
    assert.ok(lines.some(([n, summary]) => n === s.name && summary === s.summary), s.name);
  }
  const unknown = await protoscope(["predikt", "--model", "m.onnx"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown task 'predikt'/);
  assert.match(unknown.stderr, /\n {2}predict +/);
  assert.equal((await protoscope([])).code, 2);
  // A task's usage error through main.ts: exit 2 with the task's message.
  const bad = await protoscope(["layers"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--model is required/);
});

Deno.test("`main.ts layers` on the fixture prints what `tasks/layers.ts` prints", async () => {
  const fixture = await ensureFixture();
  const viaMain = await protoscope(["layers", "--model", fixture.modelPath, "--json"]);
  assert.equal(viaMain.code, 0, viaMain.stderr);
  const direct = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("tasks/layers.ts", ROOT).pathname, "--model", fixture.modelPath, "--json"],
    stdout: "piped",
  }).output();
  assert.equal(viaMain.stdout, new TextDecoder().decode(direct.stdout));
  const rows = JSON.parse(viaMain.stdout) as { tensor: string }[];
  assert.ok(rows.some((r) => r.tensor === FIXTURE_TAP_LAYER3), `${FIXTURE_TAP_LAYER3} is listed`);
});

Deno.test("a task run through main.ts from the staged binary assets: the GPU NMF reads the staged WGSL", async () => {
  const stage = await stageAssets({ nodeModules: false });
  const work = await Deno.makeTempDir();
  try {
    const { v } = plantedProblem(41, 120, 16, 3, { noise: 0.01 });
    const input = join(work, "v.npy");
    await writeNpy(input, Float64Array.from(v), [120, 16]);
    const args = ["nmf", "--input", input, "--k", "3", "--seed", "3", "--out"];
    const ok = await protoscope([...args, join(work, "ok")], { [ASSET_ROOT_ENV]: stage });
    assert.equal(ok.code, 0, ok.stderr);
    const json = JSON.parse(await Deno.readTextFile(join(work, "ok", "nmf.json")));
    assert.ok(json.relError < 0.05, `relError ${json.relError}`);
    if (json.backend === "webgpu") {
      // Without the staged kernels the same run fails naming the staged file: the WGSL came from the stage.
      await Deno.remove(join(stage, "kernels", "nmf"), { recursive: true });
      const missing = await protoscope([...args, join(work, "missing")], { [ASSET_ROOT_ENV]: stage });
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, new RegExp(`cannot read ${stage}/kernels/nmf/\\w+\\.wgsl: no such file`));
    }
  } finally {
    await Deno.remove(stage, { recursive: true });
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("predict through main.ts from the staged assets: onnxruntime-web's wasm comes from the stage", async () => {
  const fixture = await ensureFixture();
  const work = await Deno.makeTempDir();
  const staged = await stageAssets({ nodeModules: true });
  const bare = await stageAssets({ nodeModules: false });
  try {
    const args = ["predict", "--model", fixture.modelPath, "--data", fixture.imageFolder, "--limit", "3"];
    const ok = await protoscope([...args, "--ep", "wasm", "--out", join(work, "ok")], {
      [ASSET_ROOT_ENV]: staged,
    });
    assert.equal(ok.code, 0, ok.stderr);
    const file = JSON.parse(await Deno.readTextFile(join(work, "ok", "predictions.json"))) as PredictionsFile;
    assert.equal(file.images.length, 3);
    for (const img of file.images) assert.equal(img.predicted, img.label, img.path);
    const missing = await protoscope([...args, "--ep", "wasm", "--out", join(work, "bare")], {
      [ASSET_ROOT_ENV]: bare,
    });
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      new RegExp(
        `cannot read ${bare}/node_modules/.*/onnxruntime-web/dist/ort-wasm-simd-threaded\\.asyncify\\.wasm`,
      ),
    );
  } finally {
    for (const dir of [work, staged, bare]) await Deno.remove(dir, { recursive: true });
  }
});
