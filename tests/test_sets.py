"""unique_all, unique_counts, unique_inverse, unique_values: named tuples of tensors matching NumPy's functions of
the same names (each NaN distinct, -0.0 equal to 0.0), int64 indices, and no gradient (as torch.unique)."""
import numpy as np
import pytest

import sparktensor as st
from backends import BACKENDS, to_numpy

pytestmark = pytest.mark.parametrize("device", BACKENDS)

INPUTS = [
    ("floats with NaNs and signed zeros", np.array([[np.nan, 1.0, np.nan], [0.0, -0.0, 1.0]], dtype=np.float32)),
    ("integers", np.array([3, 1, 3, 3, -2, 1], dtype=np.int16)),
    ("3-d", np.random.default_rng(0).integers(0, 4, (2, 3, 2)).astype(np.float64)),
    ("bools", np.array([True, False, True])),
    ("empty", np.zeros((0, 3))),
    ("0-d", np.array(2.5)),
]


@pytest.mark.parametrize("a", [c[1] for c in INPUTS], ids=[c[0] for c in INPUTS])
def test_unique_functions_match_numpy(device, a):
    x = st.tensor(a, device=device)
    for ours, numpy_fn, fields in [
            (st.unique_all, np.unique_all, ("values", "indices", "inverse_indices", "counts")),
            (st.unique_counts, np.unique_counts, ("values", "counts")),
            (st.unique_inverse, np.unique_inverse, ("values", "inverse_indices"))]:
        got, expected = ours(x), numpy_fn(a)
        assert got._fields == fields == expected._fields and type(got).__name__ == type(expected).__name__
        for name in fields:
            g, e = getattr(got, name), getattr(expected, name)
            assert isinstance(g, st.Tensor) and g.device == x.device and g.shape == e.shape
            assert g.dtype == (a.dtype if name == "values" else np.int64)
            np.testing.assert_array_equal(to_numpy(g), e)
    values = st.unique_values(x)
    assert isinstance(values, st.Tensor) and values.dtype == a.dtype
    np.testing.assert_array_equal(to_numpy(values), np.unique_values(a))


def test_inverse_rebuilds_the_input(device):
    a = np.random.default_rng(1).integers(0, 5, (4, 3)).astype(np.float64)
    values, inverse = st.unique_inverse(st.tensor(a, device=device))
    assert inverse.shape == a.shape
    np.testing.assert_array_equal(to_numpy(values)[to_numpy(inverse)], a)


def test_unique_values_carry_no_gradient(device):
    x = st.tensor([2.0, 1.0, 2.0], device=device, requires_grad=True)
    for result in (st.unique_values(x), *st.unique_all(x)):
        assert not result.requires_grad
    assert not any(t.requires_grad for t in np.unique_counts(x))
