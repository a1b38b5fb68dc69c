"""The backward engine, grad modes, the functional API, custom Functions and gradcheck."""
import sys

import numpy as np
import pytest
import torch

import sparktensor as st
from backends import to_numpy


def test_gradients_accumulate_across_backward_calls(device):
    x = st.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    (x * x).sum().backward()
    (3 * x).sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), 2 * to_numpy(x) + 3)


def test_shared_subexpression_sums_both_paths(device):
    x = st.tensor([0.5, -1.5], dtype=st.float64, device=device, requires_grad=True)
    h = st.tanh(x)
    y = (h * h + h.exp()).sum()
    y.backward()
    xt = torch.tensor([0.5, -1.5], dtype=torch.float64, requires_grad=True)
    ht = torch.tanh(xt)
    (ht * ht + ht.exp()).sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), xt.grad.numpy(), rtol=1e-12)


def test_non_scalar_backward_takes_a_gradient(device):
    x = st.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * 3
    with pytest.raises(RuntimeError, match=r"one element.*shape \(2,\)"):
        y.backward()
    y.backward(st.tensor([1.0, 10.0], device=device))
    np.testing.assert_allclose(to_numpy(x.grad), [3.0, 30.0])


def test_backward_gradient_of_wrong_shape_is_refused(device):
    y = st.ones(2, 3, device=device, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"\(3,\).*\(2, 3\)"):
        y.backward(st.ones(3, device=device))


def test_requires_grad_on_integer_tensor_is_refused(device):
    with pytest.raises(RuntimeError, match="floating-point.*int64"):
        st.tensor([1, 2, 3], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="floating-point"):
        st.arange(3, device=device).requires_grad_()


def test_backward_on_tensor_without_graph_is_refused(device):
    with pytest.raises(RuntimeError, match="does not require grad"):
        st.ones(1, device=device).sum().backward()


