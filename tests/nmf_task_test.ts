// tasks/nmf.ts: factorizes a .npy, writes W.npy, H.npy and nmf.json, refuses bad input naming the file.
import assert from "node:assert/strict";
import { join } from "node:path";
import { readNpy, writeNpy } from "../src/io/npy.ts";
import { plantedProblem } from "../fixtures/planted_nmf.ts";
import { gpu } from "./_helpers/gpu.ts";
import { nmfTask, type NmfTaskSummary } from "../tasks/nmf.ts";

const quiet = () => {};

Deno.test("nmf task factorizes a float64 .npy on WebGPU (or the CPU) and writes W, H and nmf.json", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { v } = plantedProblem(41, 120, 16, 3, { noise: 0.01 });
    const input = join(dir, "v.npy");
    await writeNpy(input, Float64Array.from(v), [120, 16]);
    const out = join(dir, "out");
    const summary = await nmfTask(["--input", input, "--k", "3", "--out", out, "--seed", "3"], quiet);
    assert.equal(summary.backend, gpu ? "webgpu" : "cpu");
    const w = await readNpy(join(out, "W.npy"));
    const h = await readNpy(join(out, "H.npy"));
    assert.deepEqual([w.dtype, w.shape, h.dtype, h.shape], ["<f4", [120, 3], "<f4", [3, 16]]);
    const json = JSON.parse(await Deno.readTextFile(join(out, "nmf.json"))) as NmfTaskSummary;
    assert.deepEqual(json.shape, [120, 16]);
    assert.equal(json.k, 3);
    assert.equal(json.seed, 3);
    assert.equal(json.maxIter, 200);
    assert.equal(json.tol, 1e-4);
    assert.ok(json.iterations >= 1 && json.iterations <= 200);
    assert.ok(json.relError > 0 && json.relError < 0.05, `relError ${json.relError}`);
    assert.ok(json.seconds > 0);
    assert.equal(json.adapter, gpu ? gpu.description : null);
    // The CPU reference on the same file fits as well.
    const cpu = await nmfTask([
      "--input",
      input,
      "--k",
      "3",
      "--out",
      join(dir, "cpu"),
      "--seed",
      "3",
      "--cpu",
    ], quiet);
    assert.equal(cpu.backend, "cpu");
    assert.ok(
      Math.abs(cpu.relError - json.relError) <= 0.01 * cpu.relError + 1e-6,
      `${cpu.relError} vs ${json.relError}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nmf task refuses negative, NaN, non-2-D and non-float input, naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = (name: string) => join(dir, name);
    const neg = new Float32Array(40).fill(1);
    neg[2 * 8 + 5] = -0.25;
    await writeNpy(path("neg.npy"), neg, [5, 8]);
    const nan = new Float64Array(40).fill(1);
    nan[9] = NaN;
    await writeNpy(path("nan.npy"), nan, [5, 8]);
    const big = new Float64Array(40).fill(1);
    big[39] = 1e300;
    await writeNpy(path("big.npy"), big, [5, 8]);
    await writeNpy(path("cube.npy"), new Float32Array(40).fill(1), [2, 4, 5]);
    await writeNpy(path("int.npy"), new Int32Array(40).fill(1), [5, 8]);
    const run = (name: string) => nmfTask(["--input", path(name), "--k", "2", "--out", path("o")], quiet);
    await assert.rejects(
      run("neg.npy"),
      (e: Error) => e.message.includes(path("neg.npy")) && /V\[2, 5\] = -0.25 is negative/.test(e.message),
    );
    await assert.rejects(
      run("nan.npy"),
      (e: Error) => e.message.includes(path("nan.npy")) && /V\[1, 1\] is NaN/.test(e.message),
    );
    await assert.rejects(run("big.npy"), /V\[4, 7\] = 1e\+300 is not finite in float32/);
    await assert.rejects(
      run("cube.npy"),
      (e: Error) => e.message.includes(path("cube.npy")) && /2-D.*\[2, 4, 5\]/.test(e.message),
    );
    await assert.rejects(run("int.npy"), /expected float32 or float64 values, got dtype <i4/);
    await assert.rejects(nmfTask(["--input", path("neg.npy")], quiet), /--input and --out are required/);
    await assert.rejects(
      nmfTask(["--input", path("neg.npy"), "--out", dir, "--k", "x"], quiet),
      /--k: expected a number/,
    );
    await assert.rejects(Deno.stat(path("o")), Deno.errors.NotFound);

    // As a command: exit code 1 and the message on stderr.
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../tasks/nmf.ts", import.meta.url).pathname,
        "--input",
        path("neg.npy"),
        "--k",
        "2",
        "--out",
        path("o"),
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(code, 1);
    assert.match(
      new TextDecoder().decode(stderr),
      new RegExp(`nmf: ${path("neg.npy")}: .*V\\[2, 5\\] = -0.25 is negative`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
