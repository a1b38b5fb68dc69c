"""The Array API elementwise functions of ``ops.math_functions``: values against NumPy and PyTorch, gradients
against PyTorch and float64 central differences, broadcasting, integer dtypes, NumPy names and protocols."""
import itertools

import numpy as np
import pytest
import torch

import sparktensor as st
from backends import to_numpy
from differentiable_checks import (above_one, anywhere, assert_matches_torch, inside_unit, near_zero, nonzero,
                                   off_integers, positive)


# name: (sparktensor function, NumPy reference, PyTorch reference, domain)
UNARY = {
    "asin": (st.asin, np.arcsin, torch.asin, inside_unit),
    "acos": (st.acos, np.arccos, torch.acos, inside_unit),
    "atan": (st.atan, np.arctan, torch.atan, anywhere),
    "asinh": (st.asinh, np.arcsinh, torch.asinh, anywhere),
    "acosh": (st.acosh, np.arccosh, torch.acosh, above_one),
    "atanh": (st.atanh, np.arctanh, torch.atanh, inside_unit),
    "sinh": (st.sinh, np.sinh, torch.sinh, anywhere),
    "cosh": (st.cosh, np.cosh, torch.cosh, anywhere),
    "tan": (st.tan, np.tan, torch.tan, near_zero),
    "log2": (st.log2, np.log2, torch.log2, positive),
    "log10": (st.log10, np.log10, torch.log10, positive),
    "reciprocal": (st.reciprocal, np.reciprocal, torch.reciprocal, nonzero),
    "square": (st.square, np.square, torch.square, anywhere),
    "positive": (st.positive, np.positive, torch.positive, anywhere),
    "negative": (st.negative, np.negative, torch.negative, anywhere),
    "conj": (st.conj, np.conj, torch.conj, anywhere),
    "real": (st.real, np.real, torch.real, anywhere),
    "angle": (st.angle, np.angle, torch.angle, nonzero),
    "floor": (st.floor, np.floor, torch.floor, off_integers),
    "ceil": (st.ceil, np.ceil, torch.ceil, off_integers),
    "trunc": (st.trunc, np.trunc, torch.trunc, off_integers),
    "round": (st.round, np.round, torch.round, off_integers),
}

# name: (sparktensor function, NumPy reference, PyTorch reference, domain of x1, domain of x2)
BINARY = {
    "atan2": (st.atan2, np.arctan2, torch.atan2, nonzero, nonzero),
    "hypot": (st.hypot, np.hypot, torch.hypot, nonzero, nonzero),
    "logaddexp": (st.logaddexp, np.logaddexp, torch.logaddexp, anywhere, anywhere),
    "copysign": (st.copysign, np.copysign, torch.copysign, nonzero, nonzero),
    "nextafter": (st.nextafter, np.nextafter, torch.nextafter, anywhere, anywhere),
}

SHAPES = [(), (3,), (2, 3), (1, 3), (2, 1, 3)]


def _broadcastable(a, b):
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


SHAPE_PAIRS = [pair for pair in itertools.product(SHAPES, SHAPES) if _broadcastable(*pair)]


def _leaves(arrays, device):
    return [st.tensor(a, device=device, requires_grad=True) for a in arrays]


# ----- one argument -----
@pytest.mark.parametrize("shape", [(), (4,), (2, 3)], ids=str)
@pytest.mark.parametrize("name", UNARY)
def test_unary_matches_numpy(device, rng, name, shape):
    fn, np_fn, _, domain = UNARY[name]
    x = domain(rng, shape)
    out = fn(st.tensor(x, device=device))
    expected = np.asarray(np_fn(x))
    assert isinstance(out, st.Tensor) and out.shape == expected.shape and out.dtype == expected.dtype
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("shape", [(), (4,), (2, 3)], ids=str)
@pytest.mark.parametrize("name", UNARY)
def test_unary_matches_torch(device, rng, name, shape):
    fn, _, torch_fn, domain = UNARY[name]
    assert_matches_torch(fn, torch_fn, [domain(rng, shape)], rng.standard_normal(shape), device)


@pytest.mark.parametrize("name", UNARY)
def test_unary_matches_torch_in_float32(device, rng, name):
    fn, _, torch_fn, domain = UNARY[name]
    x = domain(rng, (2, 3)).astype(np.float32)
    assert_matches_torch(fn, torch_fn, [x], rng.standard_normal((2, 3)).astype(np.float32), device, 1e-5, 1e-6)


@pytest.mark.parametrize("shape", [(), (2, 3)], ids=str)
@pytest.mark.parametrize("name", UNARY)
def test_unary_gradcheck(device, rng, name, shape):
    fn, _, _, domain = UNARY[name]
    x = st.tensor(domain(rng, shape), dtype=st.float64, device=device, requires_grad=True)
    assert st.autograd.gradcheck(fn, [x])


