"""Property tests: random broadcastable shapes for binary ops, random axes for reductions, checked against NumPy."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as hs
from hypothesis.extra import numpy as hnp

import sparktensor as st
from backends import to_numpy

# the device fixture does not change between examples, so sharing it across them is safe; the rest (the same
# examples every run, no time limits) comes from the profile tests/conftest.py loads
PROPERTY = settings(max_examples=50, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

SEEDS = hs.integers(0, 2**32 - 1)
SHAPE_PAIRS = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=1, max_side=4)


def _sum_to(g, shape):
    """NumPy reference for reducing a broadcast gradient back to ``shape``."""
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    return g.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True).reshape(shape)


# name: (op, d(out)/dx, d(out)/dy), the partial derivatives at the broadcast x and y
BINARY = {
    "add": (np.add, lambda x, y: np.ones_like(x * y), lambda x, y: np.ones_like(x * y)),
    "sub": (np.subtract, lambda x, y: np.ones_like(x * y), lambda x, y: -np.ones_like(x * y)),
    "mul": (np.multiply, lambda x, y: y + 0 * x, lambda x, y: x + 0 * y),
    "div": (np.true_divide, lambda x, y: 1 / y + 0 * x, lambda x, y: -x / y**2),
}


@pytest.mark.parametrize("name", BINARY)
@PROPERTY
@given(shapes=SHAPE_PAIRS, seed=SEEDS)
def test_binary_ops_broadcast_like_numpy(device, name, shapes, seed):
    np_fn, dx, dy = BINARY[name]
    (x_shape, y_shape), out_shape = shapes.input_shapes, shapes.result_shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    y = np.asarray(rng.uniform(0.5, 2.0, y_shape) * rng.choice([-1.0, 1.0], y_shape))
    tx = st.tensor(x, device=device, requires_grad=True)
    ty = st.tensor(y, device=device, requires_grad=True)

    out = getattr(st, name)(tx, ty)
    assert out.shape == out_shape
    np.testing.assert_allclose(to_numpy(out), np_fn(x, y), rtol=1e-12)

    upstream = rng.standard_normal(out_shape)
    out.backward(st.tensor(upstream, device=device))
    assert tx.grad.shape == x_shape and ty.grad.shape == y_shape
    np.testing.assert_allclose(to_numpy(tx.grad), _sum_to(upstream * dx(x, y), x_shape), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_numpy(ty.grad), _sum_to(upstream * dy(x, y), y_shape), rtol=1e-10, atol=1e-12)


@hs.composite
def shapes_and_axes(draw):
    """A shape, an ``axis`` (None, an int or a tuple, negative ones included) and ``keepdims``."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4))
    ndim = len(shape)
    choices = [hs.none()]
    if ndim:
        choices += [hs.integers(-ndim, ndim - 1), hnp.valid_tuple_axes(ndim)]
    return shape, draw(hs.one_of(*choices)), draw(hs.booleans())


@pytest.mark.parametrize("name", ["sum", "mean", "max"])
@PROPERTY
@given(case=shapes_and_axes(), seed=SEEDS)
def test_reductions_match_numpy_for_any_axes(device, name, case, seed):
    shape, axis, keepdims = case
    x = np.random.default_rng(seed).standard_normal(shape)
    t = st.tensor(x, device=device, requires_grad=True)
    out = getattr(st, name)(t, axis=axis, keepdims=keepdims)
    expected = getattr(np, name)(x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-12, atol=1e-14)

    out.sum().backward()
    assert t.grad.shape == shape
    if name == "sum":
        np.testing.assert_array_equal(to_numpy(t.grad), np.ones(shape))
    elif name == "mean":
        np.testing.assert_allclose(to_numpy(t.grad), np.full(shape, np.size(expected) / x.size), rtol=1e-12)
    else:  # each reduced slice sends its gradient to its (here almost surely unique) largest element
        np.testing.assert_allclose(to_numpy(t.grad).sum(), np.size(expected), rtol=1e-12)
