"""Regenerates the PIL fixtures in this folder (needs Pillow; run with python3 from this folder).

Each image is small and synthetic. expected.json records, per file, what PIL + torchvision produce:
the size and mode PIL opens, SHA-256 of Image.convert("RGB").tobytes(), and SHA-256 of the uint8 HWC
bytes of Resize(224) + CenterCrop(224) (torchvision's rules spelt out below, so torchvision is not needed).
CMYK files also get <name>.rgb: the raw convert("RGB") bytes, since our CMYK path is within 1 level.
Run `deno fmt expected.json` afterwards.
"""
import hashlib, json, math, random
from PIL import Image, ImageDraw, ImageFilter


def scene(w, h, seed):
    rnd = random.Random(seed)
    im = Image.new("RGB", (w, h))
    px = im.load()
    a, b = rnd.uniform(1, 6), rnd.uniform(1, 6)
    for y in range(h):
        for x in range(w):
            px[x, y] = (int(127 + 120 * math.sin(a * x / w * 3 + b * y / h)),
                        int(127 + 120 * math.cos(b * x / w * 2 + a * y / h * 3)),
                        (x * 3 + y * 5 + rnd.randrange(40)) % 256)
    d = ImageDraw.Draw(im)
    for _ in range(12):
        x0, y0 = rnd.randrange(w), rnd.randrange(h)
        d.ellipse([x0, y0, x0 + rnd.randrange(3, w // 2), y0 + rnd.randrange(3, h // 2)],
                  fill=tuple(rnd.randrange(256) for _ in range(3)))
    return im.filter(ImageFilter.GaussianBlur(0.8))


def torchvision_resize_center_crop(im, size=224, crop=224):
    w, h = im.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) != (w, h):
        im = im.resize((new_w, new_h), Image.BILINEAR)
    top, left = int(round((new_h - crop) / 2.0)), int(round((new_w - crop) / 2.0))
    return im.crop((left, top, left + crop, top + crop))


small = scene(60, 45, 1)
big = scene(500, 375, 2)
small.save("rgb420_60x45.jpg", quality=90)
small.save("rgb422_60x45.jpg", quality=90, subsampling=1)
small.save("progressive_60x45.jpg", quality=90, progressive=True)
small.convert("L").save("gray_60x45.jpg", quality=90)
small.convert("L").save("gray_60x45.png")
small.convert("CMYK").save("cmyk_60x45.jpg", quality=95)
small.convert("P", palette=Image.ADAPTIVE, colors=32).save("palette_60x45.png")
small.convert("LA").save("gray_alpha_60x45.png")
rgba = small.copy()
rgba.putalpha(Image.linear_gradient("L").resize(small.size))
rgba.save("rgba_60x45.png")
exif = Image.Exif()
exif[0x0112] = 6  # orientation "rotate 90": PIL (and torchvision) ignore it when decoding
small.save("exif_rotated_60x45.jpg", quality=90, exif=exif.tobytes())
# 16-bit gray: PIL opens it as mode "I" and convert("RGB") clips to 0..255; the top rows stay below 256.
gray16 = Image.new("I", small.size)
gray16.putdata([v * (1 if i < 5 * 60 else 257) for i, v in enumerate(small.convert("L").getdata())])
gray16.save("gray16_60x45.png")
big.save("rgb420_500x375.jpg", quality=75)
scene(333, 500, 3).save("rgb420_333x500.jpg", quality=80)

names = ["rgb420_60x45.jpg", "rgb422_60x45.jpg", "progressive_60x45.jpg", "gray_60x45.jpg", "gray_60x45.png",
         "cmyk_60x45.jpg", "palette_60x45.png", "exif_rotated_60x45.jpg", "gray_alpha_60x45.png", "rgba_60x45.png",
         "gray16_60x45.png", "rgb420_500x375.jpg", "rgb420_333x500.jpg"]
expected = {}
for name in names:
    im = Image.open(name)
    mode = im.mode
    rgb = im.convert("RGB")
    out = torchvision_resize_center_crop(rgb)
    expected[name] = {
        "mode": mode, "width": rgb.size[0], "height": rgb.size[1],
        "rgbSha256": hashlib.sha256(rgb.tobytes()).hexdigest(),
        "torchvisionSha256": hashlib.sha256(out.tobytes()).hexdigest(),
    }
    if mode == "CMYK":
        with open(name.rsplit(".", 1)[0] + ".rgb", "wb") as f:
            f.write(rgb.tobytes())
with open("expected.json", "w") as f:
    json.dump(expected, f, indent=1)
    f.write("\n")
