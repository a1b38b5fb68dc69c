"""sparktensor as an Array API namespace inside other libraries: array-api-compat, scikit-learn and SciPy.

scikit-learn dispatches on Array API namespaces only with SciPy's own support on, which the environment variable
SCIPY_ARRAY_API=1 turns on before SciPy is first imported; other tests import SciPy without it, so the
scikit-learn and SciPy checks run in a subprocess (this file run as a script) and send their results back in a
``.npz`` file.
"""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import sparktensor as st
from backends import to_numpy

array_api_compat = pytest.importorskip("array_api_compat")

HERE = pathlib.Path(__file__).resolve().parent


# ----- array-api-compat -----
def test_array_api_compat_finds_the_sparktensor_namespace(device):
    x = st.asarray([[1.0, 2.0], [3.0, 4.0]], device=device)
    y = st.ones(2, device=device)
    assert array_api_compat.is_array_api_obj(x)
    assert array_api_compat.array_namespace(x) is st
    assert array_api_compat.array_namespace(x, y, 1.5) is st
    assert array_api_compat.array_namespace(x, api_version="2024.12") is st
    assert x.__array_namespace__() is st and st.__array_api_version__ == "2024.12"
    assert array_api_compat.device(x) == x.device
    assert array_api_compat.size(x) == 4


def test_array_api_compat_refuses_to_mix_sparktensor_and_numpy():
    with pytest.raises(TypeError, match="[Mm]ultiple namespaces"):
        array_api_compat.array_namespace(st.ones(2), np.ones(2))


def _generic_log_softmax(x):
    """Array API code that knows nothing of sparktensor: a stable log-softmax over the last axis."""
    xp = array_api_compat.array_namespace(x)
    shifted = x - xp.max(x, axis=-1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))


def test_generic_array_api_code_runs_on_tensors_and_is_differentiable(device, rng):
    data = rng.normal(size=(4, 5))
    x = st.asarray(data, device=device, dtype=st.float64)
    out = _generic_log_softmax(x)
    assert isinstance(out, st.Tensor)
    np.testing.assert_allclose(to_numpy(out), _generic_log_softmax(data), rtol=1e-12)
    probe = st.asarray(rng.normal(size=(4, 5)), device=device, dtype=st.float64)
    assert st.autograd.gradcheck(lambda t: (_generic_log_softmax(t) * probe).sum(),
                                 [x.detach().requires_grad_()])


# ----- scikit-learn and SciPy, in a subprocess with SCIPY_ARRAY_API=1 -----
ESTIMATORS = {
    # name: (class, constructor arguments, fitted attributes to compare, methods to compare on the training data)
    "PCA": ("sklearn.decomposition.PCA", {"n_components": 3, "svd_solver": "full"},
            ["components_", "explained_variance_", "explained_variance_ratio_", "singular_values_", "mean_"],
            ["transform"]),
    "LinearDiscriminantAnalysis": ("sklearn.discriminant_analysis.LinearDiscriminantAnalysis", {},
                                   ["coef_", "intercept_", "means_", "priors_"],
                                   ["predict", "predict_proba", "transform"]),
    "Ridge": ("sklearn.linear_model.Ridge", {"solver": "svd", "alpha": 0.5}, ["coef_", "intercept_"], ["predict"]),
    "RidgeCV": ("sklearn.linear_model.RidgeCV", {"alphas": (0.1, 1.0, 10.0)}, ["coef_", "intercept_", "alpha_"],
                ["predict"]),
    "StandardScaler": ("sklearn.preprocessing.StandardScaler", {}, ["mean_", "var_", "scale_"], ["transform"]),
    "MinMaxScaler": ("sklearn.preprocessing.MinMaxScaler", {}, ["data_min_", "data_max_", "scale_"],
                     ["transform"]),
    "KernelCenterer": ("sklearn.preprocessing.KernelCenterer", {}, ["K_fit_rows_", "K_fit_all_"], ["transform"]),
    "Normalizer": ("sklearn.preprocessing.Normalizer", {}, [], ["transform"]),
    "Binarizer": ("sklearn.preprocessing.Binarizer", {"threshold": 0.1}, [], ["transform"]),
    "PolynomialFeatures": ("sklearn.preprocessing.PolynomialFeatures", {"degree": 2}, [], ["transform"]),
    "Nystroem": ("sklearn.kernel_approximation.Nystroem", {"n_components": 20, "random_state": 0},
                 ["components_", "normalization_"], ["transform"]),
    "GaussianNB": ("sklearn.naive_bayes.GaussianNB", {}, ["theta_", "var_", "class_prior_"],
                   ["predict", "predict_proba"]),
    "GaussianMixture": ("sklearn.mixture.GaussianMixture",
                        {"n_components": 2, "init_params": "random_from_data", "random_state": 0},
                        ["weights_", "means_", "covariances_"], ["predict_proba", "score_samples"]),
    "LogisticRegression": ("sklearn.linear_model.LogisticRegression", {}, ["coef_", "intercept_"],
                           ["predict", "predict_proba"]),
}
CLASSIFIERS = {"LinearDiscriminantAnalysis", "GaussianNB", "LogisticRegression"}


