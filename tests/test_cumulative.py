"""cumulative_sum, cumulative_prod (and cumprod) and diff: values and dtypes against NumPy, gradients against
torch.cumsum / torch.cumprod / torch.diff (zeros in the input included), gradcheck and gradgradcheck."""
import numpy as np
import pytest
import torch

import sparktensor as st
from backends import BACKENDS, to_numpy
from differentiable_checks import check_differentiable

pytestmark = pytest.mark.parametrize("device", BACKENDS)


def _array(shape, zeros=(), seed=0):
    a = np.random.default_rng(seed).standard_normal(shape)
    for index in zeros:
        a[index] = 0.0
    return a


def _with_initial(t, axis, value):
    """``torch.cat`` of one slice of ``value`` before ``t`` along ``axis``."""
    shape = list(t.shape)
    shape[axis] = 1
    return torch.cat([torch.full(shape, float(value), dtype=t.dtype), t], dim=axis)


SUMS = [
    ("1-d", (5,), None, False),
    ("axis 0", (3, 4), 0, False),
    ("negative axis, initial", (2, 3, 4), -1, True),
    ("axis 1, initial", (3, 2), 1, True),
    ("empty axis, initial", (2, 0), 1, True),
]


@pytest.mark.parametrize("shape, axis, initial", [c[1:] for c in SUMS], ids=[c[0] for c in SUMS])
def test_cumulative_sum(device, shape, axis, initial):
    dim = 0 if axis is None else axis
    torch_fn = (lambda t: _with_initial(torch.cumsum(t, dim), dim, 0)) if initial else (
        lambda t: torch.cumsum(t, dim))
    check_differentiable(device, lambda x: st.cumulative_sum(x, axis=axis, include_initial=initial), torch_fn,
                         [_array(shape)], np_fn=lambda a: np.cumulative_sum(a, axis=axis, include_initial=initial))


PRODUCTS = [
    ("no zeros", (3, 4), 1, (), False),
    ("zeros, one per slice or more", (3, 5), 1, ((0, 1), (1, 2), (1, 4), (2, 0), (2, 3)), False),
    ("zero first and last", (4, 2), 0, ((0, 0), (3, 1)), False),
    ("3-d with zeros, initial", (2, 4, 3), -2, ((0, 1, 1), (1, 0, 2), (1, 2, 2)), True),
    ("1-d, initial", (4,), None, ((2,),), True),
    ("length one", (3, 1), 1, ((1, 0),), False),
]


@pytest.mark.parametrize("shape, axis, zeros, initial", [c[1:] for c in PRODUCTS], ids=[c[0] for c in PRODUCTS])
def test_cumulative_prod_matches_torch_at_zeros_too(device, shape, axis, zeros, initial):
    dim = 0 if axis is None else axis
    torch_fn = (lambda t: _with_initial(torch.cumprod(t, dim), dim, 1)) if initial else (
        lambda t: torch.cumprod(t, dim))
    check_differentiable(device, lambda x: st.cumulative_prod(x, axis=axis, include_initial=initial), torch_fn,
                         [_array(shape, zeros)],
                         np_fn=lambda a: np.cumulative_prod(a, axis=axis, include_initial=initial))


def test_cumprod_second_derivative_at_zeros_matches_torch(device):
    a = _array((2, 5), zeros=((0, 1), (0, 3), (1, 0)), seed=3)
    u = np.random.default_rng(4).standard_normal(a.shape)
    x = st.tensor(a, device=device, requires_grad=True)
    (g,) = st.autograd.grad(st.cumulative_prod(x, axis=1), x, st.tensor(u, device=device), create_graph=True)
    (h,) = st.autograd.grad((g * g).sum(), x)
    t = torch.tensor(a, requires_grad=True)
    (tg,) = torch.autograd.grad(torch.cumprod(t, 1), t, torch.tensor(u), create_graph=True)
    (th,) = torch.autograd.grad((tg * tg).sum(), t)
    np.testing.assert_allclose(to_numpy(g), tg.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_numpy(h), th.numpy(), rtol=1e-10, atol=1e-12)


def test_complex_cumprod_gradient_follows_torch(device):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((2, 4)) + 1j * rng.standard_normal((2, 4))
    a[0, 2] = 0
    u = rng.standard_normal(a.shape) + 1j * rng.standard_normal(a.shape)
    x = st.tensor(a, device=device, requires_grad=True)
    st.cumulative_prod(x, axis=1).backward(st.tensor(u, device=device))
    t = torch.tensor(a, requires_grad=True)
    torch.cumprod(t, 1).backward(torch.tensor(u))
    np.testing.assert_allclose(to_numpy(x.grad), t.grad.numpy(), rtol=1e-12, atol=1e-12)
    fresh = st.tensor(a, device=device, requires_grad=True)
    assert st.autograd.gradcheck(lambda v: st.cumulative_prod(v, axis=1), [fresh])
    assert st.autograd.gradgradcheck(lambda v: st.cumulative_prod(v, axis=1), [fresh])


