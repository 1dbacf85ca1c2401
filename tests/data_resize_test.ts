// torchvision Resize(224) + CenterCrop(224) on PIL images: geometry rules and Pillow's antialiased bilinear
// filter against values worked out by hand from Pillow's algorithm.
import assert from "node:assert/strict";
import { bilinearCoefficients, centerCropStart, resizeCenterCrop, resizedSize } from "../src/data/resize.ts";

/** width x height x 3 image whose pixel (x, y) is f(x, y). */
function image(
  width: number,
  height: number,
  f: (x: number, y: number) => [number, number, number],
): Uint8Array {
  const px = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) px.set(f(x, y), (y * width + x) * 3);
  }
  return px;
}

const at = (img: Uint8Array, x: number, y: number, c: number, side = 224) => img[(y * side + x) * 3 + c];

Deno.test("output size: shorter side -> 224, longer side truncated", () => {
  assert.deepEqual(resizedSize(500, 375, 224), { width: 298, height: 224 }); // 224*500/375 = 298.67
  assert.deepEqual(resizedSize(375, 500, 224), { width: 224, height: 298 });
  assert.deepEqual(resizedSize(224, 224, 224), { width: 224, height: 224 });
  assert.deepEqual(resizedSize(100, 50, 224), { width: 448, height: 224 }); // upscale
  assert.deepEqual(resizedSize(333, 500, 224), { width: 224, height: 336 }); // 224*500/333 = 336.34
  assert.deepEqual(resizedSize(500, 500, 256), { width: 256, height: 256 });
});

Deno.test("center crop offset: Python round-half-to-even, torchvision padding when smaller", () => {
  assert.equal(centerCropStart(298, 224), 37);
  assert.equal(centerCropStart(224, 224), 0);
  assert.equal(centerCropStart(225, 224), 0); // round(0.5) = 0
  assert.equal(centerCropStart(227, 224), 2); // round(1.5) = 2
  assert.equal(centerCropStart(229, 224), 2); // round(2.5) = 2
  assert.equal(centerCropStart(231, 224), 4); // round(3.5) = 4
  assert.equal(centerCropStart(200, 224), -12); // 12 zero columns on the left/top
  assert.equal(centerCropStart(201, 224), -11); // floor(23 / 2) before, 12 after
});

Deno.test("2:1 coefficients are 1/8 3/8 3/8 1/8 inside and 3/7 3/7 1/7 at the edge", () => {
  const c = bilinearCoefficients(448, 224);
  // support 2 around center 2xx+1: taps 2xx-1..2xx+2 at distances 1.5, 0.5, 0.5, 1.5 (/2 -> 0.25, 0.75, ...)
  assert.equal(c.ksize, 5);
  assert.deepEqual([c.bounds[20], c.bounds[21]], [19, 4]);
  assert.deepEqual(Array.from(c.weights.subarray(10 * 5, 10 * 5 + 4)), [524288, 1572864, 1572864, 524288]);
  // xx = 0: tap -1 is cut off, the remaining 0.75, 0.75, 0.25 renormalise to 3/7, 3/7, 1/7 (x 2^22, rounded)
  assert.deepEqual([c.bounds[0], c.bounds[1]], [0, 3]);
  assert.deepEqual(Array.from(c.weights.subarray(0, 3)), [1797559, 1797559, 599186]);
  assert.deepEqual([c.bounds[446], c.bounds[447]], [445, 3]);
  assert.deepEqual(Array.from(c.weights.subarray(223 * 5, 223 * 5 + 3)), [599186, 1797559, 1797559]);
});

Deno.test("constant image stays constant (non-integer scale, both passes)", () => {
  const src = image(448, 336, () => [17, 128, 250]);
  const out = resizeCenterCrop(src, 448, 336, 3);
  for (let i = 0; i < out.length; i += 3) {
    assert.deepEqual([out[i], out[i + 1], out[i + 2]], [17, 128, 250]);
  }
});

