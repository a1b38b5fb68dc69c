"""Second derivatives of the elementwise functions (``create_graph=True``): ``gradgradcheck`` in float64 and
complex128, and gradients of gradients against PyTorch's."""
import numpy as np
import pytest
import torch

import sparktensor as st
from backends import to_numpy
from differentiable_checks import (above_one, anywhere, inside_unit, nonzero, off_the_axes, off_the_clip_bounds,
                                   positive)


# name: (sparktensor function, PyTorch function, real domain, whether complex inputs are defined)
UNARY = {
    "exp": (st.exp, torch.exp, anywhere, True),
    "log": (st.log, torch.log, positive, True),
    "log1p": (st.log1p, torch.log1p, positive, True),
    "expm1": (st.expm1, torch.expm1, anywhere, True),
    "sqrt": (st.sqrt, torch.sqrt, positive, True),
    "sin": (st.sin, torch.sin, anywhere, True),
    "cos": (st.cos, torch.cos, anywhere, True),
    "tan": (st.tan, torch.tan, inside_unit, True),
    "tanh": (st.tanh, torch.tanh, anywhere, True),
    "sinh": (st.sinh, torch.sinh, anywhere, True),
    "cosh": (st.cosh, torch.cosh, anywhere, True),
    "sigmoid": (st.sigmoid, torch.sigmoid, anywhere, True),
    "relu": (st.relu, torch.relu, nonzero, False),
    "asin": (st.asin, torch.asin, inside_unit, True),
    "acos": (st.acos, torch.acos, inside_unit, True),
    "atan": (st.atan, torch.atan, anywhere, True),
    "asinh": (st.asinh, torch.asinh, anywhere, True),
    "acosh": (st.acosh, torch.acosh, above_one, True),
    "atanh": (st.atanh, torch.atanh, inside_unit, True),
    "log2": (st.log2, torch.log2, positive, True),
    "log10": (st.log10, torch.log10, positive, True),
    "reciprocal": (st.reciprocal, torch.reciprocal, nonzero, True),
    "square": (st.square, torch.square, anywhere, True),
    "positive": (st.positive, torch.positive, anywhere, True),
    "neg": (st.neg, torch.neg, anywhere, True),
    "abs": (st.abs, torch.abs, nonzero, True),
    "sign_of_complex": (st.sign, torch.sgn, None, True),
    "conj": (st.conj, torch.conj, anywhere, True),
    "real": (st.real, torch.real, anywhere, True),
    "imag": (st.imag, torch.imag, None, True),
    "angle": (st.angle, torch.angle, None, True),
    "clip": (lambda x: st.clip(x, -0.5, 0.5), lambda x: torch.clamp(x, -0.5, 0.5), off_the_clip_bounds, False),
    "pow_scalar": (lambda x: x ** 3, lambda x: x ** 3, anywhere, True),
    "pow_fraction": (lambda x: x ** 1.5, lambda x: x ** 1.5, positive, True),
    "rpow": (lambda x: 2.0 ** x, lambda x: 2.0 ** x, anywhere, True),
    "where": (lambda x: st.where(x > 0, x * x, -x), lambda x: torch.where(x > 0, x * x, -x), nonzero, False),
}
# name: (sparktensor function, PyTorch function, domain of x1, domain of x2, whether complex inputs are defined)
BINARY = {
    "add": (st.add, torch.add, anywhere, anywhere, True),
    "sub": (st.sub, torch.sub, anywhere, anywhere, True),
    "mul": (st.mul, torch.mul, anywhere, anywhere, True),
    "div": (st.div, torch.div, anywhere, nonzero, True),
    "pow": (st.pow, torch.pow, positive, anywhere, True),
    "maximum": (st.maximum, torch.maximum, anywhere, anywhere, False),
    "minimum": (st.minimum, torch.minimum, anywhere, anywhere, False),
    "remainder": (st.remainder, torch.remainder, anywhere, nonzero, False),
    "atan2": (st.atan2, torch.atan2, nonzero, nonzero, False),
    "hypot": (st.hypot, torch.hypot, nonzero, nonzero, False),
    "logaddexp": (st.logaddexp, torch.logaddexp, anywhere, anywhere, False),
    "copysign": (st.copysign, torch.copysign, nonzero, nonzero, False),
    "nextafter": (st.nextafter, torch.nextafter, anywhere, anywhere, False),
    "clip_tensor_bounds": (lambda x, low: st.clip(x, low, low + 1.0), lambda x, low: torch.clamp(x, low, low + 1.0),
                           anywhere, anywhere, False),
}
ZERO_GRADIENT = {"floor": st.floor, "ceil": st.ceil, "trunc": st.trunc, "round": st.round, "sign": st.sign,
                 "floor_divide": lambda x: st.floor_divide(x, 0.7)}


def _leaf(values, device):
    return st.tensor(values, device=device, requires_grad=True)


# a 0-d input too: NumPy gives a 0-d result as a scalar, which the ops keep as an array so the graph finds it
@pytest.mark.parametrize("shape", [(2, 3), ()], ids=str)
@pytest.mark.parametrize("name", [n for n in UNARY if UNARY[n][2] is not None])
def test_unary_gradgradcheck(device, rng, name, shape):
    fn, _, domain, _ = UNARY[name]
    assert st.autograd.gradgradcheck(fn, [_leaf(domain(rng, shape), device)])