def test_imag_of_a_real_tensor_is_zero_with_a_zero_gradient(device, rng):
    x = st.tensor(rng.standard_normal((2, 3)), device=device, requires_grad=True)
    out = st.imag(x)
    np.testing.assert_array_equal(to_numpy(out), np.imag(to_numpy(x)))
    out.sum().backward()
    assert x.grad.dtype == st.float64
    np.testing.assert_array_equal(to_numpy(x.grad), np.zeros((2, 3)))


def test_real_of_a_real_tensor_is_the_tensor(device, rng):
    x = st.tensor(rng.standard_normal(3), device=device)
    assert st.real(x) is x


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
@pytest.mark.parametrize("name", ["floor", "ceil", "trunc", "round"])
def test_rounding_integers_gives_the_integers_back(device, name, dtype):
    values = np.array([0, 1, 5, 3]).astype(dtype)
    x = st.tensor(values, device=device)
    out = getattr(st, name)(x)
    assert out.dtype == np.dtype(dtype) and out is not x
    np.testing.assert_array_equal(to_numpy(out), values)


@pytest.mark.parametrize("name", ["asin", "atan", "sinh", "log2", "reciprocal", "angle"])
def test_integers_give_the_default_float(device, name):
    values = [1, 0, -1] if name == "asin" else [1, 4, 2]
    out = getattr(st, name)(st.tensor(values, device=device))
    assert out.dtype == st.get_default_dtype()
    expected = getattr(torch, name)(torch.tensor(values))
    np.testing.assert_allclose(to_numpy(out), expected.numpy(), rtol=1e-6)


def test_square_of_integers_stays_integer(device):
    out = st.square(st.tensor([-3, 2, 7], device=device))
    assert out.dtype == st.int64
    np.testing.assert_array_equal(to_numpy(out), np.square([-3, 2, 7]))


def test_signbit_matches_numpy_and_has_no_gradient(device):
    values = np.array([-0.0, 0.0, -2.5, 3.0, -np.inf, np.nan])
    x = st.tensor(values, device=device, requires_grad=True)
    out = st.signbit(x)
    assert out.dtype == st.bool and not out.requires_grad
    np.testing.assert_array_equal(to_numpy(out), np.signbit(values))


@pytest.mark.parametrize("name", ["floor", "ceil", "trunc", "round"])
def test_rounding_has_a_zero_gradient_at_integers_too(device, name):
    values = np.array([-1.0, 0.0, 2.0, 2.5])
    assert_matches_torch(getattr(st, name), getattr(torch, name), [values], np.ones(4), device)


# ----- two arguments, over every pair of broadcastable shapes -----
@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("name", BINARY)
def test_binary_matches_numpy(device, rng, name, shapes):
    fn, np_fn, _, x_domain, y_domain = BINARY[name]
    x, y = x_domain(rng, shapes[0]), y_domain(rng, shapes[1])
    out = fn(st.tensor(x, device=device), st.tensor(y, device=device))
    expected = np.asarray(np_fn(x, y))
    assert out.shape == expected.shape and out.dtype == expected.dtype
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-13)


@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("name", BINARY)
def test_binary_matches_torch(device, rng, name, shapes):
    fn, _, torch_fn, x_domain, y_domain = BINARY[name]
    arrays = [x_domain(rng, shapes[0]), y_domain(rng, shapes[1])]
    assert_matches_torch(fn, torch_fn, arrays, rng.standard_normal(np.broadcast_shapes(*shapes)), device)


@pytest.mark.parametrize("shapes", [((2, 3), (2, 3)), ((2, 1, 3), (3,)), ((), (2, 3))], ids=str)
@pytest.mark.parametrize("name", BINARY)
def test_binary_gradcheck(device, rng, name, shapes):
    fn, _, _, x_domain, y_domain = BINARY[name]
    inputs = _leaves([x_domain(rng, shapes[0]), y_domain(rng, shapes[1])], device)
    assert st.autograd.gradcheck(fn, inputs)


@pytest.mark.parametrize("name", BINARY)
def test_binary_with_a_python_number(device, rng, name):
    fn, np_fn, torch_fn, x_domain, _ = BINARY[name]
    x = x_domain(rng, (2, 3))
    for number_first in (False, True):
        def call(f, t, number):
            return f(number, t) if number_first else f(t, number)
        assert_matches_torch(lambda t: call(fn, t, -1.5),
                              lambda t: call(torch_fn, t, torch.tensor(-1.5, dtype=t.dtype)),
                              [x], rng.standard_normal((2, 3)), device)


@pytest.mark.parametrize("name", BINARY)
def test_binary_broadcast_error_names_the_function_and_shapes(device, name):
    with pytest.raises(ValueError, match=rf"{name}: cannot broadcast shapes \(2, 3\) and \(4,\)"):
        BINARY[name][0](st.ones(2, 3, device=device), st.ones(4, device=device))


@pytest.mark.parametrize("name", ["atan2", "hypot", "logaddexp", "copysign"])
def test_binary_of_integers_gives_the_default_float(device, name):
    x, y = st.tensor([1, -2, 3], device=device), st.tensor([2, 2, -1], device=device)
    out = getattr(st, name)(x, y)
    assert out.dtype == st.get_default_dtype()
    expected = getattr(torch, name)(torch.tensor([1.0, -2.0, 3.0]), torch.tensor([2.0, 2.0, -1.0]))
    np.testing.assert_allclose(to_numpy(out), expected.numpy(), rtol=1e-6)


