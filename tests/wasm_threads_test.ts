// The suite runs the wasm EP with one thread (deno.json's test task sets PROTOSCOPE_WASM_THREADS=1: in a long
// test process under load a thread of the threaded build spun forever, twice). The threaded path that users
// get by default is checked here, in a process of its own with a deadline, so a hang fails one test in a
// minute instead of the whole CI run.
import assert from "node:assert/strict";
import { WASM_THREADS_ENV, wasmThreads } from "../src/runtime/ort.ts";

const PROBE = new URL("./_helpers/wasm_threads_probe.ts", import.meta.url).pathname;

async function probe(threads: string): Promise<{ ep: string; sum: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", PROBE],
    env: { [WASM_THREADS_ENV]: threads },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const deadline = setTimeout(() => child.kill("SIGKILL"), 90_000);
  const { code, stdout, stderr } = await child.output();
  clearTimeout(deadline);
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0, `probe with ${threads} threads: exit ${code} ${new TextDecoder().decode(stderr)}`);
  return JSON.parse(text.trim().split("\n").at(-1)!);
}

Deno.test("the threaded wasm EP (2 threads) gives the single-threaded result", async () => {
  const [one, two] = [await probe("1"), await probe("2")];
  assert.equal(one.ep, "wasm (1 threads)");
  assert.equal(two.ep, "wasm (2 threads)");
  assert.ok(Math.abs(one.sum - two.sum) <= 1e-3 * Math.abs(one.sum), `${one.sum} vs ${two.sum}`);
  assert.ok(one.sum > 0);
});

Deno.test("PROTOSCOPE_WASM_THREADS: a bad value is refused naming the variable", () => {
  const before = Deno.env.get(WASM_THREADS_ENV);
  try {
    for (const bad of ["0", "2.5", "x", "65"]) {
      Deno.env.set(WASM_THREADS_ENV, bad);
      assert.throws(
        () => wasmThreads(),
        new RegExp(`${WASM_THREADS_ENV}=${bad.replace(".", "\\.")}: expected`),
      );
    }
    Deno.env.set(WASM_THREADS_ENV, "3");
    assert.equal(wasmThreads(), 3);
  } finally {
    if (before === undefined) Deno.env.delete(WASM_THREADS_ENV);
    else Deno.env.set(WASM_THREADS_ENV, before);
  }
});
