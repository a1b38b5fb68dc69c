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