def test_gradients_at_the_special_points_match_torch(device):
    zeros = np.array([0.0, -0.0, 0.0])
    assert_matches_torch(st.atan2, torch.atan2, [zeros, np.array([0.0, 1.0, -1.0])], np.ones(3), device)
    assert_matches_torch(st.copysign, torch.copysign, [zeros, np.array([-1.0, 1.0, -0.0])], np.ones(3), device)
    # hypot's gradient at the origin is NaN, as PyTorch's; elsewhere x / hypot
    inputs = _leaves([np.array([0.0, 3.0]), np.array([0.0, 4.0])], device)
    st.hypot(*inputs).sum().backward()
    np.testing.assert_allclose(to_numpy(inputs[0].grad), [np.nan, 0.6], rtol=1e-15)


# ----- names and protocols -----
@pytest.mark.parametrize("numpy_name, name", [
    ("arcsin", "asin"), ("arccos", "acos"), ("arctan", "atan"), ("arcsinh", "asinh"), ("arccosh", "acosh"),
    ("arctanh", "atanh"), ("arctan2", "atan2"), ("conjugate", "conj"), ("absolute", "abs"),
    ("negative", "neg"), ("bitwise_invert", "invert"), ("bitwise_left_shift", "left_shift"),
    ("bitwise_right_shift", "right_shift")])
def test_numpy_names_are_the_same_functions(numpy_name, name):
    assert getattr(st, numpy_name) is getattr(st, name)


@pytest.mark.parametrize("ufunc", ["arcsin", "arccos", "arctan", "arcsinh", "arctanh", "sinh", "cosh", "tan",
                                   "log2", "log10", "reciprocal", "square", "positive", "conjugate", "floor",
                                   "ceil", "trunc", "rint", "absolute", "sign"])
def test_numpy_ufuncs_keep_the_graph(device, rng, ufunc):
    x = rng.uniform(0.3, 0.9, (2, 3))  # inside every domain
    t = st.tensor(x, device=device, requires_grad=True)
    out = getattr(np, ufunc)(t)
    assert isinstance(out, st.Tensor) and out.requires_grad
    np.testing.assert_allclose(to_numpy(out), getattr(np, ufunc)(x), rtol=1e-13)
    out.sum().backward()
    reference = torch.tensor(x, requires_grad=True)
    torch_name = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh", "arctanh": "atanh",
                  "conjugate": "conj", "rint": "round", "absolute": "abs"}.get(ufunc, ufunc)
    getattr(torch, torch_name)(reference).sum().backward()
    np.testing.assert_allclose(to_numpy(t.grad), reference.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("ufunc", ["arctan2", "hypot", "logaddexp", "copysign", "nextafter"])
def test_numpy_binary_ufuncs_keep_the_graph(device, rng, ufunc):
    x, y = nonzero(rng, (2, 3)), nonzero(rng, (3,))
    tx, ty = _leaves([x, y], device)
    out = getattr(np, ufunc)(tx, ty)
    assert isinstance(out, st.Tensor) and out.requires_grad
    np.testing.assert_allclose(to_numpy(out), getattr(np, ufunc)(x, y), rtol=1e-13)
    assert st.autograd.gradcheck(lambda a, b: getattr(np, ufunc)(a, b), [tx, ty])


def test_numpy_arcsinh_of_a_tensor_has_a_gradient(device, rng):
    x = anywhere(rng, 5)
    t = st.tensor(x, device=device, requires_grad=True)
    np.arcsinh(t).sum().backward()
    np.testing.assert_allclose(to_numpy(t.grad), 1 / np.sqrt(x * x + 1), rtol=1e-13)


@pytest.mark.parametrize("function", [np.real, np.imag, np.angle, lambda z: np.angle(z, deg=True)])
def test_numpy_complex_part_functions_keep_the_graph(device, rng, function):
    z = rng.standard_normal(4) + 1j * rng.standard_normal(4)
    t = st.tensor(z, device=device, requires_grad=True)
    out = function(t)
    assert isinstance(out, st.Tensor) and out.requires_grad
    np.testing.assert_allclose(to_numpy(out), function(z), rtol=1e-13)
    assert st.autograd.gradcheck(function, [t])


@pytest.mark.parametrize("name", ["acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "ceil", "conj",
                                  "copysign", "cosh", "floor", "hypot", "imag", "log2", "log10", "logaddexp",
                                  "nextafter", "positive", "real", "reciprocal", "signbit", "sinh", "square", "tan",
                                  "trunc", "negative", "bitwise_invert", "bitwise_left_shift",
                                  "bitwise_right_shift"])
def test_standard_names_are_exported_with_a_docstring(name):
    fn = getattr(st, name)
    assert callable(fn) and fn.__doc__ and name in st.ops.math_functions.__all__
