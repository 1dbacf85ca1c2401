"""On the device machine: what the reference implementation costs on CUDA, and how torch exports ResNets.

Writes OUT.json: versions; the reference's attribution call (captum NoiseTunnel(LayerDeepLift), 20 samples,
sigma 0.25, nt_samples_batch_size=1, baselines=1.0, batches of 8, as its compute_attribution does) timed for
one class's 60 images at layer3.5 and layer4.2 of torchvision's resnet50 on the GPU, and scikit-learn's NMF on
that class's weighted activations; and OUT-exports.json: the node lists (with name-scope metadata) of
torch's dynamo and legacy ONNX exports of resnet50 and resnet34, for protoscope's layer-resolution tests.
Random weights throughout: the cost does not depend on them. Each part records its error and the next runs.
"""
import json
import sys
import time
import traceback

import torch
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck

out_path = sys.argv[1]
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
    device = "cuda"
    model = split_relus(torchvision.models.resnet50(weights=None)).eval().to(device)
    images = torch.randn(60, 3, 224, 224, device=device)
    rows = []
    for name, layer in (("layer3.5", model.layer3[5]), ("layer4.2", model.layer4[2])):
        nt = NoiseTunnel(LayerDeepLift(model, layer, multiply_by_inputs=True))

        def attribute(batch):
            return nt.attribute(batch, target=1, nt_samples=20, stdevs=0.25, nt_samples_batch_size=1,
                                baselines=1.0).detach()

        attribute(images[:8])  # warm-up
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        maps, acts = [], []
        for s in range(0, 60, 8):
            a = attribute(images[s:s + 8])
            maps.append(torch.relu(a).mean(dim=1, keepdim=True))
        torch.cuda.synchronize()
        t_attr = time.perf_counter() - t0
        feats = {}
        handle = layer.register_forward_hook(lambda m, i, o: feats.__setitem__("x", o.detach()))
        with torch.no_grad():
            for s in range(0, 60, 16):
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
        rows.append({"layer": name, "images": 60, "attributionSeconds": t_attr, "imagesPerSecond": 60 / t_attr,
                     "nmfSeconds": t_nmf, "nmfShape": list(v.shape), "nmfIterations": int(nmf.n_iter_)})
        report["reference"] = rows
        save()
    # the same attribution with all 20 noise samples in one batch (what captum allows; the reference did not)
    nt = NoiseTunnel(LayerDeepLift(model, model.layer3[5], multiply_by_inputs=True))
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for s in range(0, 60, 4):
        nt.attribute(images[s:s + 4], target=1, nt_samples=20, stdevs=0.25, nt_samples_batch_size=80,
                     baselines=1.0)
    torch.cuda.synchronize()
    report["batchedCaptumLayer3.5ImagesPerSecond"] = 60 / (time.perf_counter() - t0)


def exports():
    import onnx
    result = {}
    for arch in ("resnet50", "resnet34"):
        for dynamo in (True, False):
            key = f"{arch}-{'dynamo' if dynamo else 'legacy'}"
            try:
                model = getattr(torchvision.models, arch)(weights=None).eval()
                path = f"/tmp/{key}.onnx"
                torch.onnx.export(model, (torch.randn(1, 3, 224, 224),), path, dynamo=dynamo, opset_version=18,
                                  input_names=["input"], output_names=["output"],
                                  dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}} if not dynamo
                                  else None)
                g = onnx.load(path).graph
                inits = {t.name for t in g.initializer}
                result[key] = {"input": g.input[0].name, "output": g.output[0].name, "nodes": [
                    {"op": n.op_type, "name": n.name, "inputs": [i if i not in inits else "<init>" for i in n.input],
                     "outputs": list(n.output), "metadata": {p.key: p.value for p in n.metadata_props}}
                    for n in g.node]}
            except Exception:
                result[key] = {"error": traceback.format_exc()[-2000:]}
    with open(out_path.replace(".json", "-exports.json"), "w") as f:
        json.dump(result, f)


for part in (reference_cost, exports):
    try:
        part()
    except Exception:
        report[f"{part.__name__}Error"] = traceback.format_exc()[-2000:]
    save()
print(json.dumps({k: v for k, v in report.items() if k != "exportsError"}, indent=1))
