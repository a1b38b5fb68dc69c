"""Elementwise functions of complex tensors: values against NumPy, gradients against PyTorch's complex gradients
(conjugate Wirtinger) of the real loss ``sum(y.real * u + y.imag * v)``, and central differences."""
import numpy as np
import pytest
import torch

import sparktensor as st
from backends import to_numpy
from differentiable_checks import off_the_axes


# name: (sparktensor function, NumPy reference, PyTorch reference or None where PyTorch has no complex kernel)
HOLOMORPHIC = {
    "exp": (st.exp, np.exp, torch.exp),
    "log": (st.log, np.log, torch.log),
    "log1p": (st.log1p, np.log1p, torch.log1p),
    "expm1": (st.expm1, np.expm1, None),
    "sqrt": (st.sqrt, np.sqrt, torch.sqrt),
    "sin": (st.sin, np.sin, torch.sin),
    "cos": (st.cos, np.cos, torch.cos),
    "tan": (st.tan, np.tan, torch.tan),
    "tanh": (st.tanh, np.tanh, torch.tanh),
    "sinh": (st.sinh, np.sinh, torch.sinh),
    "cosh": (st.cosh, np.cosh, torch.cosh),
    "sigmoid": (st.sigmoid, lambda z: 1 / (1 + np.exp(-z)), torch.sigmoid),
    "asin": (st.asin, np.arcsin, torch.asin),
    "acos": (st.acos, np.arccos, torch.acos),
    "atan": (st.atan, np.arctan, torch.atan),
    "asinh": (st.asinh, np.arcsinh, torch.asinh),
    "acosh": (st.acosh, np.arccosh, torch.acosh),
    "atanh": (st.atanh, np.arctanh, torch.atanh),
    "log2": (st.log2, np.log2, torch.log2),
    "log10": (st.log10, np.log10, torch.log10),
    "reciprocal": (st.reciprocal, np.reciprocal, torch.reciprocal),
    "square": (st.square, np.square, torch.square),
    "positive": (st.positive, np.positive, torch.positive),
    "neg": (st.neg, np.negative, torch.neg),
    "pow_scalar": (lambda z: z ** 3, lambda z: z ** 3, lambda z: z ** 3),
    "pow_complex_scalar": (lambda z: z ** (0.5 + 1j), lambda z: z ** (0.5 + 1j), lambda z: z ** (0.5 + 1j)),
    "rpow": (lambda z: 2.0 ** z, lambda z: 2.0 ** z, lambda z: 2.0 ** z),
    "mul_complex_scalar": (lambda z: z * (2 - 3j), lambda z: z * (2 - 3j), lambda z: z * (2 - 3j)),
    "div_complex_scalar": (lambda z: (2 - 3j) / z, lambda z: (2 - 3j) / z, lambda z: (2 - 3j) / z),
}
# not holomorphic: the gradient has a conj(gy) part too
OTHER = {
    "conj": (st.conj, np.conj, torch.conj),
    "abs": (st.abs, np.abs, torch.abs),
    "sign": (st.sign, np.sign, torch.sgn),
    "real": (st.real, np.real, torch.real),
    "imag": (st.imag, np.imag, torch.imag),
    "angle": (st.angle, np.angle, torch.angle),
}
UNARY = {**HOLOMORPHIC, **OTHER}
BINARY = {
    "add": (st.add, np.add, torch.add),
    "sub": (st.sub, np.subtract, torch.sub),
    "mul": (st.mul, np.multiply, torch.mul),
    "div": (st.div, np.true_divide, torch.div),
    "pow": (st.pow, np.power, torch.pow),
}


def _real_loss_weights(rng, shape, dtype):
    """``u`` and ``v`` of the loss ``sum(y.real * u + y.imag * v)`` (``v`` zero for a real ``y``)."""
    u = rng.standard_normal(shape)
    v = rng.standard_normal(shape) if np.dtype(dtype).kind == "c" else np.zeros(shape)
    return u, v


def _loss(y, u, v):
    """``sum(y.real * u + y.imag * v)`` of a sparktensor or PyTorch tensor, ``sum(y * u)`` of a real one."""
    if isinstance(y, st.Tensor):
        return (st.real(y) * u + st.imag(y) * v).sum() if y.dtype.kind == "c" else (y * u).sum()
    return (y.real * u + y.imag * v).sum() if y.is_complex() else (y * u).sum()


