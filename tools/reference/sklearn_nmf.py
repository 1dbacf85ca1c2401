"""scikit-learn's NMF with the reference implementation's call, NMF(n_components=K).fit_transform(V), on a
.npy matrix; writes components_ as OUT.npy and prints n_iter_ and the relative reconstruction error as JSON.

Dev-only (Debian: apt-get install python3-sklearn). Usage: python3 sklearn_nmf.py V.npy K OUT.npy
"""
import json
import sys

import numpy as np
import sklearn
from sklearn.decomposition import NMF

v = np.load(sys.argv[1])
k = int(sys.argv[2])
# randomized_svd inside NNDSVDa draws from numpy's global state when random_state is None, as in the reference.
np.random.seed(0)
model = NMF(n_components=k)
w = model.fit_transform(v)
np.save(sys.argv[3], model.components_.astype(np.float32))
rel = float(np.linalg.norm(v - w @ model.components_) / np.linalg.norm(v))
print(json.dumps({"sklearn": sklearn.__version__, "init": "nndsvda", "n_iter": int(model.n_iter_), "relError": rel,
                  "dtype": str(v.dtype)}))
