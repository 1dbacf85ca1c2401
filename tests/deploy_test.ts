// deploy/: the Kubernetes manifests parse and ask for what sharding needs (Indexed Job, one GPU per pod, the
// completion index turned into --shard K/N, a merge over every shard); the Slurm scripts, run with stub
// `sbatch` and `deno` commands on PATH, submit a 1-N array with one GPU each and a merge that waits for it
// (afterok), and each array element runs the task with its own --shard and --out. No cluster is needed.
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";

const root = new URL("..", import.meta.url).pathname;

/** The parts of a Job manifest the tests look at. */
interface Container {
  command: string[];
  args: string[];
  env: { name: string; value: string }[];
  resources: { limits?: Record<string, unknown> };
  volumeMounts: { name: string }[];
}
interface JobDoc {
  kind: string;
  spec: {
    completionMode?: string;
    completions?: number;
    template: { spec: { restartPolicy: string; containers: Container[]; volumes: { name: string }[] } };
  };
}

async function readYaml(path: string): Promise<JobDoc[]> {
  const docs = parseAllDocuments(await Deno.readTextFile(join(root, path)));
  const list = Array.isArray(docs) ? docs : [docs];
  for (const d of list) assert.deepEqual(d.errors.map(String), [], path);
  return list.map((d) => d.toJS() as JobDoc);
}

/** A folder with executable stubs that append their name and arguments (one per line) to `log`. */
async function stubs(names: string[], log: string, extra = ""): Promise<string> {
  const dir = await Deno.makeTempDir();
  for (const name of names) {
    const path = join(dir, name);
    await Deno.writeTextFile(
      path,
      `#!/bin/bash\n{ echo "${name}"; printf '%s\\n' "$@"; echo "--"; } >> "${log}"\n${extra}\n`,
    );
    await Deno.chmod(path, 0o755);
  }
  return dir;
}

async function sh(args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const r = await new Deno.Command(args[0], { args: args.slice(1), env, cwd: root, stderr: "piped" })
    .output();
  return { code: r.code, stderr: new TextDecoder().decode(r.stderr) };
}

/** The stub calls in `log`: each as [name, ...args]. */
async function calls(log: string): Promise<string[][]> {
  const text = await Deno.readTextFile(log);
  return text.split("--\n").filter((c) => c.trim()).map((c) => c.trimEnd().split("\n"));
}

/** Runs a container's `sh -c` script with env and a stub deno, as the pod would. */
async function runContainer(
  container: Container,
  env: Record<string, string>,
): Promise<string[][]> {
  const log = join(await Deno.makeTempDir(), "log");
  const bin = await stubs(["deno"], log);
  const vars = Object.fromEntries(
    container.env.map((e: { name: string; value: string }) => [e.name, e.value]),
  );
  const r = await sh([...container.command, container.args[0]], {
    ...vars,
    ...env,
    PATH: `${bin}:${Deno.env.get("PATH")}`,
  });
  assert.equal(r.code, 0, r.stderr);
  return await calls(log);
}

Deno.test("k8s: an Indexed shard Job with one GPU per pod, completion index -> --shard K/N", async () => {
  const [job] = await readYaml("deploy/k8s/shard-job.yaml");
  assert.equal(job.kind, "Job");
  assert.equal(job.spec.completionMode, "Indexed");
  const pod = job.spec.template.spec;
  assert.equal(pod.restartPolicy, "Never");
  const [c] = pod.containers;
  assert.equal(c.resources.limits?.["nvidia.com/gpu"], 1);
  const shards = c.env.find((e) => e.name === "SHARDS")!.value;
  assert.equal(Number(shards), job.spec.completions, "SHARDS must equal completions");
  const mounted = new Set(pod.volumes.map((v) => v.name));
  for (const m of c.volumeMounts) assert.ok(mounted.has(m.name), `volume ${m.name}`);
  // Index 2 of 4 is shard 3/4.
  const [call] = await runContainer(c, { JOB_COMPLETION_INDEX: "2" });
  assert.equal(call[0], "deno");
  assert.deepEqual(call.slice(-4), ["--shard", `3/${shards}`, "--out", "/runs/run1/shard-3"]);
  assert.deepEqual(call.slice(1, 4), ["run", "-A", "tasks/concepts.ts"]);
  assert.ok(call.includes("--layer") && call.includes("/data/resnet50.onnx"), call.join(" "));
});

Deno.test("k8s: the example's class-stage task reads merged predictions (else every shard predicts all)", async () => {
  const [job] = await readYaml("deploy/k8s/shard-job.yaml");
  const [c] = job.spec.template.spec.containers;
  const task = c.env.find((e) => e.name === "TASK")!.value;
  assert.ok(["concepts", "contrast-vectors", "component-test", "shifting-test"].includes(task), task);
  const [call] = await runContainer(c, { JOB_COMPLETION_INDEX: "0" });
  const at = call.indexOf("--predictions");
  assert.ok(at > 0, call.join(" "));
  assert.equal(call[at + 1], "/runs/pred/merged");
});

/** Runs deploy/k8s/run.sh with a stub kubectl whose `get job/<name>` prints `conditions[name]`. */
async function runK8s(
  conditions: Record<string, string>,
): Promise<{ code: number; calls: string[][]; ms: number }> {
  const log = join(await Deno.makeTempDir(), "log");
  const extra = `if [ "$1" = get ]; then case "$2" in ${
    Object.entries(conditions).map(([job, c]) => `job/${job}) printf '%s ' ${c} ;;`).join(" ")
  } esac; fi`;
  const bin = await stubs(["kubectl"], log, extra);
  const start = performance.now();
  const r = await sh(["bash", "deploy/k8s/run.sh", "30s"], {
    PATH: `${bin}:${Deno.env.get("PATH")}`,
    POLL_SECONDS: "0.1",
  });
  return { code: r.code, calls: await calls(log), ms: performance.now() - start };
}

