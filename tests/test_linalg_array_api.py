"""``st.linalg`` reached as Array API code reaches it: through ``t.__array_namespace__().linalg``, and from
scikit-learn with ``array_api_dispatch`` (its PCA calls ``xp.linalg.svd``)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import sparktensor as st

PCA_ON_TENSORS = """
import json
import numpy as np
import sklearn
from sklearn.decomposition import PCA
import sparktensor as st

x = np.random.default_rng(0).standard_normal((40, 6)) @ np.diag([3.0, 2.0, 1.5, 1.0, 0.5, 0.1])
with sklearn.config_context(array_api_dispatch=True):
    pca = PCA(n_components=3, svd_solver="full").fit(st.tensor(x))
    projected = pca.transform(st.tensor(x))
print(json.dumps({"types": [type(v).__name__ for v in (pca.components_, projected)],
                  "variance": pca.explained_variance_.tolist(), "components": pca.components_.tolist(),
                  "projected": projected.tolist()}))
"""


def test_the_namespace_of_a_tensor_holds_the_extension():
    t = st.ones((2, 2))
    assert t.__array_namespace__().linalg is st.linalg
    array_api_compat = pytest.importorskip("array_api_compat")
    xp = array_api_compat.array_namespace(t)
    np.testing.assert_allclose(xp.linalg.matrix_norm(xp.asarray([[3.0, 0.0], [0.0, 4.0]])).item(), 5.0)


def test_scikit_learn_pca_runs_on_tensors_through_the_extension():
    pytest.importorskip("sklearn")
    pytest.importorskip("scipy")
    from sklearn.decomposition import PCA
    env = dict(os.environ, SCIPY_ARRAY_API="1")  # scikit-learn's dispatch needs SciPy's, read at import
    done = subprocess.run([sys.executable, "-c", PCA_ON_TENSORS], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["types"] == ["Tensor", "Tensor"]
    x = np.random.default_rng(0).standard_normal((40, 6)) @ np.diag([3.0, 2.0, 1.5, 1.0, 0.5, 0.1])
    pca = PCA(n_components=3, svd_solver="full").fit(x)
    np.testing.assert_allclose(found["variance"], pca.explained_variance_, rtol=1e-10)
    # both flip signs by the same rule, so the components agree as they are
    np.testing.assert_allclose(found["components"], pca.components_, atol=1e-10)
    np.testing.assert_allclose(found["projected"], pca.transform(x), atol=1e-10)
