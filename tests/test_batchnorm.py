"""Batch norm on rows per channel: batch-last inputs (as conv2d leaves them) and C-contiguous ones, against PyTorch."""
import numpy as np
import pytest
import torch

import sparktensor as st
import sparktensor.nn.functional as F
from backends import to_numpy

TOLERANCE = {np.float32: 2e-5, np.float64: 1e-10}


def batch_last(a):
    """``a`` (N, C, ...) with the same values, stored as (C, ..., N)."""
    order = tuple(range(1, a.ndim)) + (0,)
    return np.ascontiguousarray(a.transpose(order)).transpose(np.argsort(order))


LAYOUTS = {"c-contiguous": np.ascontiguousarray, "batch-last": batch_last}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("x_layout, g_layout", [("batch-last", "batch-last"), ("c-contiguous", "c-contiguous"),
                                                ("batch-last", "c-contiguous"), ("c-contiguous", "batch-last")])
@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (3, 2, 7), (1, 3, 2, 2), (5, 4)], ids=str)
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
def test_batch_norm_train_then_eval_matches_torch(device, shape, x_layout, g_layout, dtype, affine):
    rng = np.random.default_rng(0)
    channels, tol = shape[1], TOLERANCE[dtype]
    ours = (st.nn.BatchNorm1d if len(shape) < 4 else st.nn.BatchNorm2d)(channels, affine=affine).to(device, dtype)
    theirs = (torch.nn.BatchNorm1d if len(shape) < 4 else torch.nn.BatchNorm2d)(channels, affine=affine).double()
    if affine:
        w, b = rng.uniform(0.5, 1.5, channels), rng.uniform(-0.5, 0.5, channels)
        ours.weight.data[...] = st.tensor(w.astype(dtype), device=device).data
        ours.bias.data[...] = st.tensor(b.astype(dtype), device=device).data
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(w))
            theirs.bias.copy_(torch.tensor(b))
    for training in (True, True, False):
        ours.train(training)
        theirs.train(training)
        # far from zero mean: the variance and the gradients must not lose the small centred part
        x_np = (rng.standard_normal(shape) * 3 + 50).astype(dtype)
        g_np = rng.standard_normal(shape).astype(dtype)
        x = st.tensor(LAYOUTS[x_layout](x_np), device=device, requires_grad=True)
        xt = torch.tensor(x_np.astype(np.float64), requires_grad=True)
        y, yt = ours(x), theirs(xt)
        np.testing.assert_allclose(to_numpy(y), yt.detach().numpy(), rtol=tol * 10, atol=tol * 10)
        y.backward(st.tensor(LAYOUTS[g_layout](g_np), device=device))
        yt.backward(torch.tensor(g_np.astype(np.float64)))
        np.testing.assert_allclose(to_numpy(x.grad), xt.grad.numpy(), rtol=tol * 10, atol=tol * 10)
        if affine:
            for name in ("weight", "bias"):
                expected = getattr(theirs, name).grad.numpy()
                np.testing.assert_allclose(to_numpy(getattr(ours, name).grad), expected, rtol=tol * 10,
                                           atol=tol * 10 * np.abs(expected).max(), err_msg=name)
                getattr(ours, name).grad = None
                getattr(theirs, name).grad = None
        np.testing.assert_allclose(to_numpy(ours.running_mean), theirs.running_mean.numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(to_numpy(ours.running_var), theirs.running_var.numpy(), rtol=tol * 10,
                                   atol=tol)


def test_batch_norm_after_conv_keeps_the_batch_last_layout():
    """conv2d leaves its output batch-last; batch norm's output and input gradient stay so."""
    rng = np.random.default_rng(1)
    x = st.tensor(rng.standard_normal((4, 2, 5, 5)), requires_grad=True)
    h = F.conv2d(x, st.tensor(rng.standard_normal((3, 2, 3, 3))), padding=1)
    y = F.batch_norm(h, None, None, training=True)
    assert y.data.transpose(1, 2, 3, 0).flags.c_contiguous
    gh, = st.autograd.grad(y, [h], st.tensor(batch_last(rng.standard_normal(y.shape))))
    assert gh.data.transpose(1, 2, 3, 0).flags.c_contiguous


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("training", [True, False], ids=["batch-stats", "running-stats"])
def test_batch_norm_gradcheck_and_gradgradcheck(layout, training):
    rng = np.random.default_rng(2)
    x = st.tensor(LAYOUTS[layout](rng.standard_normal((3, 2, 4, 3))), requires_grad=True)
    w = st.tensor(rng.uniform(0.5, 1.5, 2), requires_grad=True)
    b = st.tensor(rng.standard_normal(2), requires_grad=True)
    mean, var = st.tensor(rng.standard_normal(2)), st.tensor(rng.uniform(0.5, 2, 2))

    def f(x, w, b):
        return F.batch_norm(x, None if training else mean, None if training else var, w, b, training=training)
    assert st.autograd.gradcheck(f, [x, w, b])
    assert st.autograd.gradgradcheck(f, [x, w, b])


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("training", [True, False], ids=["batch-stats", "running-stats"])
def test_batch_norm_split_over_threads_matches_torch(monkeypatch, layout, training):
    """Blocks of channels on three threads (5 channels: uneven blocks) give PyTorch's values and gradients."""
    from sparktensor import parallel
    monkeypatch.setattr(parallel, "MIN_PARALLEL_WORK", 1)
    before = st.get_num_threads()
    st.set_num_threads(3)
    try:
        rng = np.random.default_rng(3)
        x_np, g_np = rng.standard_normal((4, 5, 3, 2)) + 2, rng.standard_normal((4, 5, 3, 2))
        w, b, mean, var = rng.uniform(0.5, 1.5, 5), rng.standard_normal(5), rng.standard_normal(5), rng.uniform(1, 2, 5)
        ours = [st.tensor(a, requires_grad=True) for a in (LAYOUTS[layout](x_np), w, b)]
        theirs = [torch.tensor(a, requires_grad=True) for a in (x_np, w, b)]
        running = (st.tensor(mean), st.tensor(var)) if not training else (None, None)
        y = F.batch_norm(ours[0], *running, ours[1], ours[2], training=training)
        yt = torch.nn.functional.batch_norm(theirs[0], None if training else torch.tensor(mean),
                                            None if training else torch.tensor(var), theirs[1], theirs[2], training)
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
        y.backward(st.tensor(g_np))
        yt.backward(torch.tensor(g_np))
        for a, at, name in zip(ours, theirs, ("input", "weight", "bias")):
            np.testing.assert_allclose(a.grad.numpy(), at.grad.numpy(), rtol=1e-10, atol=1e-10, err_msg=name)
    finally:
        st.set_num_threads(before)


def test_half_precision_statistics_are_added_up_in_float32_as_pytorch():
    # 64 x 32 x 32 = 65536 values a channel: their float16 sum of squares alone would overflow (max 65504)
    rng = np.random.default_rng(3)
    x = (1 + rng.standard_normal((64, 2, 32, 32))).astype(np.float16)
    gy = rng.standard_normal(x.shape).astype(np.float16)
    ours = st.tensor(x, requires_grad=True)
    running_mean, running_var = st.zeros(2, dtype=st.float16), st.ones(2, dtype=st.float16)
    y = st.nn.functional.batch_norm(ours, running_mean, running_var, training=True)
    y.backward(st.tensor(gy))
    theirs = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    reference_mean, reference_var = torch.zeros(2), torch.ones(2)
    expected = torch.nn.functional.batch_norm(theirs, reference_mean, reference_var, training=True)
    expected.backward(torch.tensor(gy, dtype=torch.float32))
    assert y.dtype == st.float16 and ours.grad.dtype == st.float16
    np.testing.assert_allclose(y.numpy().astype(np.float32), expected.detach().numpy(), atol=1e-2)
    np.testing.assert_allclose(ours.grad.numpy().astype(np.float32), theirs.grad.numpy(), atol=2e-2)
    np.testing.assert_allclose(running_mean.numpy().astype(np.float32), reference_mean.numpy(), atol=1e-3)
    np.testing.assert_allclose(running_var.numpy().astype(np.float32), reference_var.numpy(), atol=1e-2)