Deno.test("2:1 downscale of alternating columns and rows gives the hand-derived values", () => {
  // 600x448 -> 300x224 (exactly 2:1 both ways), crop left = round(76/2) = 38.
  // R alternates 0/200 along x: interior = 200 * (1/8 + 3/8) = 100; G alternates along y, B is constant.
  const src = image(600, 448, (x, y) => [x % 2 ? 200 : 0, y % 2 ? 0 : 120, 77]);
  const out = resizeCenterCrop(src, 600, 448, 3);
  for (const y of [0, 1, 100, 223]) {
    for (const x of [0, 5, 111, 223]) {
      assert.equal(at(out, x, y, 0), 100, `R at ${x},${y}`);
      assert.equal(at(out, x, y, 2), 77);
    }
  }
  // G at output row 0 (rows 0, 1, 2 with 3/7, 3/7, 1/7 of 120, 0, 120): 120 * 4/7 = 68.57 -> 69
  assert.equal(at(out, 10, 0, 1), 69);
  // G inside: 120 * (3/8 + 1/8) = 60; last row (rows 445, 446, 447 = 0, 120, 0 with 1/7, 3/7, 3/7): 51.43 -> 51
  assert.equal(at(out, 10, 100, 1), 60);
  assert.equal(at(out, 10, 223, 1), 51);
});

Deno.test("2:1 downscale of the same pattern without crop keeps the edge columns (3/7 weights)", () => {
  const src = image(448, 448, (x) => [x % 2 ? 200 : 0, 0, 0]);
  const out = resizeCenterCrop(src, 448, 448, 3);
  assert.equal(at(out, 0, 50, 0), 86); // 200 * 3/7 = 85.71
  assert.equal(at(out, 1, 50, 0), 100);
  assert.equal(at(out, 223, 50, 0), 114); // 200 * 4/7 = 114.29
});

Deno.test("a horizontal ramp stays a ramp", () => {
  // 512x448 -> 256x224 with value floor(x/2): taps xx-1, xx, xx, xx+1 weighted 1/8 3/8 3/8 1/8 average to xx;
  // the crop starts at column 16.
  const src = image(512, 448, (x) => [x >> 1, 255 - (x >> 1), 9]);
  const out = resizeCenterCrop(src, 512, 448, 3);
  for (const x of [0, 1, 100, 223]) {
    assert.equal(at(out, x, 7, 0), x + 16);
    assert.equal(at(out, x, 7, 1), 255 - (x + 16));
  }
  // 256x224 needs no resize at all (both passes skipped): the crop alone keeps x + 16.
  const plain = image(256, 224, (x) => [x, x, x]);
  const cropped = resizeCenterCrop(plain, 256, 224, 3);
  assert.equal(at(cropped, 0, 0, 0), 16);
  assert.equal(at(cropped, 223, 223, 2), 239);
});

Deno.test("500 -> 298 (scale 1.6779): three pixels worked out by hand", () => {
  // Row pattern v(x) = 37x mod 256, identical rows (the vertical pass keeps constant columns).
  // Output column j is resized column j + 37. Weights 1 - |i + 0.5 - center| / scale, normalised:
  // xx=37:  center 62.9195, taps 61..64 = 209,246,27,64   w .0953 .4641 .4047 .0359 -> 147.31
  // xx=100: center 168.6242, taps 167..169 = 35,72,109    w .1903 .5340 .2757       -> 75.16
  // xx=260: center 437.0805, taps 435..438 = 223,4,41,78  w .0359 .4047 .4641 .0953 -> 36.08
  const src = image(500, 375, (x) => [(x * 37) % 256, 0, 0]);
  const out = resizeCenterCrop(src, 500, 375, 3);
  const near = (actual: number, expected: number) =>
    assert.ok(Math.abs(actual - expected) <= 2, `${actual} vs ${expected}`);
  for (const y of [0, 111, 223]) {
    near(at(out, 0, y, 0), 147);
    near(at(out, 63, y, 0), 75);
    near(at(out, 223, y, 0), 36);
  }
  // Exact in fact: the fixed-point sums land on the same integers.
  assert.deepEqual([at(out, 0, 5, 0), at(out, 63, 5, 0), at(out, 223, 5, 0)], [147, 75, 36]);
});

