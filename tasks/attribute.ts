// deno task attribute --model M --data D --layer L --class C --out O [--method deeplift|gradxact] ...
import { choiceArg, floatArg, intArg, parseCli, runTask } from "../src/cli.ts";
import { attributeDataset } from "../src/attribute_dataset.ts";
import { PAPER_ATTRIBUTION } from "../src/attribute.ts";
import { EP_CHOICES, EP_HELP } from "../src/runtime/ort.ts";

await runTask(async () => {
  const a = parseCli("attribute", "Layer attribution maps of every image towards one class, with overlays.", {
    model: { type: "string", required: true, help: "ONNX image classifier" },
    data: { type: "string", required: true, help: "image folder or prepared cache" },
    labels: { type: "string", help: "LOC_val_solution.csv for an ImageNet-val folder" },
    layer: {
      type: "string",
      required: true,
      help: "layer to attribute at, e.g. layer3.5 (see `deno task layers`)",
    },
    class: { type: "string", required: true, help: "target class: index, name or ImageNet wnid" },
    out: { type: "string", required: true, help: "output folder" },
    method: { type: "string", default: PAPER_ATTRIBUTION.method, help: "deeplift | gradxact" },
    samples: {
      type: "string",
      default: String(PAPER_ATTRIBUTION.samples),
      help: "noise-tunnel samples per image",
    },
    sigma: { type: "string", default: String(PAPER_ATTRIBUTION.sigma), help: "noise std (normalized units)" },
    seed: { type: "string", default: "0", help: "noise seed" },
    limit: { type: "string", help: "only the first N images" },
    batch: { type: "string", default: "4", help: "images per pass (each is `samples` rows)" },
    overlays: { type: "string", default: "16", help: "overlay JPEGs for the first N images" },
    "save-raw": { type: "boolean", default: false, help: "also write attributions.npy (N x C x h x w)" },
    ep: { type: "string", default: "auto", help: EP_HELP },
  });
  const r = await attributeDataset({
    model: a.model as string,
    data: a.data as string,
    labels: a.labels as string | undefined,
    layer: a.layer as string,
    target: a.class as string,
    out: a.out as string,
    method: choiceArg("method", a.method, ["deeplift", "gradxact"]),
    samples: intArg("samples", a.samples)!,
    sigma: floatArg("sigma", a.sigma)!,
    seed: intArg("seed", a.seed, 0)!,
    limit: intArg("limit", a.limit),
    batch: intArg("batch", a.batch),
    overlays: intArg("overlays", a.overlays, 0),
    saveRaw: a["save-raw"] as boolean,
    ep: choiceArg("ep", a.ep, EP_CHOICES),
  });
  console.log(
    `${r.images} maps of class ${r.target}${r.targetName ? ` (${r.targetName})` : ""} at ${
      r.tapShape.join("x")
    } ` +
      `on ${r.device}: ${a.out}/maps.npy, attribution.json, overlays/`,
  );
});
