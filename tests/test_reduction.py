"""Reductions and the softmax family: NumPy and PyTorch references, float64 gradient checks, every axis variant."""
import numpy as np
import pytest
import torch

import sparktensor as st
from backends import GradientDtype, to_numpy

SHAPE = (2, 3, 4)
AXES = [None, 0, 1, 2, -1, -2, -3, (0, 2), (2, 0), (-1, 1), (0, 1, 2)]


# ----- input domains -----
def anywhere(rng, shape):
    return rng.standard_normal(shape)


def distinct(rng, shape):
    """Values at least 0.15 apart, so max and min have no ties within finite-difference steps."""
    size = int(np.prod(shape))
    return np.asarray((rng.permutation(size).reshape(shape) - size / 2) * 0.15)  # an array even for shape ()


def nonzero(rng, shape):
    return np.asarray(rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape))


# ----- references -----
def _torch_dims(t, axis):
    return tuple(range(t.ndim)) if axis is None else axis


def _torch_prod(t, axis, keepdim):
    """torch.prod takes one dim; reduce the axes one at a time, highest first."""
    dims = _torch_dims(t, axis)
    axes = sorted((a % max(t.ndim, 1) for a in (dims if isinstance(dims, tuple) else (dims,))), reverse=True)
    for a in axes:
        t = t.prod(dim=a, keepdim=True)
    return t if keepdim else t.reshape([n for i, n in enumerate(t.shape) if i not in axes])


def _np_logsumexp(x, axis, keepdims):
    m = np.max(x, axis=axis, keepdims=True)
    y = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return y if keepdims else np.squeeze(y, axis=axis)


# name: (sparktensor fn(x, axis, keepdims), NumPy fn(x, axis, keepdims), PyTorch fn(t, axis, keepdim), domain)
REDUCTIONS = {
    "sum": (st.sum, lambda x, a, k: np.sum(x, axis=a, keepdims=k),
            lambda t, a, k: torch.sum(t, _torch_dims(t, a), keepdim=k), anywhere),
    "mean": (st.mean, lambda x, a, k: np.mean(x, axis=a, keepdims=k),
             lambda t, a, k: torch.mean(t, _torch_dims(t, a), keepdim=k), anywhere),
    "var": (lambda x, a, k: st.var(x, a, keepdims=k), lambda x, a, k: np.var(x, axis=a, keepdims=k),
            lambda t, a, k: torch.var(t, _torch_dims(t, a), correction=0, keepdim=k), anywhere),
    "var_ddof1": (lambda x, a, k: x.var(axis=a, ddof=1, keepdims=k),
                  lambda x, a, k: np.var(x, axis=a, ddof=1, keepdims=k),
                  lambda t, a, k: torch.var(t, _torch_dims(t, a), correction=1, keepdim=k), anywhere),
    "std": (lambda x, a, k: st.std(x, a, keepdims=k), lambda x, a, k: np.std(x, axis=a, keepdims=k),
            lambda t, a, k: torch.std(t, _torch_dims(t, a), correction=0, keepdim=k), anywhere),
    "std_ddof1": (lambda x, a, k: st.std(x, a, ddof=1, keepdims=k),
                  lambda x, a, k: np.std(x, axis=a, ddof=1, keepdims=k),
                  lambda t, a, k: torch.std(t, _torch_dims(t, a), correction=1, keepdim=k), anywhere),
    "max": (lambda x, a, k: st.max(x, axis=a, keepdims=k), lambda x, a, k: np.max(x, axis=a, keepdims=k),
            lambda t, a, k: torch.amax(t, _torch_dims(t, a), keepdim=k), distinct),
    "min": (lambda x, a, k: st.min(x, axis=a, keepdims=k), lambda x, a, k: np.min(x, axis=a, keepdims=k),
            lambda t, a, k: torch.amin(t, _torch_dims(t, a), keepdim=k), distinct),
    "prod": (st.prod, lambda x, a, k: np.prod(x, axis=a, keepdims=k), _torch_prod, nonzero),
    "logsumexp": (st.logsumexp, _np_logsumexp,
                  lambda t, a, k: torch.logsumexp(t, _torch_dims(t, a), keepdim=k), anywhere),
}
DIFFERENTIABLE = list(REDUCTIONS)


