// Dev-only: writes tests/testdata/captum/ by running captum on fixtures/captum_cases.ts. Needs python3 with
// torch and onnx (Debian: apt-get install python3-torch python3-onnx) and captum's source:
//   CAPTUM=/path/to/captum deno run -A tools/reference/make_captum_cases.ts
// The noisy inputs are written by the CPU twin of protoscope's noise kernel, so captum sees the same noise.
import { join } from "node:path";
import { encodeModel, sha256Hex } from "../../src/onnx/model.ts";
import { writeNpy } from "../../src/io/npy.ts";
import { writeJsonAtomic } from "../../src/io/atomic.ts";
import { normalizeOnCpu } from "../../kernels/normalize/mod.ts";
import { resolveLayer } from "../../src/model/layers.ts";
import { buildCaptumModel, CAPTUM_CASES, CAPTUM_MODEL, captumPixels } from "../../fixtures/captum_cases.ts";

const captum = Deno.env.get("CAPTUM");
if (!captum) throw new Error("CAPTUM: set it to a checkout of captum's source (the folder holding captum/)");
const python = Deno.env.get("PYTHON") ?? "/usr/bin/python3";
const work = ".cache/captum-cases";
const out = "tests/testdata/captum";
await Deno.mkdir(work, { recursive: true });
await Deno.mkdir(out, { recursive: true });

const run = async (args: string[]) => {
  const r = await new Deno.Command(python, {
    args,
    env: { PYTHONPATH: captum },
    cwd: "tools/reference",
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!r.success) throw new Error(`${python} ${args.join(" ")} failed`);
  return new TextDecoder().decode(r.stdout).trim();
};

const model = buildCaptumModel();
const bytes = encodeModel(model);
const modelPath = join(Deno.cwd(), work, "model.onnx");
await Deno.writeFile(modelPath, bytes);
const versions = JSON.parse(
  await run(["-c", "import json, torch, captum; print(json.dumps([torch.__version__, captum.__version__]))"]),
);
const cases: Record<string, unknown> = {};
for (const c of CAPTUM_CASES) {
  const n = c.targets.length;
  const inputs = normalizeOnCpu(captumPixels(n), n, 224, 224, { ...c.settings, rowOffset: 0 });
  const inputsPath = join(Deno.cwd(), work, `${c.name}.inputs.npy`);
  await writeNpy(inputsPath, inputs, [n * c.settings.samples, 3, 224, 224]);
  const tap = resolveLayer(model, c.layer).tensor;
  await run([
    "captum_layer_deeplift.py",
    modelPath,
    tap,
    inputsPath,
    String(c.settings.samples),
    c.targets.join(","),
    join(Deno.cwd(), out, `${c.name}.npy`),
  ]);
  cases[c.name] = { ...c, tap };
  console.log(`${c.name}: wrote ${out}/${c.name}.npy`);
}
await writeJsonAtomic(join(out, "cases.json"), {
  model: { ...CAPTUM_MODEL, sha256: await sha256Hex(bytes) },
  torch: versions[0],
  captum: versions[1],
  captumCommit: Deno.env.get("CAPTUM_COMMIT") ?? null,
  cases,
});
