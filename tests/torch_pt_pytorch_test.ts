// The .pt reader against files written by real PyTorch (torch.save of torch 1.13.1, see testdata/torch/make.py).
// Each tensor's expected values were saved beside it by numpy, so two independent readers must agree.
import assert from "node:assert/strict";
import { readConcepts } from "../src/pipeline/concepts/read_concepts.ts";
import { readNpy } from "../src/io/npy.ts";
import { readTorchPt, readTorchTensor } from "../src/io/torch_pt.ts";

const DIR = new URL("./testdata/torch/", import.meta.url).pathname;

async function assertSameAsNpy(name: string, dtype: string) {
  const t = await readTorchTensor(`${DIR}${name}.pt`);
  const expected = await readNpy(`${DIR}${name}.npy`);
  assert.equal(t.dtype, dtype);
  assert.deepEqual(t.shape, expected.shape);
  const values = (d: ArrayLike<number | bigint>) => Array.from(d);
  assert.deepEqual(values(t.data), values(expected.data as ArrayLike<number | bigint>), name);
  return t;
}

Deno.test("torch.save file: float64 arange(12).reshape(2, 6)", async () => {
  const t = await assertSameAsNpy("arange", "float64");
  assert.deepEqual(Array.from(t.data as Float64Array), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.deepEqual(t.stride, [6, 1]);
});

Deno.test("torch.save file: a transposed, offset view keeps torch's strides", async () => {
  const t = await assertSameAsNpy("transposed_view", "float32");
  assert.deepEqual(t.shape, [6, 5]);
  assert.deepEqual(t.stride, [1, 7]);
  assert.equal(t.storageOffset, 1);
});

Deno.test("torch.save file: int64 storage", async () => {
  await assertSameAsNpy("int64", "int64");
});

Deno.test("torch.save file: float16 widens to float32", async () => {
  await assertSameAsNpy("half", "float16");
});

Deno.test("torch.save files: clear errors for a state dict and the legacy format", async () => {
  const state = await readTorchPt(`${DIR}state_dict.pt`);
  assert.ok(state instanceof Map || typeof state === "object");
  await assert.rejects(
    () => readTorchTensor(`${DIR}state_dict.pt`),
    /state_dict\.pt: expected a single tensor, found an object with keys weight, bias/,
  );
  await assert.rejects(() => readTorchTensor(`${DIR}legacy.pt`), /legacy\.pt: .*legacy/);
});

Deno.test("reference layout written by torch: <class>/nmf/nmf_basis.pt loads to the same numbers", async () => {
  const concepts = await readConcepts(`${DIR}reference`);
  assert.equal(concepts.source, "reference");
  assert.deepEqual(concepts.classes, [0, 7]);
  for (const [i, cls] of [0, 7].entries()) {
    const expected = await readNpy(`${DIR}reference/${cls}/nmf_basis.npy`);
    assert.deepEqual(expected.shape, [6, 1024]);
    const rows = concepts.bases.subarray(i * 6 * 1024, (i + 1) * 6 * 1024);
    // protoscope keeps bases in float32; the float64 file must round to exactly that.
    assert.deepEqual(
      Array.from(rows),
      Array.from(expected.data as Float64Array, Math.fround),
      `class ${cls}`,
    );
  }
});
