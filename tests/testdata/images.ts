// Test helpers: tiny generated image files in temporary folders.
import { join } from "node:path";
import { Image } from "imagescript";

/** An encoded width x height image: horizontal gradient tinted by `seed`, so images differ. */
export async function encodedImage(
  format: "png" | "jpeg",
  seed: number,
  width = 40 + (seed % 7) * 9,
  height = 30 + (seed % 5) * 11,
): Promise<Uint8Array> {
  const img = new Image(width, height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      img.bitmap.set([(x * 255) / width, (seed * 47) % 256, (y * 255) / height, 255], (y * width + x) * 4);
    }
  }
  return format === "png" ? await img.encode() : await img.encodeJPEG(90);
}

/** Writes `files` (relative path -> bytes or seed of a generated image) under a fresh temp folder. */
export async function makeTree(files: Record<string, Uint8Array | number | string>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "protoscope-data-" });
  for (const [rel, content] of Object.entries(files)) {
    const path = join(root, rel);
    await Deno.mkdir(join(path, ".."), { recursive: true });
    if (typeof content === "string") await Deno.writeTextFile(path, content);
    else if (typeof content === "number") {
      await Deno.writeFile(path, await encodedImage(/\.png$/i.test(rel) ? "png" : "jpeg", content));
    } else await Deno.writeFile(path, content);
  }
  return root;
}
