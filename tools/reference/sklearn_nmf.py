"""scikit-learn's NMF with the reference implementation's call, NMF(n_components=K).fit_transform(V), on a
.npy matrix; writes components_ as OUT.npy and prints n_iter_, the relative reconstruction error and the
fit's wall seconds as JSON. THREADS (optional) caps BLAS's threads (`deno task bench` passes 2).

Dev-only (Debian: apt-get install python3-sklearn). Usage: python3 sklearn_nmf.py V.npy K OUT.npy [THREADS]
"""
import json
import sys
import time
import warnings

import numpy as np
import sklearn
from sklearn.decomposition import NMF
from threadpoolctl import threadpool_limits

v = np.load(sys.argv[1])
k = int(sys.argv[2])
threads = int(sys.argv[4]) if len(sys.argv) > 4 else None
# randomized_svd inside NNDSVDa draws from numpy's global state when random_state is None, as in the reference.
np.random.seed(0)
model = NMF(n_components=k)
with threadpool_limits(threads), warnings.catch_warnings():
    warnings.simplefilter("ignore")  # max_iter reached: reported as n_iter
    start = time.perf_counter()
    w = model.fit_transform(v)
    seconds = time.perf_counter() - start
np.save(sys.argv[3], model.components_.astype(np.float32))
rel = float(np.linalg.norm(v - w @ model.components_) / np.linalg.norm(v))
print(json.dumps({"sklearn": sklearn.__version__, "init": "nndsvda", "n_iter": int(model.n_iter_), "relError": rel,
                  "dtype": str(v.dtype), "fitSeconds": seconds, "threads": threads}))