@pytest.mark.parametrize("shape", [(2, 3), ()], ids=str)
@pytest.mark.parametrize("name", [n for n in UNARY if UNARY[n][3]])
def test_unary_gradgradcheck_complex(device, rng, name, shape):
    assert st.autograd.gradgradcheck(UNARY[name][0], [_leaf(off_the_axes(rng, shape), device)])


@pytest.mark.parametrize("shapes", [((2, 3), (3,)), ((), ())], ids=str)
@pytest.mark.parametrize("name", BINARY)
def test_binary_gradgradcheck_with_broadcasting(device, rng, name, shapes):
    fn, _, x_domain, y_domain, _ = BINARY[name]
    inputs = [_leaf(x_domain(rng, shapes[0]), device), _leaf(y_domain(rng, shapes[1]), device)]
    assert st.autograd.gradgradcheck(fn, inputs)


@pytest.mark.parametrize("name", [n for n in BINARY if BINARY[n][4]])
def test_binary_gradgradcheck_complex(device, rng, name):
    inputs = [_leaf(off_the_axes(rng, (2, 3)), device), _leaf(off_the_axes(rng, (3,)), device)]
    assert st.autograd.gradgradcheck(BINARY[name][0], inputs)


def _second_derivatives(grad, tensor, fn, arrays, u, w):
    """The gradient of ``sum(w * d<u, fn(x)>/dx_0)`` with respect to every input, in either library."""
    inputs = [tensor(a, requires_grad=True) for a in arrays]
    out = fn(*inputs)
    first = grad((out * tensor(u)).sum(), inputs[0], create_graph=True)[0]
    if not first.requires_grad:  # a gradient that is constant in the inputs (of x + y, say)
        return [None] * len(inputs)
    return grad((first * tensor(w)).sum(), inputs, allow_unused=True)


@pytest.mark.parametrize("name", [n for n in UNARY if UNARY[n][2] is not None])
def test_unary_second_derivative_matches_torch(device, rng, name):
    fn, torch_fn, domain, _ = UNARY[name]
    x, u, w = domain(rng, (2, 3)), rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    ours = _second_derivatives(st.autograd.grad, lambda a, **k: st.tensor(a, device=device, **k), fn, [x], u, w)
    theirs = _second_derivatives(torch.autograd.grad, torch.tensor, torch_fn, [x], u, w)
    for g, tg in zip(ours, theirs):
        expected = np.zeros((2, 3)) if tg is None else tg.numpy(force=True)
        np.testing.assert_allclose(np.zeros((2, 3)) if g is None else to_numpy(g), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", BINARY)
def test_binary_second_derivative_matches_torch(device, rng, name):
    fn, torch_fn, x_domain, y_domain, _ = BINARY[name]
    arrays = [x_domain(rng, (2, 3)), y_domain(rng, (3,))]
    u, w = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    ours = _second_derivatives(st.autograd.grad, lambda a, **k: st.tensor(a, device=device, **k), fn, arrays, u, w)
    theirs = _second_derivatives(torch.autograd.grad, torch.tensor, torch_fn, arrays, u, w)
    for a, g, tg in zip(arrays, ours, theirs):
        expected = np.zeros(a.shape) if tg is None else tg.numpy(force=True)
        np.testing.assert_allclose(np.zeros(a.shape) if g is None else to_numpy(g), expected, rtol=1e-10,
                                   atol=1e-12)


@pytest.mark.parametrize("name", [n for n in UNARY if UNARY[n][3]])
def test_complex_second_derivative_matches_torch(device, rng, name):
    fn, torch_fn, _, _ = UNARY[name]
    z, w = off_the_axes(rng, (2, 3)), off_the_axes(rng, (2, 3))

    def second(grad, tensor, fn):
        x = tensor(z, requires_grad=True)
        out = fn(x)
        loss = (out.real if isinstance(out, torch.Tensor) else st.real(out)).sum()
        first = grad(loss, x, create_graph=True)[0]
        if not first.requires_grad:  # linear functions: a constant gradient
            return np.zeros(z.shape, complex)
        parts = (first.real, first.imag) if isinstance(first, torch.Tensor) else (st.real(first), st.imag(first))
        return grad((parts[0] * tensor(w.real) + parts[1] * tensor(w.imag)).sum(), x)[0]

    ours = second(st.autograd.grad, lambda a, **k: st.tensor(a, device=device, **k), fn)
    theirs = second(torch.autograd.grad, torch.tensor, torch_fn)
    theirs = theirs if isinstance(theirs, np.ndarray) else theirs.resolve_conj().numpy()
    np.testing.assert_allclose(to_numpy(ours), theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ZERO_GRADIENT)
def test_piecewise_constant_functions_have_a_constant_zero_gradient(device, rng, name):
    """As PyTorch's: the recorded gradient is zero and does not depend on the input, so it has no gradient."""
    x = _leaf(nonzero(rng, (2, 3)), device)
    first, = st.autograd.grad(ZERO_GRADIENT[name](x).sum(), x, create_graph=True)
    np.testing.assert_array_equal(to_numpy(first), np.zeros((2, 3)))
    assert not first.requires_grad
