"""Exports torchvision Vision Transformers (random weights, seed 0) with torch's legacy ONNX exporter, and writes
the reference data protoscope's ViT tests compare against (tests/testdata/vit/).

Dev-only. Made with Debian bookworm's python3-torch 1.13.1, python3-torchvision 0.14.1, python3-onnx 1.12:
  /usr/bin/python3 tools/reference/export_vit.py OUT_DIR [--b32]
writes
- tests/testdata/vit/vit_tiny.onnx: torchvision.models.VisionTransformer(image_size=224, patch_size=32,
  num_layers=12, num_heads=2, hidden_dim=24, mlp_dim=48): vit_b_32's token layout ([N, 50, C]) and depth at
  a width small enough to commit (about 0.6 MB);
- OUT_DIR/vit_tiny_nodes.json: its node list (op, name, inputs, outputs; the same ops and names as vit_b_32);
- tests/testdata/vit/vit_tiny_gradxact.npy: torch autograd's Grad x Act in float64 at
  encoder.layers.encoder_layer_7 for the inputs of `inputs()` below and the targets in vit_tiny_gradxact.json,
  and torch's float64 logits for them (vit_tiny_logits.npy); vit_tiny_pixels_gradxact.npy the same for the
  prepared images of `pixel_inputs()`;
- tests/testdata/vit/vit_tiny_deeplift.npy: captum's LayerDeepLift (multiply_by_inputs=True, baselines=1.0, no
  noise tunnel) in float64 at the same layer, inputs and targets, when captum is importable (captum's source on
  PYTHONPATH, as for captum_layer_deeplift.py);
- tests/testdata/vit/ops_head.onnx (+ ops_head_gradxact.npy): a tiny head over a [N, 5, 8] token tap exported at
  opset 16, where torch writes LayerNorm as ReduceMean/Sub/Pow/Sqrt/Div and `expand` as shape arithmetic
  (ConstantOfShape, Equal, Where) feeding Expand; with torch.where, a slice and attention-like MatMuls; and its
  float64 Grad x Act for `ops_inputs()` and targets [1, 7];
- with --b32, OUT_DIR/vit_b_32.onnx (353 MB, never committed; kept when present), its node list
  OUT_DIR/vit_b_32_nodes.json and OUT_DIR/vit_b_32_gradxact.npy (float64 Grad x Act at encoder_layer_7 for
  `inputs(1)` towards class 417), which tools/reference/vit_gradxact.ts compares protoscope's against.
torchvision starts a ViT's head at zero (every logit 0, no gradient): the head gets normal(0, 0.02) weights.
"""
import json
import math
import os
import sys

import numpy as np
import onnx
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = os.path.join(HERE, "..", "..", "tests", "testdata", "vit")
LAYER = "encoder.layers.encoder_layer_7"


def inputs(n):
    """Deterministic normalized-space inputs that tests/vit_test.ts rebuilds (no file needed)."""
    x = np.zeros((n, 3, 224, 224), dtype=np.float32)
    h = np.arange(224, dtype=np.float64)[:, None]
    w = np.arange(224, dtype=np.float64)[None, :]
    for i in range(n):
        for c in range(3):
            x[i, c] = (np.sin(0.05 * (c + 1) * h + 0.031 * (i + 1) * w + i) * 1.5 + 0.2 * c).astype(np.float32)
    return torch.from_numpy(x)


def ops_inputs(n):
    """tests/vit_ops_test.ts rebuilds these: x[i, t, c] = 1.3 sin(0.7 (i + 1) t + 0.3 c + i)."""
    i = np.arange(n, dtype=np.float64)[:, None, None]
    t = np.arange(5, dtype=np.float64)[None, :, None]
    c = np.arange(8, dtype=np.float64)[None, None, :]
    return torch.from_numpy((1.3 * np.sin(0.7 * (i + 1) * t + 0.3 * c + i)).astype(np.float32))


class OpsHead(torch.nn.Module):
    """The transformer ops a ViT export can hold between a tap and the logits, in one small head."""

    def __init__(self):
        super().__init__()
        self.ln = torch.nn.LayerNorm(8)
        torch.nn.init.normal_(self.ln.weight, 1.0, 0.2)
        torch.nn.init.normal_(self.ln.bias, 0.0, 0.2)
        self.head = torch.nn.Linear(8, 10)

    def forward(self, x):
        y = self.ln(x)
        y = torch.where(y > 0, y, 0.1 * y)
        a = torch.softmax(y @ y.transpose(1, 2) / 8 ** 0.5, dim=-1) @ y
        z = a + y[:, :1, :].expand(-1, 5, -1)
        z = torch.nn.functional.gelu(z)
        return self.head(z.mean(1))


