"""What the array tests share besides fixtures: the backends under test and small helpers.

(Kept out of ``conftest.py``: ``tests/dist`` has a ``conftest.py`` of its own, and two modules named
``conftest`` cannot both be imported by name.)
"""
import numpy as np
import pytest

import sparktensor as st


def _cuda_skip_reason():
    try:
        import cupy  # noqa: F401
    except ImportError:
        return "CuPy is not installed (pip install 'sparktensor[cuda12]')"
    if not st.cuda_is_available():
        return "CuPy is installed but no CUDA device is present"
    return None


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
