"""Max, average and adaptive average pooling against PyTorch; gradchecks in float64."""
import itertools

import numpy as np
import pytest
import torch

import sparktensor as st
from sparktensor.nn.functional.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from sparktensor.nn.modules.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from backends import to_numpy

TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def distinct(shape, dtype, seed=0):
    """Values without ties (a shuffled ramp), so every window has one maximum."""
    rng = np.random.default_rng(seed)
    return ((rng.permutation(int(np.prod(shape))) - np.prod(shape) / 2) / 7).reshape(shape).astype(dtype)


def compare(ours, theirs, x_np, device):
    """Run both on the same input; compare outputs and input gradients."""
    tol = TOLERANCE[x_np.dtype.type]
    x = st.tensor(x_np, device=device, requires_grad=True)
    xt = torch.tensor(x_np, requires_grad=True)
    y, yt = ours(x), theirs(xt)
    assert y.shape == tuple(yt.shape) and y.dtype == x_np.dtype
    assert y.data.flags.c_contiguous
    np.testing.assert_allclose(to_numpy(y), yt.detach().numpy(), **tol)
    g = np.random.default_rng(5).standard_normal(yt.shape).astype(x_np.dtype)
    y.backward(st.tensor(g, device=device))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(to_numpy(x.grad), xt.grad.numpy(), **tol)


def _valid(kernel, stride, padding, dilation, size=(9, 8)):
    k = (kernel,) * 2 if isinstance(kernel, int) else kernel
    if any(padding > n // 2 for n in k):
        return False
    return all((n + 2 * padding - dilation * (m - 1) - 1) >= 0 for n, m in zip(size, k))


MAX_CASES = [c for c in itertools.product([2, 3, (3, 2)], [None, 1, 2, (2, 1)], [0, 1], [1, 2], [False, True])
             if _valid(c[0], c[1], c[2], c[3])]


@pytest.mark.parametrize("kernel, stride, padding, dilation, ceil_mode", MAX_CASES)
def test_max_pool2d_matches_torch(device, kernel, stride, padding, dilation, ceil_mode):
    args = (kernel, stride, padding, dilation, False, ceil_mode)
    compare(MaxPool2d(*args), torch.nn.MaxPool2d(*args), distinct((2, 3, 9, 8), np.float32), device)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("size", [(28, 28), (7, 10), (10, 10)])
def test_max_pool2d_lenet_sizes(device, dtype, size):
    x = np.random.default_rng(1).standard_normal((4, 6) + size).astype(dtype)
    compare(MaxPool2d(2), torch.nn.MaxPool2d(2), np.maximum(x, 0), device)  # after a relu: many tied zeros


@pytest.mark.parametrize("kernel, stride", [(2, 2), (3, 1), (3, 2)])
def test_max_pool2d_ties_go_to_the_first_maximum(device, kernel, stride):
    x = np.random.default_rng(2).integers(0, 3, (2, 2, 7, 7)).astype(np.float64)
    compare(MaxPool2d(kernel, stride, 1), torch.nn.MaxPool2d(kernel, stride, 1), x, device)


def test_max_pool2d_return_indices_match_torch(device):
    x = distinct((2, 3, 9, 8), np.float32)
    for args in [(2,), (3, 2, 1), ((3, 2), (2, 1), (1, 0), (2, 1), True)]:
        y, i = max_pool2d(st.tensor(x, device=device), *args, return_indices=True)
        yt, it = torch.nn.functional.max_pool2d(torch.tensor(x), *args, return_indices=True)
        np.testing.assert_array_equal(to_numpy(y), yt.numpy())
        np.testing.assert_array_equal(to_numpy(i), it.numpy())


def test_max_pool2d_propagates_nan(device):
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, 1, 1] = np.nan
    y = to_numpy(max_pool2d(st.tensor(x, device=device), 2))
    assert np.isnan(y[0, 0, 0, 0]) and not np.isnan(y[0, 0, 1, 1])


AVG_CASES = [c for c in itertools.product([2, 3, (3, 2)], [None, 1, 2], [0, 1], [False, True], [True, False])
             if _valid(c[0], c[1], c[2], 1)]


@pytest.mark.parametrize("kernel, stride, padding, ceil_mode, count_include_pad", AVG_CASES)
def test_avg_pool2d_matches_torch(device, kernel, stride, padding, ceil_mode, count_include_pad):
    args = (kernel, stride, padding, ceil_mode, count_include_pad)
    x = np.random.default_rng(3).standard_normal((2, 3, 9, 8)).astype(np.float32)
    compare(AvgPool2d(*args), torch.nn.AvgPool2d(*args), x, device)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_avg_pool2d_divisor_override(device, dtype):
    x = np.random.default_rng(4).standard_normal((2, 3, 7, 6)).astype(dtype)
    args = (3, 2, 1, True, True, 5)
    compare(AvgPool2d(*args), torch.nn.AvgPool2d(*args), x, device)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("output_size", [1, 3, (4, 5), (2, None), 7, (9, 8), (5, 3), (3, 4)])
def test_adaptive_avg_pool2d_matches_torch(device, output_size, dtype):
    x = np.random.default_rng(5).standard_normal((2, 3, 9, 8)).astype(dtype)
    compare(AdaptiveAvgPool2d(output_size), torch.nn.AdaptiveAvgPool2d(output_size), x, device)


@pytest.mark.parametrize("layer, reference", [
    (MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1)), (AvgPool2d(2), torch.nn.AvgPool2d(2)),
    (AdaptiveAvgPool2d((2, 3)), torch.nn.AdaptiveAvgPool2d((2, 3)))], ids=repr)