def pixel_inputs(n):
    """Prepared uint8 images (n x 224 x 224 x 3, HWC) that tests/vit_concepts_test.ts rebuilds, normalized as
    torchvision's ToTensor + Normalize(ImageNet) would: the Attributor's input path."""
    y = np.arange(224)[:, None, None]
    x = np.arange(224)[None, :, None]
    c = np.arange(3)[None, None, :]
    images = np.stack([(37 * i + 3 * y + 5 * x + 61 * c + (x * y) % 17) % 256 for i in range(n)]).astype(np.uint8)
    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
    std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
    normalized = (images.astype(np.float32) / 255 - mean) / std
    return torch.from_numpy(np.ascontiguousarray(normalized.transpose(0, 3, 1, 2)))


def randomize_head(model):
    torch.nn.init.normal_(model.heads.head.weight, std=0.02)
    torch.nn.init.normal_(model.heads.head.bias, std=0.02)


def export(model, path):
    torch.onnx.export(model, torch.randn(1, 3, 224, 224), path, opset_version=17,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


def node_list(path, out_json):
    graph = onnx.load(path).graph
    initializers = {t.name for t in graph.initializer}
    nodes = [{"op": n.op_type, "name": n.name, "inputs": [i if i not in initializers else "<init>" for i in n.input],
              "outputs": list(n.output)} for n in graph.node]
    with open(out_json, "w") as f:
        json.dump({"torch": torch.__version__, "torchvision": torchvision.__version__, "opset": 17,
                   "input": graph.input[0].name, "output": graph.output[0].name, "nodes": nodes}, f, indent=1)
        f.write("\n")


def grad_x_act(model, x, targets):
    model = model.double()
    store = {}

    def hook(_m, _i, out):
        out.retain_grad()
        store["a"] = out

    handle = dict(model.named_modules())[LAYER].register_forward_hook(hook)
    logits = model(x.double())
    logits[torch.arange(len(targets)), torch.tensor(targets)].sum().backward()
    handle.remove()
    a = store["a"]
    return (a * a.grad).detach().numpy(), logits.detach().numpy()


def captum_deeplift(model, x, targets):
    """captum's LayerDeepLift as core/core.py calls it, without the noise tunnel; None without captum."""
    try:
        from captum.attr import LayerDeepLift
    except ImportError:
        return None
    model = model.double()
    layer = dict(model.named_modules())[LAYER]
    return LayerDeepLift(model, layer, multiply_by_inputs=True).attribute(
        x.double(), target=targets, baselines=1.0).detach().numpy()


def main(out_dir, b32):
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    tiny = torchvision.models.VisionTransformer(image_size=224, patch_size=32, num_layers=12, num_heads=2,
                                                hidden_dim=24, mlp_dim=48).eval()
    randomize_head(tiny)
    path = os.path.join(TESTDATA, "vit_tiny.onnx")
    export(tiny, path)
    node_list(path, os.path.join(out_dir, "vit_tiny_nodes.json"))
    x = inputs(2)
    targets = [3, 417]
    attribution, logits = grad_x_act(tiny, x, targets)
    np.save(os.path.join(TESTDATA, "vit_tiny_gradxact.npy"), attribution)
    np.save(os.path.join(TESTDATA, "vit_tiny_logits.npy"), logits)
    pixels_attribution, _ = grad_x_act(tiny, pixel_inputs(2), targets)
    np.save(os.path.join(TESTDATA, "vit_tiny_pixels_gradxact.npy"), pixels_attribution)
    deeplift = captum_deeplift(tiny, x, targets)
    if deeplift is not None:
        np.save(os.path.join(TESTDATA, "vit_tiny_deeplift.npy"), deeplift)
    with open(os.path.join(TESTDATA, "vit_tiny_gradxact.json"), "w") as f:
        # Written as deno fmt leaves it.
        text = json.dumps({"layer": LAYER, "targets": targets, "shape": list(attribution.shape), "dtype": "float64"})
        f.write("{ " + text[1:-1] + " }")
        f.write("\n")
    torch.manual_seed(0)
    ops = OpsHead().eval()
    path = os.path.join(TESTDATA, "ops_head.onnx")
    torch.onnx.export(ops, ops_inputs(1), path, opset_version=16, input_names=["tap"], output_names=["logits"],
                      dynamic_axes={"tap": {0: "batch"}, "logits": {0: "batch"}})
    x = ops_inputs(2).double().requires_grad_(True)
    logits = ops.double()(x)
    logits[torch.arange(2), torch.tensor([1, 7])].sum().backward()
    np.save(os.path.join(TESTDATA, "ops_head_gradxact.npy"), (x * x.grad).detach().numpy())
    if b32:
        torch.manual_seed(0)
        model = torchvision.models.vit_b_32(weights=None).eval()
        randomize_head(model)
        path = os.path.join(out_dir, "vit_b_32.onnx")
        if not os.path.exists(path):
            export(model, path)
        # For tools/reference/vit_gradxact.ts: float64 Grad x Act of one image of inputs() towards class 417.
        attribution, _ = grad_x_act(model, inputs(1), [417])
        np.save(os.path.join(out_dir, "vit_b_32_gradxact.npy"), attribution)
        node_list(path, os.path.join(out_dir, "vit_b_32_nodes.json"))


if __name__ == "__main__":
    main(sys.argv[1], "--b32" in sys.argv[2:])
