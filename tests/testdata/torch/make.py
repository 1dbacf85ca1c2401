"""Writes the .pt files in this folder with real PyTorch, once; the tests read them with protoscope's reader.

Made with Debian bookworm's python3-torch 1.13.1 (`apt-get install python3-torch`, run as /usr/bin/python3
make.py inside this folder). The expected numbers are saved beside each tensor as .npy by numpy, so the
test compares two independent readers: ours of torch's zip pickle, and our .npy reader of numpy's file.
Not run by CI: the files are committed.
"""
import json
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def save(tensor, name, **kwargs):
    torch.save(tensor, os.path.join(HERE, name + ".pt"), **kwargs)
    # float16 is kept as float32 (exact), the widest type protoscope's .npy reader takes.
    values = tensor.detach().contiguous()
    np.save(os.path.join(HERE, name + ".npy"), (values.float() if values.dtype == torch.float16 else values).numpy())


gen = torch.Generator().manual_seed(2502)

# The tensor the TODO in torch_pt_test.ts asked for.
save(torch.arange(12, dtype=torch.float64).reshape(2, 6), "arange")
# A non-contiguous view: torch.save keeps the storage and writes the strides and offset.
save(torch.rand(5, 7, generator=gen, dtype=torch.float32).t()[1:], "transposed_view")
# float16 and int64 storages.
save(torch.randn(3, 4, generator=gen).half(), "half")
save(torch.randint(-1000, 1000, (10,), generator=gen), "int64")

# The reference implementation's layout: <class>/nmf/nmf_basis.pt, a 6 x C float64 NMF basis (non-negative).
# Two classes at layer3.5's width (C = 1024).
for cls, cols in ((0, 1024), (7, 1024)):
    os.makedirs(os.path.join(HERE, "reference", str(cls), "nmf"), exist_ok=True)
    basis = torch.rand(6, cols, generator=gen, dtype=torch.float64) ** 3
    torch.save(basis, os.path.join(HERE, "reference", str(cls), "nmf", "nmf_basis.pt"))
    np.save(os.path.join(HERE, "reference", str(cls), "nmf_basis.npy"), basis.numpy())

# A state dict (not a single tensor) and the legacy (pre-1.6, non-zip) format, for the error messages.
torch.save({"weight": torch.ones(2, 2), "bias": torch.zeros(2)}, os.path.join(HERE, "state_dict.pt"))
torch.save(torch.ones(3), os.path.join(HERE, "legacy.pt"), _use_new_zipfile_serialization=False)

with open(os.path.join(HERE, "made_with.json"), "w") as f:
    json.dump({"torch": torch.__version__, "numpy": np.__version__, "script": "make.py"}, f, indent=2)
    f.write("\n")
