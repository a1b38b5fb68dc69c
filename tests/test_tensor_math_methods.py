"""The Array API's elementwise functions as tensor methods (PyTorch's and NumPy's names), beside PyTorch's methods."""
import numpy as np
import pytest
import torch

import sparktensor as st
from backends import to_numpy

UNARY = ["acos", "asin", "atan", "arccos", "arcsin", "arctan", "cosh", "sinh", "tan", "floor", "ceil", "trunc",
         "reciprocal", "neg", "negative"]
SHIFTED_INTO_DOMAIN = {"acosh": 1.5, "asinh": 0.0, "atanh": 0.0, "arccosh": 1.5, "arcsinh": 0.0, "arctanh": 0.0,
                       "log2": 1.0, "log10": 1.0}
BINARY = ["atan2", "arctan2", "hypot", "logaddexp", "copysign"]
VALUES = [0.3, -0.7, 0.55]


def _pair(values, device):
    return (st.tensor(values, dtype=st.float64, device=device, requires_grad=True),
            torch.tensor(values, dtype=torch.float64, requires_grad=True))


@pytest.mark.parametrize("name", UNARY + list(SHIFTED_INTO_DOMAIN))
def test_unary_method_matches_torch(device, name):
    x, tx = _pair([v + SHIFTED_INTO_DOMAIN.get(name, 0.0) for v in VALUES], device)
    y, ty = getattr(x, name)(), getattr(tx, name)()
    np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=1e-12)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", BINARY)
def test_binary_method_matches_torch(device, name):
    (x, tx), (w, tw) = _pair(VALUES, device), _pair([1.5, -0.2, 0.9], device)
    y, ty = getattr(x, name)(w), getattr(tx, name)(tw)
    np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=1e-12)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(w.grad), tw.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_complex_parts_and_conjugate_have_torchs_gradients(device):
    values = [0.5 + 1j, -1.0 + 0.2j]
    z = st.tensor(values, dtype=st.complex128, device=device, requires_grad=True)
    tz = torch.tensor(values, dtype=torch.complex128, requires_grad=True)
    (z.real * 2 + z.imag * 3 + z.conj().imag + z.conjugate().real + z.angle()).sum().backward()
    (tz.real * 2 + tz.imag * 3 + tz.conj().imag + tz.conj().real + tz.angle()).sum().backward()
    np.testing.assert_allclose(to_numpy(z.grad), tz.grad.numpy(), rtol=1e-12)


def test_parts_of_a_real_tensor_are_numpys():
    x = st.tensor([1.0, -2.0])
    assert x.real is x and x.conj() is not None
    np.testing.assert_array_equal(x.imag.numpy(), np.imag(np.array([1.0, -2.0])))
    np.testing.assert_array_equal(x.signbit().numpy(), [False, True])
    np.testing.assert_array_equal(x.isfinite().numpy(), [True, True])


@pytest.mark.parametrize("call, torch_call", [
    (lambda t: t.diagonal(), lambda t: t.diagonal()),
    (lambda t: t.diagonal(1, 1, 2), lambda t: t.diagonal(1, 1, 2)),
    (lambda t: t.diagonal(-1, dim1=2, dim2=0), lambda t: t.diagonal(-1, dim1=2, dim2=0)),
    (lambda t: t.trace(), lambda t: t.diagonal().sum(-1)),
    (lambda t: t[0].tril(), lambda t: t[0].tril()), (lambda t: t[1].triu(1), lambda t: t[1].triu(1)),
    (lambda t: t.roll(1, 0), lambda t: t.roll(1, 0)), (lambda t: t.roll((1, -2), (1, 2)), lambda t: t.roll((1, -2), (1, 2))),
    (lambda t: t.cumprod(dim=2), lambda t: t.cumprod(dim=2)), (lambda t: t.movedim(0, 2), lambda t: t.movedim(0, 2)),
], ids=["diagonal", "diagonal-axes", "diagonal-dims", "trace", "tril", "triu", "roll", "roll-axes", "cumprod",
        "movedim"])
def test_array_methods_match_torch_with_gradients(device, call, torch_call):
    a = np.random.default_rng(1).standard_normal((2, 3, 4))
    x = st.tensor(a, device=device, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    y, ty = call(x), torch_call(tx)
    np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=1e-12)
    u = np.random.default_rng(2).standard_normal(tuple(ty.shape))
    y.backward(st.tensor(u, device=device))
    ty.backward(torch.tensor(u))
    np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_trace_and_diagonal_methods_are_numpys():
    a = np.arange(24.0).reshape(2, 3, 4)
    t = st.tensor(a)
    np.testing.assert_array_equal(t.trace().numpy(), a.trace())
    np.testing.assert_array_equal(t.trace(1, 1, 2).numpy(), a.trace(1, 1, 2))
    np.testing.assert_array_equal(t.diagonal(-1, 0, 2).numpy(), a.diagonal(-1, 0, 2))
