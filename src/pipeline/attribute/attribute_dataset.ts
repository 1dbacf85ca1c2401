// `deno task attribute`: attribution maps of every image of a dataset towards one class, with overlays.
import { join } from "node:path";
import { openDataset } from "../../data/dataset.ts";
import { classCountNote, classNamesFor, resolveClassArg } from "../../data/class_names.ts";
import { readModel, sha256File } from "../../onnx/model.ts";
import { type AttributionSettings, Attributor } from "./attributor.ts";
import type { EpChoice } from "../../runtime/ort.ts";
import { buildManifest, completeManifest, takeOverOutDir } from "../../io/manifest.ts";
import { writeJsonAtomic } from "../../io/atomic.ts";
import { NpyStreamWriter, writeNpy } from "../../io/npy.ts";
import { createProgress } from "../../io/progress.ts";
import { encodeJpeg } from "../../render/image_file.ts";
import { overlayMap } from "../../render/overlay.ts";
import { IMAGE_SIZE } from "../../data/input_spec.ts";
import { withOutDir } from "../../io/out_dir.ts";
import type { SkippedImage } from "../../io/skipped.ts";
import { UsageError } from "../../cli/cli.ts";
import { positionGrid, type TokenAxes } from "../../model/tokens.ts";
import { tokenSetting } from "./class_attribution.ts";

export interface AttributeOptions extends AttributionSettings {
  model: string;
  data: string;
  layer: string;
  /** Class index, name or wnid. */
  target: string;
  out: string;
  labels?: string;
  limit?: number;
  batch?: number;
  ep?: EpChoice;
  saveRaw?: boolean;
  /** Overlay JPEGs for the first this many images. */
  overlays?: number;
  /** How a transformer tap's tokens are positions (src/model/tokens.ts); default patches. */
  tokens?: TokenAxes;
}

export interface AttributeResult {
  target: number;
  targetName?: string;
  /** Maps computed (unreadable images have a zero placeholder row in maps.npy and are not counted). */
  images: number;
  /** Unreadable images. */
  skipped: SkippedImage[];
  tapShape: number[];
  maps: Float32Array;
  device: string;
}

export function attributeDataset(opts: AttributeOptions): Promise<AttributeResult> {
  return withOutDir(opts.out, "attribute", () => attributeIn(opts));
}

async function attributeIn(opts: AttributeOptions): Promise<AttributeResult> {
  const model = await readModel(opts.model);
  const sha256 = await sha256File(opts.model);
  const dataset = await openDataset(opts.data, { labels: opts.labels, limit: opts.limit });
  const settings = { method: opts.method, samples: opts.samples, sigma: opts.sigma, seed: opts.seed };
  const attributor = await Attributor.open(model, { path: opts.model, sha256 }, opts.layer, settings, {
    ep: opts.ep,
    saveRaw: opts.saveRaw,
    tokenAxes: opts.tokens,
  });
  try {
    const names = classNamesFor(attributor.numClasses, dataset.classNames);
    let target: number;
    try {
      target = resolveClassArg(opts.target, attributor.numClasses, names);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const note = classCountNote(attributor.numClasses, dataset.classNames);
    if (note) console.error(`note: ${note}`);
    await takeOverOutDir(opts.out, "attribute");
    const [c, h, w] = attributor.tapShape;
    const n = dataset.size;
    const maps = new Float32Array(n * h * w);
    const raw = opts.saveRaw
      ? await NpyStreamWriter.create(join(opts.out, "attributions.npy"), "<f4", [n, c, h, w])
      : undefined;
    // Overlays show the positions on the image's grid (a class token is no place on it; the reference's
    // axes put channels at the positions, which lie nowhere).
    const grid = positionGrid(attributor.tapShape, attributor.tokens);
    const overlays = grid ? Math.min(opts.overlays ?? 16, n) : 0;
    if (!grid && (opts.overlays ?? 16) > 0) {
      console.error(
        "attribute: no overlays under --tokens reference (its positions are channels, not places)",
      );
    }
    const batch = opts.batch ?? 4;
    const progress = createProgress("attribute", n);
    const skipped: SkippedImage[] = [];
    const overlayFiles: string[] = [];
    for (let start = 0; start < n; start += batch) {
      const count = Math.min(batch, n - start);
      const read = await dataset.readBatch(start, count);
      for (const f of read.failures) skipped.push({ index: f.index, path: f.path, reason: f.reason });
      const result = await attributor.attribute(read.images, count, new Array(count).fill(target), start);
      for (let i = 0; i < count; i++) {
        if (!read.ok[i]) result.maps.fill(0, i * h * w, (i + 1) * h * w);
      }
      maps.set(result.maps, start * h * w);
      if (raw) await raw.append(result.attributions!);
      for (let i = 0; i < count && start + i < overlays; i++) {
        if (!read.ok[i]) continue;
        const at = i * h * w + grid!.prefix;
        const map = result.maps.subarray(at, at + grid!.h * grid!.w);
        const max = map.reduce((a, b) => Math.max(a, b), 0);
        const rgb = overlayMap(
          read.images.subarray(i * IMAGE_SIZE * IMAGE_SIZE * 3),
          IMAGE_SIZE,
          map,
          grid!.h,
          grid!.w,
          max,
        );
        const file = join("overlays", `${String(start + i).padStart(5, "0")}.jpg`);
        await Deno.mkdir(join(opts.out, "overlays"), { recursive: true });
        await Deno.writeFile(join(opts.out, file), await encodeJpeg(rgb, IMAGE_SIZE, IMAGE_SIZE));
        overlayFiles.push(file);
      }
      progress.tick(count);
    }
    progress.stop();
    await raw?.finish();
    await writeNpy(join(opts.out, "maps.npy"), maps, [n, h, w]);
    const manifest = await buildManifest({
      task: "attribute",
      model: { path: opts.model, sha256 },
      layer: { name: opts.layer, tensor: attributor.tapTensor },
      data: { path: opts.data, count: n, files: dataset.entries.map((e) => e.path) },
      device: attributor.trunk.device,
      settings: { ...settings, target, batch, saveRaw: !!opts.saveRaw, ...tokenSetting(attributor) },
    });
    await writeJsonAtomic(join(opts.out, "attribution.json"), {
      manifest,
      target,
      targetName: names?.[target],
      tapShape: attributor.tapShape,
      maps: "maps.npy (N x h x w float32: channel mean of ReLU(attribution))",
      skipped,
      images: dataset.entries.map((e, i) => {
        const failed = skipped.find((s) => s.index === i);
        return {
          path: e.path,
          label: e.label,
          mapMax: failed
            ? null
            : maps.subarray(i * h * w, (i + 1) * h * w).reduce((a, b) => Math.max(a, b), 0),
          overlay: overlayFiles.find((f) => f.includes(String(i).padStart(5, "0"))) ?? null,
          ...(failed ? { error: failed.reason } : {}),
        };
      }),
    });
    await completeManifest(opts.out, manifest);
    return {
      target,
      targetName: names?.[target],
      images: n - skipped.length,
      skipped,
      tapShape: attributor.tapShape,
      maps,
      device: attributor.trunk.device,
    };
  } finally {
    await attributor.release();
    dataset.close();
  }
}