def _run_sparktensor(fn, x, upstream_for, device):
    """The value of ``fn(x)`` and the gradient of ``x`` after backward with ``upstream_for(shape)``."""
    t = st.tensor(x, device=device, requires_grad=True)
    out = fn(t)
    upstream = upstream_for(out.shape)
    out.backward(st.tensor(upstream, device=device))
    return to_numpy(out), to_numpy(t.grad), upstream


def _assert_close_to_torch(fn, torch_fn, x, device, rng, rtol=1e-10, atol=1e-12):
    value, grad, upstream = _run_sparktensor(
        fn, x, lambda shape: rng.standard_normal(shape).astype(x.dtype), device)
    t = torch.tensor(x, requires_grad=True)
    expected = torch_fn(t)
    expected.backward(torch.tensor(upstream))
    assert value.shape == tuple(expected.shape) and value.dtype == expected.detach().numpy().dtype
    np.testing.assert_allclose(value, expected.detach().numpy(), rtol=rtol, atol=atol)
    assert grad.dtype == x.dtype
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=rtol, atol=atol)


# ----- every reduction over every axis and keepdims -----
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", REDUCTIONS)
def test_reduction_forward_matches_numpy(device, rng, name, axis, keepdims):
    fn, np_fn, _, domain = REDUCTIONS[name]
    x = domain(rng, SHAPE)
    out = fn(st.tensor(x, device=device), axis, keepdims)
    expected = np.asarray(np_fn(x, axis, keepdims))
    assert out.shape == expected.shape and out.dtype == expected.dtype
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_reduction_gradcheck(device, rng, name, axis, keepdims):
    fn, _, _, domain = REDUCTIONS[name]
    x = st.tensor(domain(rng, SHAPE), dtype=st.float64, device=device, requires_grad=True)
    assert st.autograd.gradcheck(lambda t: fn(t, axis, keepdims), [x])
    assert st.autograd.gradgradcheck(lambda t: fn(t, axis, keepdims), [x])


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_reduction_matches_torch(device, rng, name, axis, keepdims):
    fn, _, torch_fn, domain = REDUCTIONS[name]
    _assert_close_to_torch(lambda t: fn(t, axis, keepdims), lambda t: torch_fn(t, axis, keepdims),
                           domain(rng, SHAPE), device, rng)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_reduction_matches_torch_in_float32(device, rng, name):
    fn, _, torch_fn, domain = REDUCTIONS[name]
    _assert_close_to_torch(lambda t: fn(t, (0, 2), False), lambda t: torch_fn(t, (0, 2), False),
                           domain(rng, SHAPE).astype(np.float32), device, rng, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("axis", [None, 0, -1], ids=str)
@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_reduction_of_a_0d_tensor_matches_torch(device, rng, name, axis):
    if name.endswith("ddof1") or name == "std":
        pytest.skip("one element: no ddof=1 variance, and std has no gradient at 0")
    fn, _, torch_fn, domain = REDUCTIONS[name]
    x = domain(rng, ())
    # PyTorch takes dim 0 or -1 on a 0-d tensor; the dims tuple of the whole tensor is () there
    _assert_close_to_torch(lambda t: fn(t, axis, False), lambda t: torch_fn(t, () if axis is None else axis, False),
                           x, device, rng)


@pytest.mark.parametrize("name", ["sum", "mean", "var", "std", "max", "min", "prod", "logsumexp", "all", "any",
                                  "argmax", "argmin"])
@pytest.mark.parametrize("axis, keepdims", [(1, True), (-1, False), ((0, 2), True)], ids=str)
def test_pytorch_aliases_and_methods_agree(device, rng, name, axis, keepdims):
    if name.startswith("arg") and isinstance(axis, tuple):
        pytest.skip("argmax and argmin take one axis")
    t = st.tensor(distinct(rng, SHAPE), device=device)
    expected = to_numpy(getattr(st, name)(t, axis=axis, keepdims=keepdims))
    by_dim = not (name in ("max", "min") and isinstance(axis, tuple))  # PyTorch's max takes one dim
    outs = [getattr(t, name)(axis=axis, keepdims=keepdims)]
    if by_dim:
        # PyTorch's var and std are unbiased by default: compared with the default in test_two_vocabularies.py
        extra = {"correction": 0} if name in ("var", "std") else {}
        outs += [getattr(st, name)(t, dim=axis, keepdim=keepdims, **extra),
                 getattr(t, name)(dim=axis, keepdim=keepdims, **extra)]
    for out in outs:
        if name in ("max", "min") and isinstance(out, tuple):
            out = out.values  # PyTorch's (values, indices) along one dim: tested in test_two_vocabularies.py
        assert out.shape == expected.shape
        np.testing.assert_array_equal(to_numpy(out), expected)


# ----- dtypes -----
@pytest.mark.parametrize("name", ["sum", "mean", "var", "std", "max", "min", "prod", "logsumexp"])
@pytest.mark.parametrize("dtype", ["float32", "int64", "int32", "bool"])
def test_result_dtype_follows_numpy(device, rng, name, dtype):
    if name == "logsumexp" or (dtype == "bool" and name in ("var", "std")):
        pytest.skip("NumPy has no such reduction to compare with")
    x = rng.integers(0, 3, SHAPE).astype(dtype)
    out = getattr(st, name)(st.tensor(x, device=device), axis=1)
    expected = getattr(np, name)(x, axis=1)
    assert out.dtype == expected.dtype
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-6)


