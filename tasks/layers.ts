// deno task layers --model M [--all]
import { parseCli, runTask } from "../src/cli/cli.ts";
import { readModel } from "../src/onnx/model.ts";
import { inputNormalizationWarning, listLayers } from "../src/model/inspect.ts";

export async function main(argv: string[]): Promise<void> {
  const a = parseCli(
    "layers",
    "Lists the layers (module outputs) of a model that --layer accepts, with shapes.",
    {
      model: { type: "string", required: true, help: "ONNX image classifier" },
      all: { type: "boolean", default: false, help: "also list leaf modules (convs, relus)" },
      json: { type: "boolean", default: false, help: "print JSON instead of a table" },
    },
    argv,
  );
  const model = await readModel(a.model as string);
  const warning = inputNormalizationWarning(model, a.model as string);
  if (warning) console.error(`warning: ${warning}`);
  const rows = await listLayers(model, { all: a.all as boolean });
  if (a.json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  const width = Math.max(5, ...rows.map((r) => r.layer.length));
  console.log(`${"layer".padEnd(width)}  ${"shape (224x224 input)".padEnd(22)}  tensor`);
  for (const r of rows) {
    console.log(`${r.layer.padEnd(width)}  ${`[${r.shape.join(", ")}]`.padEnd(22)}  ${r.tensor}`);
  }
}

if (import.meta.main) await runTask(() => main(Deno.args));
