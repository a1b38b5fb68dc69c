"""Checks of a differentiable op on the backend under test: values and gradients against PyTorch (and NumPy),
then float64 gradcheck and gradgradcheck (``check_differentiable``), or values and first gradients only
(``assert_matches_torch``); also the input domains where the elementwise ops are smooth, and NumPy functions
spelled with PyTorch as references."""
import numpy as np
import torch

import sparktensor as st
from backends import to_numpy


# ----- input domains: where each op is smooth, away from kinks, poles, branch cuts and ties -----
def anywhere(rng, shape):
    return np.asarray(rng.standard_normal(shape))


def inside_unit(rng, shape):
    return np.asarray(rng.uniform(-0.9, 0.9, shape))


def near_zero(rng, shape):
    return np.asarray(rng.uniform(-1.2, 1.2, shape))


def positive(rng, shape):
    return np.asarray(rng.uniform(0.5, 2.0, shape))


def above_one(rng, shape):
    return np.asarray(rng.uniform(1.2, 3.0, shape))


def nonzero(rng, shape):
    return np.asarray(rng.uniform(0.3, 2.0, shape) * rng.choice([-1.0, 1.0], shape))


def off_integers(rng, shape):
    """Values at least 0.1 away from every integer, where rounding is locally constant."""
    return np.asarray(rng.integers(-3, 3, shape) + rng.uniform(0.1, 0.9, shape))


def off_the_clip_bounds(rng, shape):
    """Values at least 0.1 away from -0.5 and 0.5, the bounds the clip cases use."""
    return np.asarray(rng.choice([-1.0, 1.0], shape) * rng.choice([0.2, 0.8], shape) + rng.uniform(-0.15, 0.15, shape))


def off_the_axes(rng, shape):
    """Complex values whose parts lie 0.2 to 1 from zero: away from every branch cut and from 0."""
    def part():
        return rng.uniform(0.2, 1.0, shape) * rng.choice([-1.0, 1.0], shape)
    return np.asarray(part() + 1j * part())


# ----- NumPy's functions spelled with PyTorch, as references -----
def torch_repeat(t, repeats, axis=None):
    """``np.repeat`` spelled with ``torch.repeat_interleave``."""
    if axis is None:
        t, axis = t.reshape(-1), 0
    if not isinstance(repeats, int):
        repeats = torch.tensor(np.broadcast_to(repeats, (t.shape[axis],)).copy())
    return torch.repeat_interleave(t, repeats, dim=axis)



# ----- the check -----
def _as_tuple(y):
    return tuple(y) if isinstance(y, (tuple, list)) else (y,)


def check_differentiable(device, fn, torch_fn, arrays, np_fn=None, second_order=True, seed=0):
    """``fn`` on float64 tensors made from ``arrays`` against ``torch_fn`` on torch tensors (values, dtypes,
    gradients for a random cotangent) and ``np_fn`` on the arrays (values); gradcheck and gradgradcheck."""
    rng = np.random.default_rng(seed)
    xs = [st.tensor(a, device=device, requires_grad=True) for a in arrays]
    ys = _as_tuple(fn(*xs))
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    tys = _as_tuple(torch_fn(*ts))
    assert len(ys) == len(tys)
    for y, t in zip(ys, tys):
        assert y.shape == tuple(t.shape) and y.dtype == np.float64 and y.device == xs[0].device
        np.testing.assert_allclose(to_numpy(y), t.detach().numpy(), rtol=1e-12, atol=1e-12)
    if np_fn is not None:
        for y, e in zip(ys, _as_tuple(np_fn(*arrays))):
            np.testing.assert_allclose(to_numpy(y), e, rtol=1e-12, atol=1e-12)
    cotangents = [rng.standard_normal(y.shape) for y in ys]
    grads = st.autograd.grad(list(ys), xs, [st.tensor(u, device=device) for u in cotangents], allow_unused=True)
    torch_grads = torch.autograd.grad(tys, ts, [torch.tensor(u) for u in cotangents], allow_unused=True)
    for x, g, tg in zip(xs, grads, torch_grads):
        expected = np.zeros(x.shape) if tg is None else tg.numpy()
        got = np.zeros(x.shape) if g is None else to_numpy(g)
        assert got.shape == x.shape
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    fresh = [st.tensor(a, device=device, requires_grad=True) for a in arrays]
    assert st.autograd.gradcheck(fn, fresh)
    if second_order:
        assert st.autograd.gradgradcheck(fn, fresh)


def assert_matches_torch(fn, torch_fn, arrays, upstream, device, rtol=1e-10, atol=1e-12):
    """``fn``'s value and every input's gradient after backward with ``upstream`` against ``torch_fn``'s: values,
    dtypes and shapes."""
    inputs = [st.tensor(a, device=device, requires_grad=True) for a in arrays]
    out = fn(*inputs)
    out.backward(st.tensor(upstream, device=device))
    references = [torch.tensor(a, requires_grad=True) for a in arrays]
    expected = torch_fn(*references)
    expected.backward(torch.tensor(upstream))
    value, expected_value = to_numpy(out), expected.detach().numpy()
    assert value.dtype == expected_value.dtype
    np.testing.assert_allclose(value, expected_value, rtol=rtol, atol=atol)
    for a, x, reference in zip(arrays, inputs, references):
        grad, expected_grad = to_numpy(x.grad), reference.grad.numpy()
        assert grad.shape == np.shape(a) and grad.dtype == expected_grad.dtype
        np.testing.assert_allclose(grad, expected_grad, rtol=rtol, atol=atol)
