"""unfold/fold and Unfold/Fold against PyTorch, float64 gradchecks, and the errors for bad sizes."""
import numpy as np
import pytest
import torch

import sparktensor as st
import sparktensor.nn as nn
import sparktensor.nn.functional as F
from backends import to_numpy

FLOATS = [pytest.param(np.float32, 1e-5, id="float32"), pytest.param(np.float64, 1e-12, id="float64")]
# kernel_size, dilation, padding, stride
WINDOWS = [(2, 1, 0, 1), (3, 1, 1, 1), ((3, 2), (1, 2), (1, 0), (2, 1)), (2, 2, 1, 3), ((1, 3), 1, (0, 1), (1, 2))]


def check(fn, tfn, x_np, device, tol):
    """Same output and input gradient as PyTorch's function for a random output gradient."""
    x = st.tensor(x_np, device=device, requires_grad=True)
    xt = torch.tensor(x_np, requires_grad=True)
    y, yt = fn(x), tfn(xt)
    assert y.shape == tuple(yt.shape)
    np.testing.assert_allclose(to_numpy(y), yt.detach().numpy(), rtol=tol, atol=tol)
    g = np.random.default_rng(3).standard_normal(yt.shape).astype(x_np.dtype)
    y.backward(st.tensor(g, device=device))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(to_numpy(x.grad), xt.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype, tol", FLOATS)
@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("shape", [(2, 3, 7, 6), (3, 5, 4)])
def test_unfold_matches_torch(device, window, shape, dtype, tol):
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    check(nn.Unfold(*window), torch.nn.Unfold(*window), x, device, tol)


@pytest.mark.parametrize("dtype, tol", FLOATS)
@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("batched", [True, False])
def test_fold_matches_torch(device, window, batched, dtype, tol):
    size = (7, 6)
    rows, length = torch.nn.functional.unfold(torch.zeros(1, 2, *size), *window).shape[1:]
    shape = (3, rows, length) if batched else (rows, length)
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    check(nn.Fold(size, *window), torch.nn.Fold(size, *window), x, device, tol)


def test_fold_of_unfold_counts_overlaps(device):
    """fold(unfold(x)) multiplies each pixel by the number of windows covering it (PyTorch's identity)."""
    x = np.random.default_rng(2).standard_normal((1, 2, 5, 5))
    y = F.fold(F.unfold(st.tensor(x, device=device), 3, padding=1), (5, 5), 3, padding=1)
    counts = F.fold(F.unfold(st.ones((1, 1, 5, 5), dtype=st.float64, device=device), 3, padding=1), (5, 5), 3,
                    padding=1)
    np.testing.assert_allclose(to_numpy(y), x * to_numpy(counts), rtol=1e-12)
    assert to_numpy(counts)[0, 0, 2, 2] == 9 and to_numpy(counts)[0, 0, 0, 0] == 4


@pytest.mark.parametrize("window", WINDOWS)
def test_unfold_fold_gradcheck(device, window):
    rng = np.random.default_rng(4)
    x = st.tensor(rng.standard_normal((2, 2, 6, 5)), device=device, requires_grad=True)
    assert st.autograd.gradcheck(lambda a: F.unfold(a, *window), [x])
    cols = F.unfold(st.zeros((2, 2, 6, 5), dtype=st.float64), *window)
    c = st.tensor(rng.standard_normal(cols.shape), device=device, requires_grad=True)
    assert st.autograd.gradcheck(lambda a: F.fold(a, (6, 5), *window), [c])


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match="smaller than the kernel"):
        F.unfold(st.zeros((1, 1, 2, 2)), 3)
    with pytest.raises(ValueError, match="multiple of kh\\*kw"):
        F.fold(st.zeros((1, 5, 16)), (5, 5), 2)
    with pytest.raises(ValueError, match="columns"):
        F.fold(st.zeros((1, 4, 15)), (5, 5), 2)
    with pytest.raises(ValueError, match="expected input"):
        F.unfold(st.zeros((2, 2)), 1)
    with pytest.raises(ValueError, match="positive"):
        F.unfold(st.zeros((1, 1, 4, 4)), 2, stride=0)


def test_module_has_no_state_and_reprs():
    assert nn.Unfold(2).state_dict() == {} == dict(nn.Fold((4, 4), 2).state_dict())
    assert "kernel_size=2" in repr(nn.Unfold(2)) and "output_size=(4, 4)" in repr(nn.Fold((4, 4), 2))
