"""Prints the max relative difference of two .npy arrays (protoscope's and captum's attributions)."""
import sys

import numpy as np

ours, ref = (np.load(p).astype(np.float64) for p in sys.argv[1:3])
assert ours.shape == ref.shape, f"shapes differ: {ours.shape} vs {ref.shape}"
print(f"shape {ref.shape}, max |ref| {np.abs(ref).max():.4g}, max relative difference "
      f"{np.abs(ours - ref).max() / np.abs(ref).max():.3g}")
