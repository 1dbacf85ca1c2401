"""captum's LayerDeepLift (+ NoiseTunnel's smoothgrad mean) on an ONNX model, for protoscope's tests.

Dev-only. Usage (torch from Debian's python3-torch, captum's source on PYTHONPATH):
  PYTHONPATH=/path/to/captum python3 captum_layer_deeplift.py MODEL.onnx TAP_TENSOR INPUTS.npy SAMPLES \
      TARGETS OUT.npy
INPUTS.npy: (n * SAMPLES) x 3 x H x W normalized inputs, the noisy copies of each image in a row (protoscope
writes them with the CPU twin of its noise kernel, so both sides see the same noise). TARGETS: comma-separated,
one per image. OUT.npy: n x C x h x w, the mean over each image's copies of captum's attribution at the tap,
the baseline an input of all 1.0, multiplied by inputs (captum's defaults); this mean is what
NoiseTunnel(LayerDeepLift).attribute(nt_type="smoothgrad") returns for these noise draws.
"""
import sys

import numpy as np
import torch
from captum.attr import LayerDeepLift

from onnx_torch import OnnxModule


def main(model_path, tap, inputs_path, samples, targets, out_path):
    torch.set_grad_enabled(True)
    model = OnnxModule(model_path).eval()
    x = torch.from_numpy(np.load(inputs_path))
    samples = int(samples)
    targets = [int(t) for t in targets.split(",")]
    n = x.shape[0] // samples
    assert n * samples == x.shape[0] and n == len(targets), "inputs, samples and targets disagree"
    row_targets = [t for t in targets for _ in range(samples)]
    deeplift = LayerDeepLift(model, model.module_producing(tap))
    rows = deeplift.attribute(x, baselines=torch.ones_like(x), target=row_targets).detach().double()
    mean = rows.reshape(n, samples, *rows.shape[1:]).mean(dim=1).float().numpy()
    np.save(out_path, mean)


if __name__ == "__main__":
    main(*sys.argv[1:])
