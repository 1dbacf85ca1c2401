// Decoding equals PIL's Image.open(f).convert("RGB"), and whole-file preprocessing equals PIL + torchvision.
// Fixtures in tests/testdata/pil were written by Pillow 9.4 (make_fixtures.py); expected.json holds
// SHA-256 digests of PIL's decoded RGB and of its Resize(224) + CenterCrop(224) output.
import assert from "node:assert/strict";
import { Image } from "imagescript";
import { cmykToRgba, DecodeError, decodeImage, sniffFormat } from "../src/data/decode.ts";
import { preprocessBytes, preprocessFile } from "../src/data/preprocess.ts";

const FIXTURES = new URL("./testdata/pil/", import.meta.url);
const expected: Record<string, {
  mode: string;
  width: number;
  height: number;
  rgbSha256: string;
  torchvisionSha256: string;
}> = JSON.parse(await Deno.readTextFile(new URL("expected.json", FIXTURES)));

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function dropAlpha(pixels: Uint8Array, channels: number): Uint8Array {
  if (channels === 3) return pixels;
  const rgb = new Uint8Array((pixels.length / 4) * 3);
  for (let i = 0, j = 0; i < pixels.length; i += 4, j += 3) rgb.set(pixels.subarray(i, i + 3), j);
  return rgb;
}

for (const [name, want] of Object.entries(expected)) {
  if (want.mode === "CMYK") continue;
  Deno.test(`${name} (PIL mode ${want.mode}) decodes and preprocesses exactly as PIL + torchvision`, async () => {
    const bytes = await Deno.readFile(new URL(name, FIXTURES));
    const image = await decodeImage(bytes, name);
    assert.deepEqual([image.width, image.height], [want.width, want.height]);
    assert.equal(
      await sha256(dropAlpha(image.pixels, image.channels)),
      want.rgbSha256,
      "decoded RGB differs from PIL",
    );
    const crop = await preprocessBytes(bytes, name);
    assert.equal(crop.length, 224 * 224 * 3);
    assert.equal(await sha256(crop), want.torchvisionSha256, "224 crop differs from PIL + torchvision");
  });
}

Deno.test("CMYK JPEG (Adobe, as Photoshop/PIL write it) decodes within 1 level of PIL's convert('RGB')", async () => {
  const bytes = await Deno.readFile(new URL("cmyk_60x45.jpg", FIXTURES));
  const pil = await Deno.readFile(new URL("cmyk_60x45.rgb", FIXTURES));
  const image = await decodeImage(bytes, "cmyk_60x45.jpg");
  assert.deepEqual([image.width, image.height], [60, 45]);
  const rgb = dropAlpha(image.pixels, image.channels);
  let max = 0, differing = 0;
  for (let i = 0; i < pil.length; i++) {
    const d = Math.abs(pil[i] - rgb[i]);
    max = Math.max(max, d);
    if (d) differing++;
  }
  assert.ok(max <= 1, `max difference ${max}`);
  assert.ok(differing < pil.length * 0.05, `${differing} of ${pil.length} values differ`);
});

Deno.test("YCCK JPEG (Adobe transform 2, Photoshop's CMYK) decodes within 3 levels of PIL", async () => {
  const bytes = await Deno.readFile(new URL("ycck_60x45.jpg", FIXTURES));
  const pil = await Deno.readFile(new URL("ycck_60x45.rgb", FIXTURES));
  const image = await decodeImage(bytes, "ycck_60x45.jpg");
  const rgb = dropAlpha(image.pixels, image.channels);
  let max = 0, sum = 0;
  for (let i = 0; i < pil.length; i++) {
    const d = Math.abs(pil[i] - rgb[i]);
    max = Math.max(max, d);
    sum += d;
  }
  // The fallback decoder's chroma upsampling and YCC conversion round differently from libjpeg's.
  assert.ok(max <= 3, `max difference ${max}`);
  assert.ok(sum / pil.length < 0.2, `mean difference ${sum / pil.length}`);
});

Deno.test("PIL's CMYK -> RGB formula: (255 - c)(255 - k) / 255 with its integer rounding", () => {
  const cmyk = new Uint8Array([0, 0, 0, 0, 255, 255, 255, 0, 128, 0, 255, 64, 10, 20, 30, 255]);
  const rgba = cmykToRgba(cmyk);
  assert.deepEqual(Array.from(rgba.subarray(0, 4)), [255, 255, 255, 255]);
  assert.deepEqual(Array.from(rgba.subarray(4, 8)), [0, 0, 0, 255]);
  // nk = 191: c=128 -> 191 - MULDIV255(128, 191) = 191 - 96 = 95 (127 * 191 / 255 = 95.1); c=0 -> 191; c=255 -> 0
  assert.deepEqual(Array.from(rgba.subarray(8, 12)), [95, 191, 0, 255]);
  assert.deepEqual(Array.from(rgba.subarray(12, 16)), [0, 0, 0, 255]);
});