@pytest.mark.parametrize("name", DIFFERENTIABLE + ["softmax", "log_softmax"])
def test_backward_keeps_float32(device, rng, name):
    if name in REDUCTIONS:
        fn, _, _, domain = REDUCTIONS[name]
        op = lambda t: fn(t, (0, 1), False)  # noqa: E731
    else:
        domain, op = anywhere, getattr(st, name)
    x = st.tensor(domain(rng, SHAPE).astype(np.float32), device=device, requires_grad=True)
    GradientDtype.seen.clear()
    out = op(GradientDtype.apply(x))
    assert out.dtype == st.float32
    out.sum().backward()
    assert GradientDtype.seen == [np.dtype("float32")] and x.grad.dtype == st.float32


# ----- ties and zeros -----
def test_max_and_min_share_ties_equally(device):
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [0.0, -1.0, 0.0]])
    _, grad, _ = _run_sparktensor(lambda t: t.max(axis=1), x, np.ones, device)
    np.testing.assert_allclose(grad, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3], [0.5, 0, 0.5]])
    _, grad, _ = _run_sparktensor(lambda t: t.min(axis=1), x, np.ones, device)
    np.testing.assert_allclose(grad, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [0, 1, 0]])
    _, grad, _ = _run_sparktensor(lambda t: t.max(), x, np.ones, device)  # 3.0 appears twice in the whole tensor
    np.testing.assert_allclose(grad, [[0, 0.5, 0.5], [0, 0, 0], [0, 0, 0]])


@pytest.mark.parametrize("axis, keepdims", [(None, False), (0, False), (1, True), ((0, 1), False)], ids=str)
@pytest.mark.parametrize("name", ["max", "min"])
def test_ties_match_torch_amax_amin(device, rng, name, axis, keepdims):
    fn, _, torch_fn, _ = REDUCTIONS[name]
    x = rng.integers(0, 3, (3, 4)).astype(np.float64)  # many ties
    _assert_close_to_torch(lambda t: fn(t, axis, keepdims), lambda t: torch_fn(t, axis, keepdims), x, device, rng)


@pytest.mark.parametrize("axis", [None, 0, 1, -1], ids=str)
def test_prod_gradient_is_exact_with_zeros(device, rng, axis):
    x = np.array([[2.0, 0.0, 3.0, 0.5],     # one zero
                  [0.0, 4.0, 0.0, -1.0],    # two zeros
                  [1.5, 2.0, -3.0, 0.5],    # none
                  [0.0, 0.0, 0.0, 0.0]])
    _assert_close_to_torch(lambda t: st.prod(t, axis), lambda t: _torch_prod(t, axis, False), x, device, rng,
                           rtol=0, atol=1e-14)


