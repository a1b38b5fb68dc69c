"""``erf32``, the float32 error function behind GELU: a few units in the last place of the exact value."""
import numpy as np
import pytest
import torch
from scipy.special import erf

import sparktensor as st
import sparktensor.nn.functional as F
from sparktensor.nn.functional._erf import PIECE, erf32


def test_within_a_few_units_in_the_last_place_of_the_float64_error_function():
    x = np.linspace(-12, 12, 2_400_001).astype(np.float32)
    exact = erf(x.astype(np.float64))
    got = erf32(x)
    assert got.dtype == np.float32 and got.shape == x.shape
    assert np.abs(got - exact).max() < 5e-7
    assert np.all(np.abs(got) <= 1) and got[0] == -1 and got[-1] == 1
    np.testing.assert_array_equal(erf32(-x), -got)  # odd, exactly


@pytest.mark.parametrize("shape, order", [((3, PIECE + 5), "C"), ((PIECE + 7, 2), "F"), ((0, 4), "C"), ((), "C")])
def test_any_shape_and_layout_across_pieces(shape, order):
    x = np.asarray(np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 3, order=order)
    got = erf32(x)
    assert got.shape == x.shape and got.flags.c_contiguous
    np.testing.assert_allclose(got, erf(x.astype(np.float64)), rtol=0, atol=5e-7)


def test_gelu_in_float32_matches_pytorch_on_large_activations():
    x = np.random.default_rng(1).standard_normal((8, 64, 300)).astype(np.float32) * 4
    t = st.tensor(x, requires_grad=True)
    y = F.gelu(t)
    gy = np.random.default_rng(2).standard_normal(x.shape).astype(np.float32)
    y.backward(st.tensor(gy))
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.gelu(tx)
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(t.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=2e-6)