def _data(name, rng):
    """A small float64 problem: features, and targets (class labels for classifiers)."""
    x = rng.normal(size=(60, 5)) @ rng.normal(size=(5, 5))
    if name in CLASSIFIERS:
        y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    else:
        y = x @ rng.normal(size=5) + 0.1 * rng.normal(size=60)
    return (x @ x.T if name == "KernelCenterer" else x), y  # KernelCenterer takes a kernel matrix


def _fit_both(name, device):
    """Child side: fits the estimator on NumPy arrays and on tensors; results as NumPy arrays, keyed by source."""
    import importlib

    import sklearn
    path, kwargs, attributes, methods = ESTIMATORS[name]
    module, _, cls = path.rpartition(".")
    estimator_class = getattr(importlib.import_module(module), cls)
    x, y = _data(name, np.random.default_rng(0))
    results, kinds = {}, {}
    for source, (xs, ys) in {"numpy": (x, y),
                             "sparktensor": (st.asarray(x, device=device), st.asarray(y, device=device))}.items():
        with sklearn.config_context(array_api_dispatch=True):
            fitted = estimator_class(**kwargs).fit(xs, ys)
            outputs = {a: getattr(fitted, a) for a in attributes}
            outputs.update({m: getattr(fitted, m)(xs) for m in methods})
        for key, value in outputs.items():
            kinds[f"{source}/{key}"] = _kind(value)
            results[f"{source}/{key}"] = to_numpy(value)
    return results, kinds


SCIPY_CALLS = {
    "special.logsumexp": lambda scipy, x: scipy.special.logsumexp(x, axis=1),
    "special.softmax": lambda scipy, x: scipy.special.softmax(x, axis=0),
    "special.log_softmax": lambda scipy, x: scipy.special.log_softmax(x, axis=1),
    "special.erf": lambda scipy, x: scipy.special.erf(x),
    "stats.zscore": lambda scipy, x: scipy.stats.zscore(x, axis=0),
    "stats.skew": lambda scipy, x: scipy.stats.skew(x, axis=1),
    "stats.kurtosis": lambda scipy, x: scipy.stats.kurtosis(x, axis=1),
    "fft.rfft": lambda scipy, x: scipy.fft.rfft(x, axis=1),
}
# SciPy makes arrays of Python numbers here with xp.asarray(value) and no device=: CPU tensors, which sparktensor
# does not mix with CUDA ones (PyTorch lets a 0-d CPU tensor join a CUDA tensor); so these run on the CPU only
SCIPY_CPU_CALLS = {
    "stats.pearsonr": lambda scipy, x: scipy.stats.pearsonr(x[0], x[1]).statistic,
    "stats.ttest_1samp": lambda scipy, x: scipy.stats.ttest_1samp(x, 0.0, axis=1).statistic,
}