def test_prod_and_sum_over_an_empty_axis(device):
    for name, identity in [("prod", 1.0), ("sum", 0.0)]:
        x = st.zeros(0, 3, device=device, requires_grad=True)
        out = getattr(st, name)(x, axis=0)
        np.testing.assert_array_equal(to_numpy(out), np.full(3, identity, np.float32))
        out.sum().backward()
        assert x.grad.shape == (0, 3)
        x = st.zeros(0, 3, device=device, requires_grad=True)
        getattr(st, name)(x, axis=1).sum().backward()
        assert x.grad.shape == (0, 3)


# ----- argmax, argmin, all, any -----
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1, -3], ids=str)
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin_match_numpy(device, rng, name, axis, keepdims):
    x = rng.integers(0, 4, SHAPE).astype(np.float64)  # ties: the first index wins, as NumPy
    t = st.tensor(x, device=device, requires_grad=True)
    out = getattr(st, name)(t, axis, keepdims)
    expected = getattr(np, name)(x, axis=axis, keepdims=keepdims)
    assert out.dtype == st.int64 and not out.requires_grad
    assert out.shape == expected.shape
    np.testing.assert_array_equal(to_numpy(out), expected)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2), (1, -3)], ids=str)
@pytest.mark.parametrize("name", ["all", "any"])
@pytest.mark.parametrize("dtype", ["bool", "float64"])
def test_all_any_match_numpy(device, rng, name, axis, keepdims, dtype):
    x = (rng.random(SHAPE) < 0.7).astype(dtype) * (1.5 if dtype != "bool" else True)
    t = st.tensor(x, device=device, requires_grad=dtype != "bool")
    out = getattr(st, name)(t, axis, keepdims)
    expected = getattr(np, name)(x, axis=axis, keepdims=keepdims)
    assert out.dtype == st.bool and not out.requires_grad
    assert out.shape == expected.shape
    np.testing.assert_array_equal(to_numpy(out), expected)


# ----- softmax family -----
def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