Deno.test("upscale 100x50 -> 448x224 keeps a constant and interpolates a step", () => {
  const src = image(100, 50, (x) => [x < 50 ? 0 : 240, 33, 33]);
  const out = resizeCenterCrop(src, 100, 50, 3);
  // Crop starts at resized column 112 = source position (112.5 / 4.48) - 0.5 = 24.61: still the dark half.
  assert.equal(at(out, 0, 0, 0), 0);
  assert.equal(at(out, 0, 0, 1), 33);
  // Scale 100/448: resized column 223 (output 111) centres at 223.5 * 0.2232 = 49.888, taps 49 (0) and
  // 50 (240) weighted 1 - |i + 0.5 - 49.888| = 0.612, 0.388 -> 93.2; column 224 centres at 50.112 -> 146.8.
  assert.equal(at(out, 111, 100, 0), 93);
  assert.equal(at(out, 112, 100, 0), 147);
  assert.equal(at(out, 223, 223, 0), 240);
});

Deno.test("padding: a crop larger than the resized image is zero-filled like torchvision", () => {
  const src = image(100, 100, () => [200, 200, 200]);
  const out = resizeCenterCrop(src, 100, 100, 3, { resize: 100, crop: 224 });
  assert.equal(at(out, 61, 61, 0), 0);
  assert.equal(at(out, 62, 62, 0), 200);
  assert.equal(at(out, 161, 161, 0), 200);
  assert.equal(at(out, 162, 100, 0), 0);
});

/** Straightforward Pillow reference: full horizontal pass, full vertical pass, then crop. */
function referenceResizeCrop(src: Uint8Array, w: number, h: number): Uint8Array {
  const { width: ow, height: oh } = resizedSize(w, h, 224);
  const pass = (input: Uint8Array, iw: number, ih: number, horizontal: boolean) => {
    const outW = horizontal ? ow : iw, outH = horizontal ? ih : oh;
    if ((horizontal ? iw : ih) === (horizontal ? ow : oh)) return input;
    const c = horizontal ? bilinearCoefficients(iw, ow) : bilinearCoefficients(ih, oh);
    const out = new Uint8Array(outW * outH * 3);
    for (let y = 0; y < outH; y++) {
      for (let x = 0; x < outW; x++) {
        const o = horizontal ? x : y;
        for (let ch = 0; ch < 3; ch++) {
          let s = 1 << 21;
          for (let k = 0; k < c.bounds[o * 2 + 1]; k++) {
            const i = c.bounds[o * 2] + k;
            const v = horizontal ? input[(y * iw + i) * 3 + ch] : input[(i * iw + x) * 3 + ch];
            s += v * c.weights[o * c.ksize + k];
          }
          out[(y * outW + x) * 3 + ch] = Math.min(255, Math.max(0, s >> 22));
        }
      }
    }
    return out;
  };
  const full = pass(pass(src, w, h, true), ow, h, false);
  const left = centerCropStart(ow, 224), top = centerCropStart(oh, 224);
  const out = new Uint8Array(224 * 224 * 3);
  for (let y = 0; y < 224; y++) {
    out.set(full.subarray(((y + top) * ow + left) * 3, ((y + top) * ow + left + 224) * 3), y * 672);
  }
  return out;
}

Deno.test("crop-aware passes equal resizing the whole image then cropping (random sizes, RGBA input)", () => {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (const [w, h] of [[500, 375], [375, 500], [229, 600], [225, 227], [300, 224], [1000, 230], [120, 90]]) {
    const rgba = new Uint8Array(w * h * 4).map(() => Math.floor(rand() * 256));
    const rgb = new Uint8Array(w * h * 3);
    for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) rgb.set(rgba.subarray(i, i + 3), j);
    const expected = referenceResizeCrop(rgb, w, h);
    assert.deepEqual(resizeCenterCrop(rgba, w, h, 4), expected, `${w}x${h} from RGBA`);
    assert.deepEqual(resizeCenterCrop(rgb, w, h, 3), expected, `${w}x${h} from RGB`);
  }
});
