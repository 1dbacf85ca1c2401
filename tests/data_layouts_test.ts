// Layout detection and listing: ImageNet-val (+ LOC_val_solution.csv), ImageFolder, plain folder.
import assert from "node:assert/strict";
import { join } from "node:path";
import { imagenetClasses, listImages, readImageNetValLabels } from "../src/data/layouts.ts";
import { makeTree } from "./testdata/images.ts";

const CSV = [
  "ImageId,PredictionString",
  "ILSVRC2012_val_00000003,n02110185 10 20 30 40",
  "ILSVRC2012_val_00000001,n01440764 1 2 3 4 n01440764 5 6 7 8",
  "ILSVRC2012_val_00000002,n04540053 0 0 9 9",
  "",
].join("\n");

Deno.test("imagenet class index: 1000 classes in torchvision order", () => {
  const { wnids, names, indexOfWnid } = imagenetClasses();
  assert.equal(wnids.length, 1000);
  assert.deepEqual([wnids[0], names[0]], ["n01440764", "tench"]);
  assert.equal(names[250], "Siberian_husky");
  assert.deepEqual([indexOfWnid.get("n04540053"), names[890]], [890, "volleyball"]);
  assert.deepEqual([...wnids].sort(), wnids, "wnids sorted = index order");
});

Deno.test("imagenet-val: flat ILSVRC2012_val files labelled by LOC_val_solution.csv found in the parent", async () => {
  const root = await makeTree({
    "LOC_val_solution.csv": CSV,
    "val/ILSVRC2012_val_00000002.JPEG": 2,
    "val/ILSVRC2012_val_00000001.JPEG": 1,
    "val/ILSVRC2012_val_00000003.JPEG": 3,
    "val/.hidden.JPEG": 4,
    "val/readme.txt": "not an image",
  });
  try {
    const listing = await listImages(join(root, "val"));
    assert.equal(listing.layout, "imagenet-val");
    assert.equal(listing.labelsFile, join(root, "LOC_val_solution.csv"));
    assert.deepEqual(listing.entries, [
      { path: join(root, "val/ILSVRC2012_val_00000001.JPEG"), label: 0 },
      { path: join(root, "val/ILSVRC2012_val_00000002.JPEG"), label: 890 }, // n04540053 volleyball
      { path: join(root, "val/ILSVRC2012_val_00000003.JPEG"), label: 250 }, // n02110185 Siberian husky
    ]);
    assert.equal(listing.classNames?.length, 1000);
    assert.deepEqual(listing.notes, []);
    // --limit keeps the first files of the sorted list
    assert.equal((await listImages(join(root, "val"), { limit: 2 })).entries.length, 2);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("imagenet-val: --labels given explicitly; files without a row get null and a note", async () => {
  const root = await makeTree({
    "labels/solution.csv": CSV,
    "imgs/ILSVRC2012_val_00000001.JPEG": 1,
    "imgs/ILSVRC2012_val_00000009.jpeg": 9,
  });
  try {
    const listing = await listImages(join(root, "imgs"), { labels: join(root, "labels/solution.csv") });
    assert.equal(listing.layout, "imagenet-val");
    assert.deepEqual(listing.entries.map((e) => e.label), [0, null]);
    assert.match(listing.notes.join(), /1 images have no row/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("ImageNet validation names without a label file: plain, with a note saying to pass --labels", async () => {
  const root = await makeTree({ "ILSVRC2012_val_00000001.JPEG": 1 });
  try {
    const listing = await listImages(root);
    assert.equal(listing.layout, "plain");
    assert.equal(listing.entries[0].label, null);
    assert.match(listing.notes[0], /pass --labels/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("bad label files are reported with file and line", async () => {
  const root = await makeTree({
    "bad.csv": "ImageId,PredictionString\nILSVRC2012_val_00000001,n99999999 1 2 3 4\n",
  });
  try {
    await assert.rejects(
      () => readImageNetValLabels(join(root, "bad.csv")),
      /bad\.csv:2: 'n99999999' is not an ImageNet/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("imagefolder: classes sorted by name, torchvision walk order, extensions case-insensitive", async () => {
  const root = await makeTree({
    "zebra/b.png": 1,
    "zebra/a.JPG": 2,
    "cat/sub/x.jpeg": 3,
    "cat/y.png": 4,
    "cat/notes.txt": "ignored",
    "dog/c.PNG": 5,
    "empty/readme.md": "no images",
    "stray.jpg": 6,
  });
  try {
    const listing = await listImages(root);
    assert.equal(listing.layout, "imagefolder");
    assert.deepEqual(listing.classNames, ["cat", "dog", "empty", "zebra"]);
    assert.deepEqual(
      listing.entries.map((e) => [e.path.slice(root.length + 1), e.label]),
      [["cat/y.png", 0], ["cat/sub/x.jpeg", 0], ["dog/c.PNG", 1], ["zebra/a.JPG", 3], ["zebra/b.png", 3]],
    );
    assert.ok(listing.notes.some((n) => /without images: empty/.test(n)));
    assert.ok(listing.notes.some((n) => /1 image files at the top/.test(n)));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("imagefolder with ImageNet wnid folders uses the ImageNet indices", async () => {
  const root = await makeTree({ "n02110185/a.jpg": 1, "n01440764/b.jpg": 2 });
  try {
    const listing = await listImages(root);
    assert.equal(listing.layout, "imagefolder");
    assert.deepEqual(listing.entries.map((e) => e.label), [0, 250]);
    assert.equal(listing.classNames?.[250], "Siberian_husky");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("plain folder: sorted files, no labels; empty folder and missing folder are errors", async () => {
  const root = await makeTree({ "b.png": 1, "a.jpeg": 2, "C.JPG": 3, "d.gif": "x" });
  const empty = await makeTree({ "notes.txt": "x" });
  try {
    const listing = await listImages(root);
    assert.equal(listing.layout, "plain");
    assert.deepEqual(listing.entries.map((e) => e.path.slice(root.length + 1)), ["C.JPG", "a.jpeg", "b.png"]);
    assert.ok(listing.entries.every((e) => e.label === null));
    assert.equal(listing.classNames, undefined);
    await assert.rejects(() => listImages(empty), /no \.jpg\/\.jpeg\/\.png files found/);
    await assert.rejects(() => listImages(join(root, "missing")), /data folder not found/);
    await assert.rejects(() => listImages(root, { limit: 0 }), /limit must be a positive integer/);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(empty, { recursive: true });
  }
});