Deno.test("k8s: run.sh stops at once when the shard Job fails, and merges only after it completes", async () => {
  const failed = await runK8s({ "protoscope-shard": "Failed" });
  assert.equal(failed.code, 1);
  assert.ok(failed.ms < 10_000, `${failed.ms} ms: a failed Job must not be waited for until the timeout`);
  const applied = failed.calls.filter((c) => c[1] === "apply").map((c) => c.at(-1)!.split("/").at(-1));
  assert.deepEqual(applied, ["shard-job.yaml"], "no merge after a failed shard Job");

  const done = await runK8s({ "protoscope-shard": "Complete", "protoscope-merge": "Complete" });
  assert.equal(done.code, 0);
  const appliedAfter = done.calls.filter((c) => c[1] === "apply").map((c) => c.at(-1)!.split("/").at(-1));
  assert.deepEqual(appliedAfter, ["shard-job.yaml", "merge-job.yaml"]);
});

Deno.test("k8s: the merge Job joins every shard folder", async () => {
  const [job] = await readYaml("deploy/k8s/merge-job.yaml");
  assert.equal(job.kind, "Job");
  const [c] = job.spec.template.spec.containers;
  assert.equal(c.resources.limits?.["nvidia.com/gpu"], undefined);
  const [call] = await runContainer(c, {});
  assert.deepEqual(call, [
    "deno",
    "run",
    "-A",
    "tasks/merge.ts",
    "--parts",
    ...[1, 2, 3, 4].map((k) => `/runs/run1/shard-${k}`),
    "--out",
    "/runs/run1/merged",
  ]);
});

Deno.test("slurm: submit.sh queues a 1-N GPU array and a merge after it (afterok)", async () => {
  const log = join(await Deno.makeTempDir(), "log");
  // sbatch --parsable prints the job id (with a cluster name after ';' on federated clusters).
  const bin = await stubs(["sbatch"], log, 'echo "4242;cluster"');
  const run = join(await Deno.makeTempDir(), "run");
  const r = await sh(["deploy/slurm/submit.sh", "3", run, "predict", "--model", "m.onnx", "--data", "d"], {
    PATH: `${bin}:${Deno.env.get("PATH")}`,
    SBATCH_ARGS: "--partition=gpu",
  });
  assert.equal(r.code, 0, r.stderr);
  const [array, merge] = await calls(log);
  assert.deepEqual(array.slice(0, 4), ["sbatch", "--parsable", "--partition=gpu", "--array=1-3"]);
  assert.match(array[4], /deploy\/slurm\/shard\.sbatch$/);
  assert.deepEqual(array.slice(5), [run, "predict", "--model", "m.onnx", "--data", "d"]);
  assert.deepEqual(merge.slice(0, 4), [
    "sbatch",
    "--parsable",
    "--partition=gpu",
    "--dependency=afterok:4242",
  ]);
  assert.match(merge[4], /deploy\/slurm\/merge\.sbatch$/);
  assert.deepEqual(merge.slice(5), [run, "3"]);
  const bad = await sh(["deploy/slurm/submit.sh", "0", run, "predict"], { PATH: Deno.env.get("PATH")! });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /N: number of shards, >= 1/);
});

Deno.test("slurm: an array element runs its shard on one GPU; the merge names every shard", async () => {
  const script = await Deno.readTextFile(join(root, "deploy/slurm/shard.sbatch"));
  assert.match(script, /^#SBATCH --gres=gpu:1$/m);
  assert.match(script, /^#SBATCH --array=1-\d+$/m);
  const log = join(await Deno.makeTempDir(), "log");
  const bin = await stubs(["deno", "protoscope"], log);
  const env = {
    PATH: `${bin}:${Deno.env.get("PATH")}`,
    SLURM_ARRAY_TASK_ID: "2",
    SLURM_ARRAY_TASK_COUNT: "3",
  };
  const r = await sh(["deploy/slurm/shard.sbatch", "/runs/x", "hyperplanes", "--vectors", "V"], env);
  assert.equal(r.code, 0, r.stderr);
  const single = await sh(["deploy/slurm/shard.sbatch", "/runs/x", "predict"], {
    ...env,
    PROTOSCOPE_BIN: "protoscope",
  });
  assert.equal(single.code, 0, single.stderr);
  const m = await sh(["deploy/slurm/merge.sbatch", "/runs/x", "3"], env);
  assert.equal(m.code, 0, m.stderr);
  assert.deepEqual(await calls(log), [
    [
      "deno",
      "run",
      "-A",
      "tasks/hyperplanes.ts",
      "--vectors",
      "V",
      "--shard",
      "2/3",
      "--out",
      "/runs/x/shard-2",
    ],
    ["protoscope", "predict", "--shard", "2/3", "--out", "/runs/x/shard-2"],
    [
      "deno",
      "run",
      "-A",
      "tasks/merge.ts",
      "--parts",
      "/runs/x/shard-1",
      "/runs/x/shard-2",
      "/runs/x/shard-3",
      "--out",
      "/runs/x/merged",
    ],
  ]);
  const outside = await sh(["deploy/slurm/shard.sbatch", "/runs/x", "predict"], { PATH: env.PATH });
  assert.notEqual(outside.code, 0);
  assert.match(outside.stderr, /not inside a Slurm job array/);
});
