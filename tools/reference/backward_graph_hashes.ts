// Prints (or, with --write, records) the SHA-256 of the generated backward graphs of
// tests/_helpers/backward_graph_cases.ts, the bytes tests/backward_graph_hashes_test.ts pins. Record only
// when a change to src/backward/ is meant to change the graphs. --resnet50 adds the slow ResNet-50 heads
// (printed, not recorded).
//   deno run -A tools/reference/backward_graph_hashes.ts [--write] [--resnet50]
import { parseArgs } from "node:util";
import { backwardGraphHashes, fastHeads, resnet50Heads } from "../../tests/_helpers/backward_graph_cases.ts";

const RECORD = new URL("../../tests/testdata/backward/graph_sha256.json", import.meta.url).pathname;
const { values } = parseArgs({
  args: Deno.args,
  options: { write: { type: "boolean" }, resnet50: { type: "boolean" } },
});
const hashes = await backwardGraphHashes(fastHeads());
if (values.write) {
  await Deno.writeTextFile(RECORD, JSON.stringify(hashes, null, 2) + "\n");
  console.log(`wrote ${Object.keys(hashes).length} hashes to ${RECORD}`);
}
const all = values.resnet50 ? { ...hashes, ...await backwardGraphHashes(resnet50Heads()) } : hashes;
for (const [name, hash] of Object.entries(all)) console.log(`${hash}  ${name}`);
