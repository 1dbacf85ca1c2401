"""Exports torchvision ResNets (random weights, seed 0) with torch's legacy ONNX exporter, and writes the node
lists protoscope's naming tests compare against (tests/testdata/torch/<name>_legacy_nodes.json).

Dev-only. Made with Debian bookworm's python3-torch 1.13.1, python3-torchvision 0.14.1, python3-onnx 1.12:
  python3 tools/reference/export_torchvision.py OUT_DIR
OUT_DIR receives <name>.onnx (about 100 MB each, never committed) and <name>_state.pt.
"""
import json
import os
import sys

import onnx
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = os.path.join(HERE, "..", "..", "tests", "testdata", "torch")


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for name in ["resnet50", "resnet34"]:
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)(weights=None).eval()
        path = os.path.join(out_dir, f"{name}.onnx")
        # What a user typically runs: eval mode, opset 17, a dynamic batch, torchvision's default names otherwise.
        torch.onnx.export(model, torch.randn(1, 3, 224, 224), path, opset_version=17,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        torch.save(model.state_dict(), os.path.join(out_dir, f"{name}_state.pt"))
        graph = onnx.load(path).graph
        initializers = {t.name for t in graph.initializer}
        nodes = [{"op": n.op_type, "name": n.name, "inputs": [i if i not in initializers else "<init>" for i in n.input],
                  "outputs": list(n.output)} for n in graph.node]
        with open(os.path.join(TESTDATA, f"{name}_legacy_nodes.json"), "w") as f:
            json.dump({"torch": torch.__version__, "torchvision": torchvision.__version__, "opset": 17,
                       "input": graph.input[0].name, "output": graph.output[0].name, "nodes": nodes}, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