def test_long_chain_backpropagates_without_recursion_error(device):
    x = st.tensor(1.0, dtype=st.float64, device=device, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0000001
    assert sys.getrecursionlimit() < 100_000
    y.backward()
    np.testing.assert_allclose(to_numpy(x.grad), 1.0000001 ** 100_000, rtol=1e-9)


def test_recurrent_loop_of_5000_steps(device):
    st.manual_seed(0)
    w = (st.randn(8, 8, dtype=st.float64, device=device) * 0.1).requires_grad_()
    h = st.zeros(1, 8, dtype=st.float64, device=device)
    xs = st.randn(5000, 1, 8, dtype=st.float64, device=device)
    for t in range(5000):
        h = st.tanh(h @ w + xs[t])
    h.sum().backward()
    wt = torch.tensor(to_numpy(w), requires_grad=True)
    ht = torch.zeros(1, 8, dtype=torch.float64)
    xt = torch.tensor(to_numpy(xs))
    for t in range(5000):
        ht = torch.tanh(ht @ wt + xt[t])
    ht.sum().backward()
    np.testing.assert_allclose(to_numpy(w.grad), wt.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_graph_is_freed_after_backward(device):
    x = st.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward(device):
    x = st.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = to_numpy(x.grad).copy()
    y.backward()
    np.testing.assert_allclose(to_numpy(x.grad), 2 * first, rtol=1e-6)


def test_inplace_change_of_saved_input_is_detected(device):
    w = st.tensor([1.0, 2.0], device=device, requires_grad=True)
    x = st.tensor([3.0, 4.0], device=device)
    y = (w * x).sum()
    x[0] = 100.0
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_inplace_change_through_a_view_is_detected(device):
    w = st.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    x = st.tensor([3.0, 4.0, 5.0], device=device)
    y = (w * x).sum()
    view = x[1:]
    view += 1
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_inplace_change_of_saved_output_is_detected(device):
    x = st.tensor([0.0, 1.0], device=device, requires_grad=True)
    y = x.exp()
    with st.no_grad():
        y *= 2
    with pytest.raises(RuntimeError, match="modified in place"):
        y.sum().backward()


def test_inplace_change_of_unsaved_input_is_harmless(device):
    w = st.tensor([1.0, 2.0], device=device, requires_grad=True)
    x = st.tensor([3.0, 4.0], device=device)
    y = (w + x).sum()
    x[0] = 100.0
    y.backward()
    np.testing.assert_allclose(to_numpy(w.grad), [1.0, 1.0])


def test_inplace_ops_on_tensors_requiring_grad_need_no_grad(device):
    w = st.ones(3, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place.*no_grad"):
        w += 1
    with pytest.raises(RuntimeError, match=r"item assignment into a leaf.*st\.where.*clone"):
        w[0] = 5.0
    with st.no_grad():
        w -= 0.5
        w[0] = 5.0
    np.testing.assert_allclose(to_numpy(w), [5.0, 0.5, 0.5])
    assert w.requires_grad and w.is_leaf


def test_no_grad_and_enable_grad(device):
    x = st.ones(2, device=device, requires_grad=True)
    with st.no_grad():
        y = x * 2
        assert not st.is_grad_enabled()
        with st.enable_grad():
            z = x * 2
    assert st.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None

    @st.no_grad()
    def doubled(t):
        return t * 2
    assert not doubled(x).requires_grad


def test_detach_shares_data_but_not_graph(device):
    x = st.ones(3, device=device, requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.is_leaf
    d[0] = 7.0
    assert to_numpy(y)[0] == 7.0


def test_functional_grad_leaves_dot_grad_alone(device):
    x = st.tensor([1.0, 2.0, 3.0], dtype=st.float64, device=device, requires_grad=True)
    w = st.tensor([0.5, 0.5, 0.5], dtype=st.float64, device=device, requires_grad=True)
    h = x * w
    y = (h ** 3).sum()
    gx, gh = st.autograd.grad(y, [x, h], retain_graph=True)
    np.testing.assert_allclose(to_numpy(gh), 3 * to_numpy(h) ** 2)
    np.testing.assert_allclose(to_numpy(gx), 3 * to_numpy(h) ** 2 * to_numpy(w))
    assert x.grad is None and w.grad is None
    gw, = st.autograd.grad(y, w, grad_outputs=st.tensor(2.0, dtype=st.float64, device=device))
    np.testing.assert_allclose(to_numpy(gw), 6 * to_numpy(h) ** 2 * to_numpy(x))


def test_functional_grad_unused_input(device):
    x = st.ones(2, device=device, requires_grad=True)
    unused = st.ones(2, device=device, requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="not used"):
        st.autograd.grad(y, [x, unused], retain_graph=True)
    gx, gu = st.autograd.grad(y, [x, unused], allow_unused=True)
    assert gu is None
    np.testing.assert_allclose(to_numpy(gx), [2.0, 2.0])


def test_leaf_gradient_is_an_independent_copy(device):
    x = st.ones(2, device=device, requires_grad=True)
    y = st.ones(2, device=device, requires_grad=True)
    (x + y).sum().backward()
    with st.no_grad():
        x.grad += 1
    np.testing.assert_allclose(to_numpy(y.grad), [1.0, 1.0])


class Cube(st.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return 3 * x ** 2 * gy


class ScaledAdd(st.autograd.Function):
    """Two tensor arguments and one plain number: backward returns None for the number."""

    @staticmethod
    def forward(ctx, x, y, alpha):
        ctx.alpha = alpha
        return x + alpha * y

    @staticmethod
    def backward(ctx, gz):
        return gz, ctx.alpha * gz, None


def test_custom_function(device):
    x = st.tensor([1.0, -2.0], dtype=st.float64, device=device, requires_grad=True)
    y = st.tensor([0.5, 4.0], dtype=st.float64, device=device, requires_grad=True)
    z = ScaledAdd.apply(Cube.apply(x), y, 2.5)
    assert z.grad_fn.name() == "ScaledAdd"
    z.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), 3 * to_numpy(x) ** 2)
    np.testing.assert_allclose(to_numpy(y.grad), [2.5, 2.5])
    assert st.autograd.gradcheck(lambda a, b: ScaledAdd.apply(Cube.apply(a), b, 2.5), [x, y])


def test_custom_function_returning_too_few_gradients_is_reported(device):
    class Broken(st.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, gz):
            return gz

    x = st.ones(2, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="returned 1 gradient.*expected 2"):
        Broken.apply(x, x).sum().backward()


def test_gradcheck_catches_a_wrong_gradient(device):
    class WrongSin(st.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return st.get_array_module(x).sin(x)

        @staticmethod
        def backward(ctx, gy):
            x, = ctx.saved_tensors
            return gy * st.get_array_module(x).cos(x) * 1.001

    x = st.randn(3, 4, dtype=st.float64, device=device, requires_grad=True)
    with pytest.raises(st.autograd.GradcheckError, match="central differences"):
        st.autograd.gradcheck(WrongSin.apply, [x])


def test_gradcheck_needs_float64(device):
    x = st.randn(3, device=device, requires_grad=True)
    with pytest.raises(ValueError, match="float64"):
        st.autograd.gradcheck(st.sin, [x])


def test_multi_output_op_with_one_output_unused(device):
    x = st.arange(6.0, device=device).requires_grad_()
    a, b, c = x.split(3, axis=0)
    (b * 2).sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), [0, 0, 2, 2, 0, 0])


def test_gradient_dtype_matches_input_under_promotion(device):
    x = st.ones(3, dtype=st.float32, device=device, requires_grad=True)
    y = st.ones(3, dtype=st.float64, device=device, requires_grad=True)
    z = (x * y).sum()
    assert z.dtype == st.float64
    z.backward()
    assert x.grad.dtype == st.float32 and y.grad.dtype == st.float64
