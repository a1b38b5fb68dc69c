"""Conv3d and the 3-d pools against PyTorch (values, input and weight gradients, indices), float64 gradchecks."""
import numpy as np
import pytest
import torch

import sparktensor as st
import sparktensor.nn as nn
import sparktensor.nn.functional as F
from backends import to_numpy

FLOATS = [pytest.param(np.float32, 1e-4, id="float32"), pytest.param(np.float64, 1e-11, id="float64")]


def distinct(shape, dtype, seed=0):
    """Values without ties (a shuffled ramp), so every window has one maximum."""
    rng = np.random.default_rng(seed)
    return ((rng.permutation(int(np.prod(shape))) - np.prod(shape) / 2) / 50).reshape(shape).astype(dtype)


def compare(ours, theirs, x_np, device, tol):
    """Same output, input gradient and parameter gradients as the PyTorch layer; returns the outputs."""
    x = st.tensor(x_np, device=device, requires_grad=True)
    xt = torch.tensor(x_np, requires_grad=True)
    y, yt = ours(x), theirs(xt)
    y, yt = (y[0], yt[0]) if isinstance(y, tuple) else (y, yt)
    assert y.shape == tuple(yt.shape)
    np.testing.assert_allclose(to_numpy(y), yt.detach().numpy(), rtol=tol, atol=tol)
    g = np.random.default_rng(5).standard_normal(yt.shape).astype(x_np.dtype)
    y.backward(st.tensor(g, device=device))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(to_numpy(x.grad), xt.grad.numpy(), rtol=tol, atol=tol)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), theirs_params[name].grad.numpy(), rtol=tol, atol=tol,
                                   err_msg=name)


# in, out, kernel, stride, padding, dilation, groups, bias, padding_mode
CONVS = [(2, 4, 3, 1, 1, 1, 1, True, "zeros"),
         (4, 6, (2, 3, 1), (2, 1, 2), (1, 0, 0), (2, 1, 1), 2, False, "zeros"),
         (3, 3, 2, 1, "same", 2, 3, True, "zeros"),
         (2, 2, (1, 2, 2), 1, "valid", 1, 1, True, "zeros"),
         (2, 3, 3, 2, (1, 1, 2), 1, 1, True, "reflect"),
         (2, 3, 2, 1, 1, 1, 1, True, "circular")]


@pytest.mark.parametrize("dtype, tol", FLOATS)
@pytest.mark.parametrize("config", CONVS)
def test_conv3d_matches_torch(device, config, dtype, tol):
    *args, mode = config
    theirs = torch.nn.Conv3d(*args, padding_mode=mode, dtype=getattr(torch, np.dtype(dtype).name))
    ours = nn.Conv3d(*args, padding_mode=mode, dtype=dtype, device=device)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours.weight.shape == tuple(theirs.weight.shape)
    x = np.random.default_rng(0).standard_normal((2, args[0], 6, 7, 5)).astype(dtype)
    compare(ours, theirs, x, device, tol)


def test_conv3d_gradcheck(device):
    rng = np.random.default_rng(1)
    x, w, b = (st.tensor(rng.standard_normal(s), device=device, requires_grad=True)
               for s in ((1, 4, 4, 3, 4), (2, 2, 2, 2, 3), (2,)))
    assert st.autograd.gradcheck(lambda a, c, d: F.conv3d(a, c, d, stride=(2, 1, 1), padding=1, dilation=(1, 2, 1),
                                                          groups=2), [x, w, b])


def test_conv3d_errors_name_the_shapes():
    with pytest.raises(ValueError, match="expected input \\(N, C, D, H, W\\)"):
        F.conv3d(st.zeros((1, 2, 3, 3)), st.zeros((1, 2, 1, 1, 1)))
    with pytest.raises(ValueError, match="groups=2 expects 4"):
        F.conv3d(st.zeros((1, 3, 3, 3, 3)), st.zeros((2, 2, 1, 1, 1)), groups=2)
    with pytest.raises(ValueError, match="smaller than the kernel"):
        F.conv3d(st.zeros((1, 1, 2, 5, 5)), st.zeros((1, 1, 3, 1, 1)))
    with pytest.raises(ValueError, match="expected 2 input channels"):
        nn.Conv3d(2, 2, 1)(st.zeros((1, 3, 2, 2, 2)))