@pytest.mark.parametrize("dtype, expected", [(np.int8, np.int64), (np.uint16, np.uint64), (np.bool_, np.int64),
                                             (np.int32, np.int64), (np.float32, np.float32)])
def test_accumulation_dtype_follows_numpy(device, dtype, expected):
    a = np.array([[1, 0, 1], [1, 1, 0]]).astype(dtype)
    x = st.tensor(a, device=device)
    for ours, numpy_fn in [(st.cumulative_sum, np.cumulative_sum), (st.cumulative_prod, np.cumulative_prod)]:
        got = ours(x, axis=1)
        assert got.dtype == expected == numpy_fn(a, axis=1).dtype
        np.testing.assert_array_equal(to_numpy(got), numpy_fn(a, axis=1))
    assert st.cumulative_sum(x, axis=0, dtype=st.float64).dtype == np.float64


def test_cumprod_has_numpy_and_torch_forms(device):
    a = _array((2, 3))
    x = st.tensor(a, device=device)
    np.testing.assert_allclose(to_numpy(st.cumprod(x)), np.cumprod(a), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(st.cumprod(x, dim=1)), np.cumprod(a, axis=1), rtol=1e-12)


DIFFS = [
    ("first", (5,), {}, lambda t: torch.diff(t)),
    ("second along axis 0", (4, 3), {"n": 2, "axis": 0}, lambda t: torch.diff(t, n=2, dim=0)),
    ("n past the length", (3, 2), {"n": 4, "axis": 0}, lambda t: torch.diff(t, n=4, dim=0)),
    ("n = 0", (3, 2), {"n": 0}, lambda t: t * 1),
]


@pytest.mark.parametrize("shape, kwargs, torch_fn", [c[1:] for c in DIFFS], ids=[c[0] for c in DIFFS])
def test_diff(device, shape, kwargs, torch_fn):
    check_differentiable(device, lambda x: st.diff(x, **kwargs), torch_fn, [_array(shape)],
                         np_fn=lambda a: np.diff(a, **kwargs))


def test_diff_gradients_reach_prepend_and_append(device):
    a, before, after = _array((2, 3)), _array((2, 1), seed=1), _array((2, 2), seed=2)
    check_differentiable(device, lambda x, p, q: st.diff(x, n=2, prepend=p, append=q),
                         lambda x, p, q: torch.diff(x, n=2, prepend=p, append=q), [a, before, after],
                         np_fn=lambda x, p, q: np.diff(x, n=2, prepend=p, append=q))
    x = st.tensor(a, device=device)
    np.testing.assert_allclose(to_numpy(st.diff(x, axis=0, prepend=1.5, append=0)),
                               np.diff(a, axis=0, prepend=1.5, append=0), rtol=1e-12)


def test_errors_name_the_axis_and_shape(device):
    x = st.zeros((2, 3), device=device)
    with pytest.raises(ValueError, match=r"shape \(2, 3\) needs an axis"):
        st.cumulative_sum(x)
    with pytest.raises(IndexError, match=r"axis 2 is out of range for a tensor of shape \(2, 3\)"):
        st.cumulative_prod(x, axis=2)
    with pytest.raises(ValueError, match="n must be a non-negative int"):
        st.diff(x, n=-1)
    with pytest.raises(ValueError, match=r"prepend of shape \(3, 1\) does not match the tensor's \(2, 3\) off axis 1"):
        st.diff(x, prepend=st.zeros((3, 1), device=device))
    with pytest.raises(ValueError, match="0-d"):
        st.diff(st.tensor(1.0, device=device))


def test_a_0d_tensor_runs_as_one_element(device):
    x = st.tensor(2.5, device=device, requires_grad=True)
    for ours, numpy_fn in [(st.cumulative_sum, np.cumulative_sum), (st.cumulative_prod, np.cumulative_prod)]:
        got = ours(x, include_initial=True)
        np.testing.assert_array_equal(to_numpy(got), numpy_fn(np.float64(2.5), include_initial=True))
        got.sum().backward()
        assert x.grad.shape == () and float(x.grad) == 1.0  # d(0 + x)/dx and d(1 * x)/dx
        x.grad = None


@pytest.mark.parametrize("name", ["cumulative_sum", "cumulative_prod"])
def test_cumulative_functions_give_the_dtype_asked_for_as_numpy(device, name):
    a = np.array([200, 100, 7], np.uint8)
    for dtype in (None, np.uint8, np.int16, np.float32):
        got, expected = getattr(st, name)(st.tensor(a, device=device), dtype=dtype), getattr(np, name)(a, dtype=dtype)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(to_numpy(got), expected)
