// The generated backward graphs are pinned byte for byte: the SHA-256 of every case of
// tests/_helpers/backward_graph_cases.ts must equal the one recorded in tests/testdata/backward/. A change in
// any node name, op, attribute or initializer fails here (head weights included, so a change to the toy heads
// or fixtures fails too); rerecord with tools/reference/backward_graph_hashes.ts --write only when the change
// is meant (and the numeric backward tests pass).
import assert from "node:assert/strict";
import { backwardGraphHashes, fastHeads } from "./_helpers/backward_graph_cases.ts";

Deno.test("backward graphs are byte-identical to the recorded ones", async () => {
  const recorded = JSON.parse(
    await Deno.readTextFile(new URL("./testdata/backward/graph_sha256.json", import.meta.url)),
  );
  assert.deepEqual(
    await backwardGraphHashes(fastHeads()),
    recorded,
    "generated backward graphs changed: if the change (to src/backward/, the toy heads or the fixtures) is " +
      "meant and the numeric backward tests pass, rerun tools/reference/backward_graph_hashes.ts --write",
  );
});