def test_unbatched_input_and_repr(device, layer, reference):
    assert repr(layer) == repr(reference)
    compare(layer, reference, distinct((3, 9, 8), np.float64), device)


def _gradcheck_input(device, shape=(2, 2, 7, 6)):
    # spaced at least 1/7 apart, so the finite-difference steps never change which element is the maximum
    return st.tensor(distinct(shape, np.float64, seed=6), device=device, requires_grad=True)


@pytest.mark.parametrize("fn", [
    lambda x: max_pool2d(x, 2),
    lambda x: max_pool2d(x, 3, 2, 1, 2, True),
    lambda x: max_pool2d(x, (3, 2), 1, (1, 0)),
    lambda x: avg_pool2d(x, 3, 2, 1, True, False),
    lambda x: avg_pool2d(x, (2, 3), 1, (1, 1)),
    lambda x: adaptive_avg_pool2d(x, (3, 4)),
    lambda x: adaptive_avg_pool2d(x, (7, 2)),
], ids=["max", "max-dilated-ceil", "max-overlapping", "avg-ceil-no-pad-count", "avg-overlapping",
        "adaptive-uneven", "adaptive-even"])
def test_pool_gradcheck(device, fn):
    assert st.autograd.gradcheck(fn, [_gradcheck_input(device)])


def test_pool_errors(device):
    x = st.ones(1, 2, 6, 6, device=device)
    with pytest.raises(ValueError, match="padding .* at most half the kernel"):
        max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match=r"too small for kernel \(7, 7\)"):
        avg_pool2d(x, 7)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*\(6, 6\)"):
        max_pool2d(st.ones(6, 6, device=device), 2)


@pytest.mark.parametrize("pool", [max_pool2d, avg_pool2d], ids=["max", "avg"])
def test_empty_batch(device, pool):
    x = st.tensor(np.ones((0, 3, 8, 8)), device=device, requires_grad=True)
    y = pool(x, 2)
    assert y.shape == tuple(getattr(torch.nn.functional, pool.__name__)(torch.ones(0, 3, 8, 8), 2).shape)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 8, 8)


# ----- batch-last inputs (as conv2d leaves them) and channels split over threads -----
def batch_last(a):
    """``a`` (N, C, H, W) with the same values, stored as (C, H, W, N)."""
    return np.ascontiguousarray(a.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


@pytest.fixture(params=[False, True], ids=["one-thread", "three-threads"])
def threads(request, monkeypatch):
    """Pooling on the calling thread, or split over three threads even when small (5 channels: uneven blocks)."""
    if not request.param:
        yield
        return
    from sparktensor import parallel
    monkeypatch.setattr(parallel, "MIN_PARALLEL_WORK", 1)
    before = st.get_num_threads()
    st.set_num_threads(3)
    yield
    st.set_num_threads(before)


LAYOUT_CASES = [  # kernel, stride, padding, dilation, ceil_mode
    (2, 2, 0, 1, False), (3, 2, 1, 1, True), (3, 1, 1, 2, False), ((2, 3), (1, 2), (1, 0), 1, True)]


@pytest.mark.parametrize("layout", ["batch-last", "c-contiguous"])
@pytest.mark.parametrize("kernel, stride, padding, dilation, ceil_mode", LAYOUT_CASES, ids=str)
def test_max_pool2d_layouts_and_threads_match_torch(device, threads, layout, kernel, stride, padding, dilation,
                                                     ceil_mode):
    x_np = distinct((3, 5, 9, 7), np.float64, seed=1)
    x = st.tensor(batch_last(x_np) if layout == "batch-last" else x_np, device=device, requires_grad=True)
    xt = torch.tensor(x_np, requires_grad=True)
    y, i = max_pool2d(x, kernel, stride, padding, dilation, ceil_mode, return_indices=True)
    yt, it = torch.nn.functional.max_pool2d(xt, kernel, stride, padding, dilation, ceil_mode, return_indices=True)
    np.testing.assert_array_equal(to_numpy(y), yt.detach().numpy())
    np.testing.assert_array_equal(to_numpy(i), it.numpy())
    if layout == "batch-last":  # the layout carries through to the output
        assert to_numpy(y).transpose(1, 2, 3, 0).flags.c_contiguous or device != "cpu"
    g = np.random.default_rng(2).standard_normal(yt.shape)
    y.backward(st.tensor(batch_last(g) if layout == "batch-last" else g, device=device))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(to_numpy(x.grad), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel, stride, padding, _, ceil_mode", LAYOUT_CASES, ids=str)
def test_avg_pool2d_of_a_batch_last_input_matches_torch(device, kernel, stride, padding, _, ceil_mode):
    x_np = np.random.default_rng(3).standard_normal((3, 5, 9, 7))
    x = st.tensor(batch_last(x_np), device=device, requires_grad=True)
    xt = torch.tensor(x_np, requires_grad=True)
    y, yt = avg_pool2d(x, kernel, stride, padding, ceil_mode), torch.nn.functional.avg_pool2d(xt, kernel, stride,
                                                                                             padding, ceil_mode)
    np.testing.assert_allclose(to_numpy(y), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(4).standard_normal(yt.shape)
    y.backward(st.tensor(batch_last(g), device=device))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(to_numpy(x.grad), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_max_pool2d_gradgradcheck_of_a_batch_last_input():
    x = st.tensor(batch_last(distinct((2, 3, 6, 5), np.float64, seed=5)), requires_grad=True)
    assert st.autograd.gradcheck(lambda a: max_pool2d(a, 3, 2, 1), [x])
    assert st.autograd.gradgradcheck(lambda a: max_pool2d(a, 3, 2, 1), [x])
