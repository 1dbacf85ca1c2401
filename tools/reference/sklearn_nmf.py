"""scikit-learn's NMF as the reference paper uses it (init NNDSVDa, coordinate descent, Frobenius loss) on one
.npy matrix; writes components_ as OUT.npy and prints n_iter_, the relative reconstruction error and the fit's
wall seconds as JSON. THREADS (optional) caps BLAS's threads (`deno task bench` passes 2).
K may be a comma-separated list: then OUT is not written and one JSON object per K is printed, keyed by K,
which also holds relErrorSeeds: the relative error with random_state 0..31, how much the start's randomness
alone moves scikit-learn's own result (the spread a test must allow on inputs where it matters).

Dev-only (Debian: apt-get install python3-sklearn).
Usage: python3 sklearn_nmf.py V.npy K[,K...] [OUT.npy|-] [THREADS]
"""
import json
import sys
import time
import warnings

import numpy as np
import sklearn
from sklearn.decomposition import NMF
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

v = np.load(sys.argv[1])
threads = int(sys.argv[4]) if len(sys.argv) > 4 else None


def fit(model):
    with threadpool_limits(threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter reached: reported as n_iter
        start = time.perf_counter()
        w = model.fit_transform(v)
        seconds = time.perf_counter() - start
    return model, float(np.linalg.norm(v - w @ model.components_) / np.linalg.norm(v)), seconds


ks = [int(k) for k in sys.argv[2].split(",")]
out = {}
for k in ks:
    # randomized_svd inside NNDSVDa draws from numpy's global state when random_state is None, as in the
    # reference.
    np.random.seed(0)
    model, rel, seconds = fit(NMF(n_components=k))
    if len(ks) == 1 and len(sys.argv) > 3 and sys.argv[3] != "-":
        np.save(sys.argv[3], model.components_.astype(np.float32))
    out[k] = {"sklearn": sklearn.__version__, "init": "nndsvda", "n_iter": int(model.n_iter_), "relError": rel,
              "dtype": str(v.dtype), "fitSeconds": seconds, "threads": threads}
    if len(ks) > 1:
        out[k]["relErrorSeeds"] = [fit(NMF(n_components=k, random_state=seed))[1] for seed in range(32)]
print(json.dumps(out[ks[0]] if len(ks) == 1 else out))
