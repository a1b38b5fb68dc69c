"""What the array tests share besides fixtures: the backends under test and small helpers.

(Kept out of ``conftest.py``: ``tests/dist`` has a ``conftest.py`` of its own, and two modules named
``conftest`` cannot both be imported by name.)
"""
import os

import numpy as np
import pytest

import cupy_standin
import sparktensor as st


def _cuda_skip_reason():
    """Why the ``cuda`` half cannot run (None when it can): real CuPy first, else the stand-in if asked for."""
    try:
        import cupy  # noqa: F401
    except ImportError:
        reason = "CuPy is not installed (pip install 'sparktensor[cuda12]')"
    else:
        if st.cuda_is_available():
            return None
        reason = "CuPy is installed but no CUDA device is present"
    if os.environ.get(cupy_standin.STANDIN_ENV) == "1":
        cupy_standin.install()
        return None
    return f"{reason}; {cupy_standin.STANDIN_ENV}=1 runs it on the CPU through a strict CuPy stand-in"


CUDA_SKIP = _cuda_skip_reason()
BACKENDS = [
    pytest.param("cpu", id="numpy"),
    pytest.param("cuda", id="cupy", marks=pytest.mark.skipif(CUDA_SKIP is not None, reason=CUDA_SKIP or "")),
]


def to_numpy(x):
    """A NumPy array from a tensor, CuPy/NumPy array or scalar."""
    if isinstance(x, st.Tensor):
        return x.numpy()
    if hasattr(x, "get"):
        return x.get()
    return np.asarray(x)


class GradientDtype(st.autograd.Function):
    """Identity that records the dtype of the gradient reaching it."""
    seen = []

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, gy):
        GradientDtype.seen.append(gy.dtype)
        return gy