def _sparktensor_gradients(fn, arrays, u, v, device):
    inputs = [st.tensor(a, device=device, requires_grad=True) for a in arrays]
    out = fn(*inputs)
    _loss(out, st.tensor(u, device=device), st.tensor(v, device=device)).backward()
    return out, [x.grad for x in inputs]


def _torch_gradients(fn, arrays, u, v):
    inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*inputs)
    _loss(out, torch.tensor(u), torch.tensor(v)).backward()
    return out, [x.grad for x in inputs]


@pytest.mark.parametrize("shape", [(), (2, 3)], ids=str)
@pytest.mark.parametrize("name", UNARY)
def test_unary_matches_numpy(device, rng, name, shape):
    fn, np_fn, _ = UNARY[name]
    z = off_the_axes(rng, shape)
    out = fn(st.tensor(z, device=device))
    expected = np.asarray(np_fn(z))
    assert out.shape == expected.shape and out.dtype == expected.dtype
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", [n for n in UNARY if UNARY[n][2] is not None])
def test_unary_gradient_matches_torch(device, rng, name):
    fn, np_fn, torch_fn = UNARY[name]
    z = off_the_axes(rng, (2, 3))
    u, v = _real_loss_weights(rng, (2, 3), np.asarray(np_fn(z)).dtype)
    out, (gz,) = _sparktensor_gradients(fn, [z], u, v, device)
    expected, (tgz,) = _torch_gradients(torch_fn, [z], u, v)
    np.testing.assert_allclose(to_numpy(out), expected.detach().resolve_conj().numpy(), rtol=1e-12)
    assert gz.dtype == st.complex128
    np.testing.assert_allclose(to_numpy(gz), tgz.resolve_conj().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", UNARY)
def test_unary_gradcheck(device, rng, name):
    z = st.tensor(off_the_axes(rng, (2, 3)), device=device, requires_grad=True)
    assert st.autograd.gradcheck(UNARY[name][0], [z])


@pytest.mark.parametrize("name", UNARY)
def test_gradient_through_real_parts_is_the_complex_gradient(device, rng, name):
    """Built from two real tensors, ``z = a + i b``: ``a.grad = Re(z.grad)`` and ``b.grad = Im(z.grad)``."""
    fn = UNARY[name][0]
    values = off_the_axes(rng, (4,))
    z = st.tensor(values, device=device, requires_grad=True)
    a, b = (st.tensor(part, device=device, requires_grad=True) for part in (values.real, values.imag))
    u = st.tensor(rng.standard_normal(4), device=device)
    for leaf in (z, a + b * 1j):
        out = fn(leaf)
        (st.real(out) * u + st.imag(out) * u * 0.5).sum().backward()
    np.testing.assert_allclose(to_numpy(a.grad), to_numpy(z.grad).real, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(to_numpy(b.grad), to_numpy(z.grad).imag, rtol=1e-12, atol=1e-14)
    assert a.grad.dtype == st.float64


@pytest.mark.parametrize("kinds", ["complex-complex", "complex-real", "real-complex"])
@pytest.mark.parametrize("name", BINARY)
def test_binary_gradient_matches_torch(device, rng, name, kinds):
    fn, np_fn, torch_fn = BINARY[name]
    x = off_the_axes(rng, (2, 3))
    y = off_the_axes(rng, (3,))
    x, y = (x.real if kind == "real" else x for kind, x in zip(kinds.split("-"), (x, y)))
    if name == "pow" and kinds == "real-complex":
        x = np.abs(x)  # a real negative base has no real logarithm
    u, v = _real_loss_weights(rng, (2, 3), np.complex128)
    out, grads = _sparktensor_gradients(fn, [x, y], u, v, device)
    expected, torch_grads = _torch_gradients(torch_fn, [x, y], u, v)
    np.testing.assert_allclose(to_numpy(out), np_fn(x, y), rtol=1e-13)
    np.testing.assert_allclose(to_numpy(out), expected.detach().numpy(), rtol=1e-12)
    for a, g, tg in zip((x, y), grads, torch_grads):
        assert g.dtype == a.dtype and g.shape == a.shape
        np.testing.assert_allclose(to_numpy(g), tg.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", BINARY)
def test_binary_gradcheck(device, rng, name):
    x = st.tensor(off_the_axes(rng, (2, 1, 3)), device=device, requires_grad=True)
    y = st.tensor(off_the_axes(rng, (3,)), device=device, requires_grad=True)
    assert st.autograd.gradcheck(BINARY[name][0], [x, y])


def test_abs_and_sign_at_zero_match_torch(device):
    z = np.array([0j, 3 + 4j, -1j])
    u = np.array([1.0, 2.0, -1.0])
    for fn, torch_fn in ((st.abs, torch.abs), (st.sign, torch.sgn), (st.angle, torch.angle)):
        _, (gz,) = _sparktensor_gradients(fn, [z], u, u, device)
        _, (tgz,) = _torch_gradients(torch_fn, [z], u, u)
        np.testing.assert_allclose(to_numpy(gz), tgz.numpy(), rtol=1e-12, atol=1e-15)


def test_round_of_complex_rounds_both_parts_with_a_zero_gradient(device, rng):
    z = off_the_axes(rng, (5,)) * 4
    t = st.tensor(z, device=device, requires_grad=True)
    out = st.round(t)
    np.testing.assert_array_equal(to_numpy(out), np.round(z))
    st.real(out).sum().backward()
    np.testing.assert_array_equal(to_numpy(t.grad), np.zeros(5, complex))


def test_sign_of_complex_is_z_over_its_modulus(device):
    z = np.array([3 + 4j, 0j, -2j, complex(-0.0, -0.0)])
    out = to_numpy(st.sign(st.tensor(z, device=device)))
    np.testing.assert_allclose(out, [0.6 + 0.8j, 0, -1j, 0], rtol=1e-15)
    assert not np.signbit(out[3].real) and not np.signbit(out[3].imag)  # the standard's 0 + 0j


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_complex_precision_is_kept(device, rng, dtype):
    z = st.tensor(off_the_axes(rng, (3,)).astype(dtype), device=device, requires_grad=True)
    out = st.abs(st.asinh(z) * st.conj(z))
    assert out.dtype == np.dtype(dtype).type(0).real.dtype
    out.sum().backward()
    assert z.grad.dtype == np.dtype(dtype)


def test_expm1_of_complex_is_accurate_near_zero(device):
    mpmath = pytest.importorskip("mpmath")
    z = np.array([1e-20 + 1e-10j, -3e-12 + 2e-9j, 1e-8 - 1e-8j, 0.5 + 0.25j])
    expected = np.array([complex(mpmath.expm1(mpmath.mpc(v.real, v.imag))) for v in z])
    np.testing.assert_allclose(to_numpy(st.expm1(st.tensor(z, device=device))), expected, rtol=1e-14, atol=0)
    assert not np.allclose((np.exp(z) - 1).real, expected.real, rtol=1e-3, atol=0)  # the naive form loses it


def test_expm1_of_complex_special_values_are_those_of_exp_minus_one(device):
    inf, nan = np.inf, np.nan
    z = np.array([complex(-0.0, 0.0), complex(inf, 0.0), complex(-inf, inf), complex(nan, 0.0), complex(inf, inf),
                  complex(-inf, nan), complex(inf, nan)])
    out = to_numpy(st.expm1(st.tensor(z, device=device)))
    with np.errstate(invalid="ignore"):
        expected = np.exp(z) - 1
    expected[0] = 0j
    np.testing.assert_array_equal(out.real, expected.real)
    np.testing.assert_array_equal(np.isnan(out.imag), np.isnan(expected.imag))
    assert not np.signbit(out[0].real)


def test_tanh_of_an_infinite_real_part_follows_the_standard(device):
    """``tanh(+-inf + b j)`` for finite ``b`` is ``+-1 + 0j`` with the zero's sign that of ``b``."""
    z = np.array([complex(np.inf, 2.0), complex(np.inf, -2.0), complex(-np.inf, 2.0), complex(np.inf, -0.0),
                  0.3 + 0.2j])
    out = to_numpy(st.tanh(st.tensor(z, device=device)))
    np.testing.assert_array_equal(out[:4], [1, 1, -1, 1])
    np.testing.assert_array_equal(np.signbit(out[:4].imag), np.signbit(z[:4].imag))
    np.testing.assert_allclose(out[4], np.tanh(z[4]), rtol=1e-15)