Deno.test("PNG with alpha: alpha is dropped, not composited (PIL convert('RGB'))", async () => {
  const img = new Image(3, 2);
  const colors = [[10, 20, 30, 0], [200, 100, 50, 128], [1, 2, 3, 255], [255, 255, 255, 0], [0, 0, 0, 0], [
    9,
    8,
    7,
    1,
  ]];
  colors.forEach((c, i) => img.bitmap.set(c, i * 4));
  const png = await img.encode();
  assert.equal(sniffFormat(png), "png");
  const decoded = await decodeImage(png, "alpha.png");
  assert.deepEqual(
    Array.from(dropAlpha(decoded.pixels, decoded.channels)),
    colors.flatMap((c) => c.slice(0, 3)),
  );
});

Deno.test("grayscale JPEG/PNG are replicated to three equal channels", async () => {
  for (const name of ["gray_60x45.jpg", "gray_60x45.png", "gray_alpha_60x45.png"]) {
    const image = await decodeImage(await Deno.readFile(new URL(name, FIXTURES)), name);
    for (let i = 0; i < image.pixels.length; i += image.channels) {
      const [r, g, b] = image.pixels.subarray(i, i + 3);
      assert.ok(r === g && g === b, `${name}: pixel ${i / image.channels} is ${r},${g},${b}`);
    }
  }
});

Deno.test("an imagescript-encoded JPEG decodes close to its source colours", async () => {
  const img = new Image(64, 48);
  img.fill(0x3c78b4ff); // (60, 120, 180)
  const jpeg = await img.encodeJPEG(95);
  assert.equal(sniffFormat(jpeg), "jpeg");
  const decoded = await decodeImage(jpeg, "flat.jpg");
  assert.deepEqual([decoded.width, decoded.height], [64, 48]);
  for (let i = 0; i < decoded.pixels.length; i += 4) {
    assert.ok(Math.abs(decoded.pixels[i] - 60) <= 2 && Math.abs(decoded.pixels[i + 2] - 180) <= 2);
  }
});

Deno.test("corrupt files raise DecodeError with the path and a reason; decoding goes on afterwards", async () => {
  const good = await Deno.readFile(new URL("rgb420_60x45.jpg", FIXTURES));
  const random = new Uint8Array(4000).map((_, i) => (i * 7919 + 13) % 251);
  const cases: [string, Uint8Array, RegExp][] = [
    ["random.jpg", random, /not a JPEG or PNG/],
    ["empty.jpg", new Uint8Array(0), /empty file/],
    ["truncated.jpg", good.subarray(0, good.length >> 1), /truncated JPEG/],
    ["no_eoi.jpg", good.subarray(0, good.length - 2), /truncated JPEG/],
    ["garbage_after_marker.jpg", Uint8Array.from([0xff, 0xd8, 0xff, ...random]), /JPEG could not be decoded/],
    [
      "truncated.png",
      (await Deno.readFile(new URL("rgba_60x45.png", FIXTURES))).subarray(0, 900),
      /PNG could not/,
    ],
  ];
  for (const [name, bytes, reason] of cases) {
    await assert.rejects(() => decodeImage(bytes, `/data/${name}`), (e: unknown) => {
      assert.ok(e instanceof DecodeError, `${name}: ${e}`);
      assert.equal(e.source, `/data/${name}`);
      assert.match(e.reason, reason);
      assert.match(e.message, new RegExp(`^/data/${name}: `));
      return true;
    });
    // The wasm decoder is reset after a fatal error: a good file still decodes exactly.
    const after = await decodeImage(good, "good.jpg");
    assert.equal(
      await sha256(dropAlpha(after.pixels, after.channels)),
      expected["rgb420_60x45.jpg"].rgbSha256,
    );
  }
  await assert.rejects(() => preprocessFile("/nonexistent/x.jpg"), /\/nonexistent\/x\.jpg: cannot read file/);
});

Deno.test("trailing bytes after the end marker are ignored, as PIL does", async () => {
  const good = await Deno.readFile(new URL("rgb420_60x45.jpg", FIXTURES));
  const padded = new Uint8Array(good.length + 10);
  padded.set(good);
  const image = await decodeImage(padded, "padded.jpg");
  assert.equal(await sha256(dropAlpha(image.pixels, image.channels)), expected["rgb420_60x45.jpg"].rgbSha256);
});