def _scipy_on_tensors(device):
    """Child side: SciPy functions that follow the Array API, called on a tensor, next to the same on NumPy;
    and the gradient and Hessian of scipy.special.logsumexp on tensors next to PyTorch's of torch.logsumexp."""
    import scipy.fft
    import scipy.special
    import scipy.stats
    import torch
    x = np.random.default_rng(0).normal(size=(4, 6))
    results, kinds = {}, {}

    def keep(source, key, value):
        kinds[f"{source}/{key}"] = _kind(value)
        results[f"{source}/{key}"] = to_numpy(value)

    for source, xs in {"numpy": x, "sparktensor": st.asarray(x, device=device)}.items():
        for key, call in {**SCIPY_CALLS, **(SCIPY_CPU_CALLS if device == "cpu" else {})}.items():
            keep(source, key, call(scipy, xs))
    leaf = st.tensor(x, device=device, requires_grad=True)
    scipy.special.logsumexp(leaf, axis=1).sum().backward()
    keep("sparktensor", "logsumexp gradient", leaf.grad)
    keep("sparktensor", "logsumexp hessian",
         st.autograd.functional.hessian(lambda v: scipy.special.logsumexp(v), st.tensor(x[0], device=device)))
    t = torch.tensor(x, requires_grad=True)
    torch.logsumexp(t, dim=1).sum().backward()
    keep("numpy", "logsumexp gradient", t.grad.numpy())
    keep("numpy", "logsumexp hessian",
         torch.autograd.functional.hessian(lambda v: torch.logsumexp(v, dim=0), torch.tensor(x[0])).numpy())
    return results, kinds


def _kind(value):
    """The library an array result belongs to; "scalar" for a Python or NumPy scalar."""
    return "scalar" if np.ndim(value) == 0 and not hasattr(value, "__array_namespace__") else \
        type(value).__module__.split(".")[0]


def _run_child(device, folder):
    """Runs this file as a script with SCIPY_ARRAY_API=1: every estimator and the SciPy checks, once per device.

    Returns the results, the library each result came back as, and the traceback of each target that raised.
    """
    out = folder / "results.npz"
    env = dict(os.environ, SCIPY_ARRAY_API="1")
    # the child imports the sparktensor this process imported
    env["PYTHONPATH"] = os.pathsep.join([str(pathlib.Path(st.__file__).parents[1]), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, __file__, device, str(out)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"the subprocess on {device} failed:\n{done.stderr[-4000:]}"
    with np.load(out) as stored:
        results = dict(stored)
    kinds, errors = json.loads(str(results.pop("__kinds__"))), json.loads(str(results.pop("__errors__")))
    return results, kinds, errors


@pytest.fixture(scope="module")
def child_results(tmp_path_factory):
    """The child's answers for a device, computed at the first test that asks for them."""
    cache = {}

    def get(device, target):
        if device not in cache:
            cache[device] = _run_child(device, tmp_path_factory.mktemp(device))
        results, kinds, errors = cache[device]
        assert target not in errors, f"{target} on {device} raised in the subprocess:\n{errors.get(target)}"
        prefix = f"{target}|"
        return ({k.removeprefix(prefix): v for k, v in results.items() if k.startswith(prefix)},
                {k.removeprefix(prefix): v for k, v in kinds.items() if k.startswith(prefix)})

    return get


def _assert_same(results, kinds, keys):
    for key in keys:
        expected = "scalar" if kinds[f"numpy/{key}"] == "scalar" else "sparktensor"
        assert kinds[f"sparktensor/{key}"] == expected, f"{key} came back as {kinds[f'sparktensor/{key}']}"
        np.testing.assert_allclose(results[f"sparktensor/{key}"], results[f"numpy/{key}"], rtol=1e-7, atol=1e-9,
                                   err_msg=key)


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_scikit_learn_fits_on_tensors_as_on_numpy_arrays(name, device, child_results):
    results, kinds = child_results(device, name)
    _, _, attributes, methods = ESTIMATORS[name]
    _assert_same(results, kinds, attributes + methods)


def test_scipy_special_on_tensors_and_its_derivatives(device, child_results):
    results, kinds = child_results(device, "scipy")
    cpu_only = list(SCIPY_CPU_CALLS) if device == "cpu" else []
    _assert_same(results, kinds, [*SCIPY_CALLS, *cpu_only, "logsumexp gradient", "logsumexp hessian"])


if __name__ == "__main__":
    import traceback
    device, out = sys.argv[1:]
    all_results, all_kinds, errors = {}, {}, {}
    for target in [*ESTIMATORS, "scipy"]:
        try:
            results, kinds = _scipy_on_tensors(device) if target == "scipy" else _fit_both(target, device)
        except Exception:  # noqa: BLE001  (reported by the target's test in the parent)
            errors[target] = traceback.format_exc()[-4000:]
            continue
        all_results.update({f"{target}|{k}": v for k, v in results.items()})
        all_kinds.update({f"{target}|{k}": v for k, v in kinds.items()})
    np.savez(out, __kinds__=np.array(json.dumps(all_kinds)), __errors__=np.array(json.dumps(errors)), **all_results)
