"""ReLU on large arrays (split over the intra-op threads) and in every layout, against PyTorch."""
import numpy as np
import pytest
import torch

import sparktensor as st
import sparktensor.nn.functional as F
from backends import to_numpy


@pytest.fixture
def restore_threads():
    before = st.get_num_threads()
    yield
    st.set_num_threads(before)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_relu_matches_torch_at_any_thread_count(device, restore_threads, threads, layout):
    st.set_num_threads(threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 1100)).astype(np.float32)
    x[0, :5] = 0.0  # PyTorch's gradient at 0 is 0
    x = {"C": x, "F": np.asfortranarray(x), "strided": x[:, ::2]}[layout]
    gy = rng.standard_normal(x.shape).astype(np.float32)
    xs = st.tensor(x, device=device, requires_grad=True)
    xt = torch.tensor(np.ascontiguousarray(x), requires_grad=True)
    y, yt = F.relu(xs), torch.relu(xt)
    y.backward(st.tensor(gy, device=device))
    yt.backward(torch.tensor(gy))
    np.testing.assert_array_equal(to_numpy(y), yt.detach().numpy())
    np.testing.assert_array_equal(to_numpy(xs.grad), xt.grad.numpy())


def test_relu_second_order(device):
    x = st.tensor(np.random.default_rng(1).standard_normal((4, 5)), device=device, requires_grad=True)
    assert st.autograd.gradcheck(F.relu, [x]) and st.autograd.gradgradcheck(F.relu, [x])


@pytest.mark.parametrize("slope", [0.01, 0.5, 1.0, 1.5, -0.2, 0.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_leaky_relu_matches_torch(device, slope, dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 300)).astype(dtype)
    x[0, :4] = [0.0, -0.0, np.inf, -np.inf]
    gy = rng.standard_normal(x.shape).astype(dtype)
    gy[1, :2] = [np.inf, -np.inf]  # an infinite gradient passes through where x > 0, scaled where not
    xs, xt = st.tensor(x, device=device, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = F.leaky_relu(xs, slope), torch.nn.functional.leaky_relu(xt, slope)
    y.backward(st.tensor(gy, device=device))
    yt.backward(torch.tensor(gy))
    tight = dict(rtol=1e-15 if dtype == np.float64 else 1e-6, atol=0)
    np.testing.assert_allclose(to_numpy(y), yt.detach().numpy(), **tight)
    np.testing.assert_allclose(to_numpy(xs.grad), xt.grad.numpy(), **tight)


@pytest.mark.parametrize("slope", [0.2, 1.5])
def test_leaky_relu_second_order(device, slope):
    x = st.tensor(np.random.default_rng(3).standard_normal((4, 5)), device=device, requires_grad=True)
    fn = lambda t: F.leaky_relu(t, slope) ** 2  # noqa: E731
    assert st.autograd.gradcheck(fn, [x]) and st.autograd.gradgradcheck(fn, [x])
