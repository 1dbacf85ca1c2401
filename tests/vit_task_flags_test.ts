// `--tokens` on the command line: the attribute task on the small ViT with the class token as a position
// (maps of 50 positions, recorded in the manifest, overlays drawn from the 49 patches), and a bad value
// refused by name before anything runs.
import assert from "node:assert/strict";
import { join } from "node:path";
import { main as attribute } from "../tasks/attribute.ts";
import { main as shiftingTest } from "../tasks/shifting-test.ts";
import { ensureFixture } from "../fixtures/ensure.ts";
import { readNpy } from "../src/io/npy.ts";
import { UsageError } from "../src/cli/cli.ts";
import { VIT_LAYER, VIT_TINY_DIR } from "./_helpers/vit_tiny.ts";

const MODEL = new URL("vit_tiny.onnx", VIT_TINY_DIR).pathname;

Deno.test(
  "attribute --tokens patches+cls on a ViT block: 1 x 50 maps, the manifest says so, overlays of the patches",
  { sanitizeResources: false, sanitizeOps: false },
  async () => {
    const fixture = await ensureFixture();
    const out = await Deno.makeTempDir({ prefix: "vit-attribute-" });
    try {
      await attribute([
        ...["--model", MODEL, "--data", fixture.imageFolder, "--layer", VIT_LAYER, "--class", "745"],
        ...["--out", out, "--limit", "2", "--overlays", "1", "--method", "gradxact", "--samples", "1"],
        ...["--sigma", "0", "--ep", "wasm", "--tokens", "patches+cls"],
      ]);
      const maps = await readNpy(join(out, "maps.npy"));
      assert.deepEqual(maps.shape, [2, 1, 50]);
      const record = JSON.parse(await Deno.readTextFile(join(out, "attribution.json")));
      assert.equal(record.manifest.settings.tokens, "patches+cls");
      assert.deepEqual(record.images.map((i: { overlay: string | null }) => i.overlay), [
        "overlays/00000.jpg",
        null,
      ]);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
);

Deno.test("--tokens with a value outside patches|patches+cls|reference is a usage error", async () => {
  const flags = ["--model", MODEL, "--data", "d", "--layer", VIT_LAYER, "--out", "o", "--tokens", "cls"];
  await assert.rejects(
    () => attribute([...flags, "--class", "1"]),
    (e) =>
      e instanceof UsageError &&
      /--tokens expects one of patches\|patches\+cls\|reference, got 'cls'/.test(e.message),
  );
  await assert.rejects(
    () => shiftingTest([...flags, "--hyperplanes", "h"]),
    (e) => e instanceof UsageError && /--tokens expects one of/.test(e.message),
  );
});
