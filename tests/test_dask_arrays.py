"""Tensors as the chunks of Dask arrays: the chunk type survives in ``meta``, and elementwise ops, reductions,
``@`` and ``compute()`` give the tensor the same computation gives on the whole tensor.

Dask runs with its synchronous scheduler here: one thread, no pickling, so gradients can flow through.
"""
import numpy as np
import pytest

import sparktensor as st

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


@pytest.fixture
def whole(rng):
    """A float64 (6, 4) tensor and its (4, 3) partner for products."""
    return st.tensor(rng.standard_normal((6, 4))), st.tensor(rng.standard_normal((4, 3)))


def _lazy(t, chunks):
    x = da.from_array(t, chunks=chunks)
    assert type(x._meta) is st.Tensor, "the chunk type must survive in meta"
    return x


def _same(result, expected, exact=True):
    """``result`` (a Dask array of tensor chunks) computes to a tensor equal to ``expected``."""
    assert type(result._meta) is st.Tensor, type(result._meta)
    value = result.compute()
    assert type(value) is st.Tensor and value.shape == expected.shape and value.dtype == expected.dtype
    if exact:
        np.testing.assert_array_equal(value.numpy(), expected.numpy())
    else:  # chunked reductions add in another order
        np.testing.assert_allclose(value.numpy(), expected.numpy(), rtol=1e-12, atol=1e-14)


def test_from_array_keeps_tensor_chunks(whole):
    t, _ = whole
    x = _lazy(t, (4, 3))
    assert x.shape == t.shape and x.dtype == t.dtype and x.chunks == ((4, 2), (3, 1))
    assert type(x.blocks[1, 0].compute()) is st.Tensor
    _same(x, t)
    _same(x[1:5, ::2].T, t[1:5, ::2].T)
    _same(x.rechunk((3, 4)), t)


@pytest.mark.parametrize("name,op", [
    ("arithmetic", lambda x: 2 * x - x / 3 + 1),
    ("ufuncs", lambda x: np.exp(np.tanh(x)) + np.abs(x)),
    ("comparison and where", lambda x: np.where(x > 0, x, -x * 0.5)),
    ("maximum and clip", lambda x: np.clip(np.maximum(x, -0.2), -1.0, 1.0)),
    ("with itself transposed", lambda x: x * x.T.T),
])
def test_elementwise_ops_match_the_whole_tensor(whole, name, op):
    t, _ = whole
    _same(op(_lazy(t, (4, 3))), op(t))


@pytest.mark.parametrize("reduction", ["sum", "mean", "max", "min", "prod", "var", "std", "argmax"])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_reductions_match_the_whole_tensor(whole, reduction, axis):
    t, _ = whole
    x = _lazy(t, (2, 3))
    _same(getattr(x, reduction)(axis=axis), getattr(t, reduction)(axis=axis), exact=reduction in ("max", "min",
                                                                                                  "argmax"))


def test_reduction_with_keepdims_and_a_tree_of_partial_sums(rng):
    t = st.tensor(rng.standard_normal((40, 3)))
    x = _lazy(t, (4, 3))
    _same(x.sum(axis=0, split_every=2), t.sum(axis=0), exact=False)
    _same(x.mean(axis=0, keepdims=True), t.mean(axis=0, keepdims=True), exact=False)


def test_matmul_matches_the_whole_tensor(whole):
    t, u = whole
    x, y = _lazy(t, (4, 3)), _lazy(u, (3, 2))
    _same(x @ y, t @ u, exact=False)
    _same(da.matmul(x, y), t @ u, exact=False)
    _same(da.dot(x, y), t @ u, exact=False)
    _same(x @ _lazy(st.tensor(np.ones(4)), 2), t @ st.ones(4, dtype=st.float64), exact=False)


def test_joins_match_the_whole_tensor(whole):
    t, _ = whole
    x = _lazy(t, (4, 3))
    _same(da.concatenate([x, x * 2], axis=1), st.concatenate([t, t * 2], axis=1))
    _same(da.stack([x, x]), st.stack([t, t]))
    _same(x.reshape(24), t.reshape(24))


def test_map_blocks_sees_tensor_chunks(whole):
    t, _ = whole
    seen = []

    def scaled_tanh(block):
        seen.append(type(block))
        return st.tanh(block) * 2

    result = da.map_blocks(scaled_tanh, _lazy(t, (3, 2)))
    _same(result, st.tanh(t) * 2)
    assert seen and all(kind is st.Tensor for kind in seen)


def test_gradients_flow_through_a_dask_computation(rng):
    t = st.tensor(rng.standard_normal((6, 4)), requires_grad=True)
    x = _lazy(t * 1, (4, 3))  # chunks are slices of a tensor in the graph
    loss = (np.exp(x / 4) * x).sum().compute()
    assert loss.requires_grad
    loss.backward()
    reference = st.tensor(t.numpy(), requires_grad=True)
    (st.exp(reference / 4) * reference).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), reference.grad.numpy(), rtol=1e-12)