SOFTMAX = {
    "softmax": (st.softmax, _np_softmax, torch.softmax),
    "log_softmax": (st.log_softmax, lambda x, a: np.log(_np_softmax(x, a)), torch.log_softmax),
}


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2])
@pytest.mark.parametrize("name", SOFTMAX)
def test_softmax_family(device, rng, name, axis):
    fn, np_fn, torch_fn = SOFTMAX[name]
    x = rng.standard_normal(SHAPE)
    out = fn(st.tensor(x, device=device), axis)
    assert out.shape == SHAPE
    np.testing.assert_allclose(to_numpy(out), np_fn(x, axis), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(to_numpy(fn(st.tensor(x, device=device), dim=axis)), to_numpy(out))
    t = st.tensor(x, device=device, requires_grad=True)
    assert st.autograd.gradcheck(lambda v: fn(v, axis), [t])
    assert st.autograd.gradgradcheck(lambda v: fn(v, axis), [t])
    _assert_close_to_torch(lambda v: fn(v, axis), lambda v: torch_fn(v, axis), x, device, rng)


@pytest.mark.parametrize("name", SOFTMAX)
def test_softmax_family_matches_torch_in_float32(device, rng, name):
    fn, _, torch_fn = SOFTMAX[name]
    _assert_close_to_torch(lambda v: fn(v, 1), lambda v: torch_fn(v, 1), rng.standard_normal(SHAPE).astype(np.float32),
                           device, rng, rtol=1e-5, atol=1e-6)


def test_softmax_rows_sum_to_one(device, rng):
    out = st.softmax(st.tensor(rng.standard_normal((5, 7)) * 10, device=device), axis=-1)
    np.testing.assert_allclose(to_numpy(out.sum(axis=-1)), np.ones(5), rtol=1e-6)


HUGE = np.array([[1000.0, 1000.0, -1000.0],
                 [-1000.0, -999.0, -1000.0],
                 [1e30, 0.0, -1e30]])


@pytest.mark.parametrize("case", [
    ("softmax", lambda t: st.softmax(t, -1), lambda t: torch.softmax(t, -1)),
    ("log_softmax", lambda t: st.log_softmax(t, 0), lambda t: torch.log_softmax(t, 0)),
    ("logsumexp", lambda t: st.logsumexp(t, axis=1), lambda t: torch.logsumexp(t, 1)),
    ("logsumexp_all", lambda t: st.logsumexp(t), lambda t: torch.logsumexp(t, (0, 1))),
], ids=lambda c: c[0])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softmax_family_is_stable_for_huge_inputs(device, rng, case, dtype):
    _, fn, torch_fn = case
    x = HUGE.astype(dtype)
    with np.errstate(over="raise", invalid="raise"):
        value, grad, _ = _run_sparktensor(fn, x, np.ones, device)
    assert np.isfinite(value).all() and np.isfinite(grad).all()
    _assert_close_to_torch(fn, torch_fn, x, device, rng, rtol=1e-6, atol=1e-6)


def test_logsumexp_of_minus_infinity(device):
    x = np.array([[-np.inf, -np.inf], [0.0, -np.inf]])
    out = st.logsumexp(st.tensor(x, device=device), axis=1)
    np.testing.assert_array_equal(to_numpy(out), torch.logsumexp(torch.tensor(x), 1).numpy())


def test_logsumexp_keepdims_matches_torch(device, rng):
    x = rng.standard_normal(SHAPE) * 100
    _assert_close_to_torch(lambda t: st.logsumexp(t, (0, 2), keepdims=True),
                           lambda t: torch.logsumexp(t, (0, 2), keepdim=True), x, device, rng)


# ----- errors -----
@pytest.mark.parametrize("axis", [3, -4, (0, 3)], ids=str)
@pytest.mark.parametrize("name", ["sum", "mean", "var", "std", "max", "min", "prod", "logsumexp", "all", "any",
                                  "argmax", "argmin", "softmax", "log_softmax"])
def test_axis_out_of_range_names_the_axis(device, name, axis):
    if name in ("argmax", "argmin", "softmax", "log_softmax") and isinstance(axis, tuple):
        pytest.skip("one axis only")
    t = st.ones(SHAPE, device=device)
    bad = axis[1] if isinstance(axis, tuple) else axis
    with pytest.raises((IndexError, ValueError), match=rf"axis {bad}\b"):
        getattr(st, name)(t, axis=axis)


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "argmax", "argmin"])
def test_single_axis_ops_reject_axis_tuples(device, name):
    with pytest.raises(TypeError, match=rf"{name}.*one axis"):
        getattr(st, name)(st.ones(SHAPE, device=device), (0, 1))


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_of_an_empty_axis_is_an_error(device, name):
    with pytest.raises(ValueError, match=rf"{name} of an empty axis.*\(0, 3\)"):
        getattr(st, name)(st.zeros(0, 3, device=device), axis=0)


def test_duplicate_axes_are_an_error(device):
    with pytest.raises(ValueError, match="duplicate"):
        st.sum(st.ones(SHAPE, device=device), axis=(0, -3))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("reduce, torch_reduce", [(st.amax, torch.amax), (st.amin, torch.amin)])
def test_an_extremum_changed_in_place_keeps_its_gradient(device, keepdims, reduce, torch_reduce):
    """Changing the result in place (as SciPy's log_softmax does to its max) changes neither the gradient of the
    extremum nor whether it can be computed; PyTorch gives the gradient of the same computation done out of place."""
    x = np.array([[1.0, 5.0, 3.0], [2.0, 0.0, 4.0], [7.0, 7.0, -1.0]])
    w = st.tensor(x, device=device, requires_grad=True)
    y = reduce(w, 1, keepdims)
    y += 1.0
    y[0] = 9.0
    (y * st.tensor(np.arange(1.0, 4.0).reshape(y.shape), device=device)).sum().backward()
    tw = torch.tensor(x, requires_grad=True)
    ty = torch_reduce(tw, 1, keepdims) + 1.0
    ty = torch.cat([torch.full_like(ty[:1], 9.0), ty[1:]])
    (ty * torch.arange(1.0, 4.0, dtype=torch.float64).reshape(ty.shape)).sum().backward()
    np.testing.assert_array_equal(to_numpy(w.grad), tw.grad.numpy())