POOLS = [(2, None, 0, 1, False), (3, (2, 1, 2), 1, (1, 2, 1), True), ((3, 2, 2), 2, (1, 0, 1), 1, True),
         ((1, 3, 2), (1, 2, 1), 0, (2, 1, 1), False)]


@pytest.mark.parametrize("dtype, tol", FLOATS)
@pytest.mark.parametrize("kernel, stride, padding, dilation, ceil_mode", POOLS)
@pytest.mark.parametrize("shape", [(2, 3, 7, 8, 6), (3, 7, 8, 6)])
def test_max_pool3d_matches_torch_with_indices(device, kernel, stride, padding, dilation, ceil_mode, shape, dtype,
                                               tol):
    args = (kernel, stride, padding, dilation, True, ceil_mode)
    x = distinct(shape, dtype)
    compare(nn.MaxPool3d(*args), torch.nn.MaxPool3d(*args), x, device, tol)
    _, index = nn.MaxPool3d(*args)(st.tensor(x, device=device))
    np.testing.assert_array_equal(to_numpy(index), torch.nn.MaxPool3d(*args)(torch.tensor(x))[1].numpy())


def test_max_pool3d_ties_go_where_torch_sends_them(device):
    """After a relu most windows hold several zeros; the gradient goes to the first in (d, h, w) order."""
    x = np.maximum(np.random.default_rng(2).standard_normal((2, 2, 6, 6, 6)), 0)
    compare(nn.MaxPool3d(2, 1), torch.nn.MaxPool3d(2, 1), x, device, 1e-12)


@pytest.mark.parametrize("dtype, tol", FLOATS)
@pytest.mark.parametrize("kernel, stride, padding, _, ceil_mode", POOLS)
@pytest.mark.parametrize("count_include_pad, divisor", [(True, None), (False, None), (True, 5)])
def test_avg_pool3d_matches_torch(device, kernel, stride, padding, _, ceil_mode, count_include_pad, divisor, dtype,
                                  tol):
    args = (kernel, stride, padding, ceil_mode, count_include_pad, divisor)
    compare(nn.AvgPool3d(*args), torch.nn.AvgPool3d(*args), distinct((2, 3, 7, 8, 6), dtype), device, tol)


@pytest.mark.parametrize("dtype, tol", FLOATS)
@pytest.mark.parametrize("size", [1, (3, 5, None), (7, 3, 4), (2, 8, 6), (None, None, 5)])
@pytest.mark.parametrize("shape", [(2, 3, 7, 8, 6), (3, 7, 8, 6)])
def test_adaptive_avg_pool3d_matches_torch(device, size, shape, dtype, tol):
    compare(nn.AdaptiveAvgPool3d(size), torch.nn.AdaptiveAvgPool3d(size), distinct(shape, dtype), device, tol)


def test_pool3d_gradchecks(device):
    x = st.tensor(distinct((1, 2, 5, 4, 5), np.float64, 3), device=device, requires_grad=True)
    assert st.autograd.gradcheck(lambda a: F.max_pool3d(a, 2, 1, 1, ceil_mode=True), [x])
    assert st.autograd.gradcheck(lambda a: F.avg_pool3d(a, 3, 2, 1, count_include_pad=False), [x])
    assert st.autograd.gradcheck(lambda a: F.adaptive_avg_pool3d(a, (3, 3, 2)), [x])


def test_pool3d_errors_name_the_problem():
    with pytest.raises(ValueError, match="\\(N, C, D, H, W\\)"):
        F.max_pool3d(st.zeros((2, 2, 2)), 2)
    with pytest.raises(ValueError, match="at most half the kernel"):
        F.avg_pool3d(st.zeros((1, 1, 4, 4, 4)), 2, padding=(0, 2, 0))
    with pytest.raises(ValueError, match="too small"):
        F.max_pool3d(st.zeros((1, 1, 1, 4, 4)), 2)
    with pytest.raises(ValueError, match="must be positive"):
        F.adaptive_avg_pool3d(st.zeros((1, 1, 4, 4, 4)), (0, 1, 1))
