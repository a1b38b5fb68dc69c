"""Places where a tensor once gave a different result from NumPy without a word, each checked against NumPy:
augmented assignments that rebound the name instead of writing in place, ``dtype=`` dropped by reductions,
negative variances, ``diff`` edges cast to the input's dtype, ``np.diag`` with infinities, and copies that were
views."""
import warnings

import numpy as np
import pytest

import sparktensor as st
from backends import to_numpy


@pytest.mark.parametrize("op, value", [("//=", 2), ("%=", 3), ("**=", 2)])
def test_augmented_assignment_writes_in_place_as_numpy(device, op, value):
    a = np.array([5, 7, 9])
    t = st.tensor(a, device=device)
    alias, view = t, t[:2]
    namespace = {"t": t, "view": view, "value": value}
    exec(f"t {op} value", namespace)
    exec(f"a {op} value", {"a": a, "value": value})
    assert namespace["t"] is alias  # the same tensor, changed, as NumPy's array
    np.testing.assert_array_equal(to_numpy(alias), a)
    exec(f"view {op} value", namespace)
    assert to_numpy(t)[:2].tolist() == to_numpy(namespace["view"]).tolist()  # a view writes through to its base


def test_augmented_assignment_refuses_what_numpy_refuses(device):
    t = st.tensor([5, 7], device=device)
    with pytest.raises(TypeError):  # NumPy: float64 cannot be cast to int64 in place (UFuncTypeError)
        t //= 0.5
    assert to_numpy(t).tolist() == [5, 7]


def test_matmul_assignment_in_place(device):
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    t = st.tensor(a, device=device)
    alias = t
    t @= st.tensor(np.array([[0.0, 1.0], [1.0, 0.0]]), device=device)
    a @= np.array([[0.0, 1.0], [1.0, 0.0]])
    assert t is alias
    np.testing.assert_array_equal(to_numpy(alias), a)


def test_in_place_power_on_a_computed_tensor_keeps_the_gradient(device):
    x = st.tensor([1.5, -2.0], device=device, requires_grad=True)
    y = x * 1
    y **= 3
    y.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), 3 * np.array([1.5, -2.0]) ** 2)


WRAPS = np.array([100, 100, 7], np.int8)  # sums past int8's range: NumPy's dtype= keeps them in int8 (wrapping)


@pytest.mark.parametrize("call", [
    lambda m, a: a.sum(dtype=np.int8), lambda m, a: a.prod(dtype=np.int16), lambda m, a: a.sum(dtype=bool),
    lambda m, a: a.mean(dtype=np.int32), lambda m, a: a.cumsum(dtype=np.int8), lambda m, a: a.prod(dtype=np.int8),
    lambda m, a: np.sum(a, dtype=np.int8), lambda m, a: np.prod(a, dtype=np.int16),
    lambda m, a: np.mean(a, dtype=np.int32), lambda m, a: np.add.reduce(a, dtype=np.int8),
    lambda m, a: np.multiply.reduce(a, dtype=np.int16),
])
def test_reductions_compute_and_return_in_the_dtype_asked_for(device, call):
    expected = call(np, WRAPS)
    found = call(st, st.tensor(WRAPS, device=device))
    assert found.dtype == expected.dtype
    np.testing.assert_array_equal(to_numpy(found), expected)


def test_trace_in_a_dtype(device):
    a = np.arange(9).reshape(3, 3) * 40
    found = st.tensor(a, device=device).trace(dtype=np.int8)
    assert found.dtype == np.int8 and to_numpy(found) == a.trace(dtype=np.int8)


@pytest.mark.parametrize("values, ddof", [([1.0, 2.0, 4.0], 3), ([1.0, 2.0, 4.0], 4), ([], 1), ([2.0], 1)])
def test_variance_with_ddof_at_least_n_is_numpys_inf_or_nan(device, values, ddof):
    a = np.array(values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name in ("var", "std"):
            expected = getattr(np, name)(a, ddof=ddof)
            found = to_numpy(getattr(st.tensor(a, device=device), name)(ddof=ddof))
            np.testing.assert_array_equal(found, expected)


def test_diff_promotes_prepend_and_append_as_numpy(device):
    d = np.array([1, 4, 9], np.int8)
    for kwargs in ({"prepend": 0.5}, {"append": np.int64(1000)}, {"prepend": np.array([0.5])},
                   {"prepend": 1, "append": 2}):
        expected = np.diff(d, **kwargs)
        found = np.diff(st.tensor(d, device=device), **kwargs)
        assert found.dtype == expected.dtype, kwargs
        np.testing.assert_array_equal(to_numpy(found), expected)


@pytest.mark.parametrize("k", [0, 1, -2])
def test_diag_of_a_vector_with_infinities_and_negatives(device, k):
    v = np.array([np.inf, -1.0, 2.0, -np.inf])
    found = to_numpy(np.diag(st.tensor(v, device=device), k=k))
    expected = np.diag(v, k=k)
    np.testing.assert_array_equal(found, expected)
    assert not np.signbit(found[expected == 0]).any()  # +0.0 off the diagonal, not -0.0


def test_diag_of_a_vector_keeps_its_gradient(device):
    v = st.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    (np.diag(v, k=1) * st.tensor(np.arange(16.0).reshape(4, 4), device=device)).sum().backward()
    np.testing.assert_array_equal(to_numpy(v.grad), [1.0, 6.0, 11.0])


def test_copies_that_must_not_be_views(device):
    for make in (lambda t: np.reshape(t, (2, 2), copy=True), lambda t: t.flatten(), lambda t: +t):
        t = st.tensor(np.arange(4.0), device=device)
        y = make(t)
        assert y is not t
        y.reshape(-1)[0] = 99.0
        assert to_numpy(t).tolist() == [0.0, 1.0, 2.0, 3.0]
    t = st.tensor(np.arange(4.0), device=device)
    view = np.reshape(t, (2, 2))  # without copy=True NumPy may view, and does here
    view[0, 0] = 5.0
    assert to_numpy(t)[0] == 5.0


def test_view_as_another_dtype_says_it_is_not_supported(device):
    t = st.ones(4, device=device)
    for dtype in (np.int32, st.float64, "int8"):
        with pytest.raises(TypeError, match=r"view\(.*another dtype.*astype"):
            t.view(dtype)
    assert t.view(2, 2).shape == (2, 2) and t.view((4, 1)).shape == (4, 1) and t.view(-1).shape == (4,)
