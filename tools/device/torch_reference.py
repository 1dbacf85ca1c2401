"""On the device machine: what the reference implementation costs on CUDA, and how torch exports ResNets.

Writes OUT.json: versions; the reference's attribution call (captum NoiseTunnel(LayerDeepLift), 20 samples,
sigma 0.25, nt_samples_batch_size=1, baselines=1.0, batches of 8, as its compute_attribution does) timed for
one class's 60 images at layer3.5 and layer4.2 of torchvision's resnet50 on the GPU, and scikit-learn's NMF on
that class's weighted activations; and OUT-exports.json: the node lists (with name-scope metadata) of
torch's dynamo and legacy ONNX exports of resnet50 and resnet34, for protoscope's layer-resolution tests.
Random weights throughout: the cost does not depend on them. Each part records its error and the next runs.
"""
import json
import os
import sys
import time
import traceback

import torch
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck

out_path = sys.argv[1]
# A CPU smoke run before spending a lease: TORCH_REFERENCE_DEVICE=cpu TORCH_REFERENCE_IMAGES=8.
DEVICE = os.environ.get("TORCH_REFERENCE_DEVICE", "cuda")
IMAGES = int(os.environ.get("TORCH_REFERENCE_IMAGES", "60"))
report = {"torch": torch.__version__, "torchvision": torchvision.__version__,
          "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def save():
    with open(out_path, "w") as f:
        json.dump(report, f, indent=1)


def split_relus(model):
    """captum refuses a ReLU module called twice; give each call in a block its own (same function)."""
    for block in model.modules():
        if isinstance(block, (Bottleneck, BasicBlock)):
            block.relu_a, block.relu_b, block.relu_c = torch.nn.ReLU(), torch.nn.ReLU(), torch.nn.ReLU()

            def forward(x, b=block):
                identity = x
                out = b.relu_a(b.bn1(b.conv1(x)))
                out = b.bn2(b.conv2(out))
                if isinstance(b, Bottleneck):
                    out = b.bn3(b.conv3(b.relu_b(out)))
                if b.downsample is not None:
                    identity = b.downsample(x)
                return b.relu_c(out + identity)

            block.forward = forward
    return model


def reference_cost():
    from captum.attr import LayerDeepLift, NoiseTunnel
    from sklearn.decomposition import NMF
    device = DEVICE
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    model = split_relus(torchvision.models.resnet50(weights=None)).eval().to(device)
    images = torch.randn(IMAGES, 3, 224, 224, device=device)
    rows = []
    for name, layer in (("layer3.5", model.layer3[5]), ("layer4.2", model.layer4[2])):
        nt = NoiseTunnel(LayerDeepLift(model, layer, multiply_by_inputs=True))

        def attribute(batch):
            return nt.attribute(batch, target=1, nt_samples=20, stdevs=0.25, nt_samples_batch_size=1,
                                baselines=1.0).detach()

        attribute(images[:8])  # warm-up
        sync()
        t0 = time.perf_counter()
        maps, acts = [], []
        for s in range(0, IMAGES, 8):
            a = attribute(images[s:s + 8])
            maps.append(torch.relu(a).mean(dim=1, keepdim=True))
        sync()
        t_attr = time.perf_counter() - t0
        feats = {}
        handle = layer.register_forward_hook(lambda m, i, o: feats.__setitem__("x", o.detach()))
        with torch.no_grad():
            for s in range(0, IMAGES, 16):
                model(images[s:s + 16])
                acts.append(feats["x"])
        handle.remove()
        weighted = torch.cat(maps) * torch.cat(acts)
        b, c, h, w = weighted.shape
        v = weighted.permute(0, 2, 3, 1).reshape(-1, c).cpu().numpy()
        t0 = time.perf_counter()
        nmf = NMF(n_components=6)
        nmf.fit_transform(v)
        t_nmf = time.perf_counter() - t0
        rows.append({"layer": name, "device": device, "images": IMAGES, "attributionSeconds": t_attr,
                     "imagesPerSecond": IMAGES / t_attr,
                     "nmfSeconds": t_nmf, "nmfShape": list(v.shape), "nmfIterations": int(nmf.n_iter_)})
        report["reference"] = rows
        save()
    # the same attribution with all 20 noise samples in one batch (what captum allows; the reference did not)
    nt = NoiseTunnel(LayerDeepLift(model, model.layer3[5], multiply_by_inputs=True))
    sync()
    t0 = time.perf_counter()
    for s in range(0, IMAGES, 4):
        nt.attribute(images[s:s + 4], target=1, nt_samples=20, stdevs=0.25, nt_samples_batch_size=80,
                     baselines=1.0)
    sync()
    report["batchedCaptumLayer3.5ImagesPerSecond"] = IMAGES / (time.perf_counter() - t0)


def exports():
    import inspect
    import onnx
    has_dynamo = "dynamo" in inspect.signature(torch.onnx.export).parameters
    result = {}
    for arch in ("resnet50", "resnet34"):
        for dynamo in (True, False):
            key = f"{arch}-{'dynamo' if dynamo else 'legacy'}"
            if dynamo and not has_dynamo:
                result[key] = {"error": f"torch {torch.__version__} has no dynamo exporter"}
                continue
            try:
                model = getattr(torchvision.models, arch)(weights=None).eval()
                path = f"/tmp/{key}.onnx"
                torch.onnx.export(model, (torch.randn(1, 3, 224, 224),), path, opset_version=18 if dynamo else 17,
                                  **({"dynamo": dynamo} if has_dynamo else {}),
                                  input_names=["input"], output_names=["output"],
                                  dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}} if not dynamo
                                  else None)
                g = onnx.load(path).graph
                inits = {t.name for t in g.initializer}
                result[key] = {"input": g.input[0].name, "output": g.output[0].name, "nodes": [
                    {"op": n.op_type, "name": n.name, "inputs": [i if i not in inits else "<init>" for i in n.input],
                     "outputs": list(n.output), "metadata": {p.key: p.value for p in getattr(n, "metadata_props", [])}}
                    for n in g.node]}
            except Exception:
                result[key] = {"error": traceback.format_exc()[-2000:]}
    with open(out_path.replace(".json", "-exports.json"), "w") as f:
        json.dump(result, f)


# The exports first: a timing run that dies (out of memory, killed at the step's limit) must not take them along.
for part in (exports, reference_cost):
    try:
        part()
    except Exception:
        report[f"{part.__name__}Error"] = traceback.format_exc()[-2000:]
    save()
print(json.dumps({k: v for k, v in report.items() if k != "exportsError"}, indent=1))
