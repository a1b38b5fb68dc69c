"""The Array API's manipulation and searching functions: roll, moveaxis, broadcast_arrays, unstack, repeat, tile,
nonzero, count_nonzero, searchsorted, where; and their NumPy spellings on tensors, which keep the graph.

Differentiable ones are checked against PyTorch (values and gradients), with gradcheck and gradgradcheck.
"""
import numpy as np
import pytest
import torch

import sparktensor as st
from backends import BACKENDS, to_numpy
from differentiable_checks import check_differentiable, torch_repeat

pytestmark = pytest.mark.parametrize("device", BACKENDS)


def _arrays(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


MANIPULATIONS = [
    ("roll flattened", lambda x: st.roll(x, 2), lambda t: torch.roll(t, 2), [(3, 4)]),
    ("roll 1-d past its length", lambda x: st.roll(x, -7), lambda t: torch.roll(t, -7), [(5,)]),
    ("roll one negative axis", lambda x: st.roll(x, 1, axis=-1), lambda t: torch.roll(t, 1, -1), [(2, 3, 4)]),
    ("roll two axes", lambda x: st.roll(x, (1, -2), axis=(0, 2)), lambda t: torch.roll(t, (1, -2), (0, 2)),
     [(2, 3, 4)]),
    ("roll one shift, two axes", lambda x: st.roll(x, 1, axis=(0, 1)), lambda t: torch.roll(t, (1, 1), (0, 1)),
     [(2, 3)]),
    ("roll empty", lambda x: st.roll(x, 1, axis=1), lambda t: torch.roll(t, 1, 1), [(0, 3)]),
    ("moveaxis first to last", lambda x: st.moveaxis(x, 0, -1), lambda t: torch.movedim(t, 0, -1), [(2, 3, 4)]),
    ("moveaxis two", lambda x: st.moveaxis(x, (0, 1), (2, 0)), lambda t: torch.movedim(t, (0, 1), (2, 0)),
     [(2, 3, 4)]),
    ("broadcast_arrays", lambda *xs: st.broadcast_arrays(*xs), lambda *ts: torch.broadcast_tensors(*ts),
     [(3, 1), (1, 4), (4,)]),
    ("broadcast_arrays 0-d", lambda *xs: st.broadcast_arrays(*xs), lambda *ts: torch.broadcast_tensors(*ts),
     [(), (2, 3)]),
    ("unstack", lambda x: st.unstack(x), lambda t: torch.unbind(t), [(3, 4)]),
    ("unstack negative axis", lambda x: st.unstack(x, axis=-1), lambda t: torch.unbind(t, -1), [(2, 3, 4)]),
    ("repeat flattened", lambda x: st.repeat(x, 2), lambda t: torch_repeat(t, 2), [(2, 3)]),
    ("repeat counts", lambda x: st.repeat(x, [2, 0, 3], axis=1), lambda t: torch_repeat(t, [2, 0, 3], 1), [(2, 3)]),
    ("repeat tensor counts", lambda x: st.repeat(x, st.tensor([1, 2]), axis=-2),
     lambda t: torch_repeat(t, [1, 2], 0), [(2, 3)]),
    ("repeat one count", lambda x: st.repeat(x, [3], axis=0), lambda t: torch_repeat(t, 3, 0), [(2, 2)]),
    ("repeat 0-d", lambda x: st.repeat(x, 3), lambda t: torch_repeat(t, 3), [()]),
    ("tile", lambda x: st.tile(x, (2, 1, 3)), lambda t: torch.tile(t, (2, 1, 3)), [(2, 3)]),
    ("tile fewer reps", lambda x: st.tile(x, (2,)), lambda t: torch.tile(t, (2,)), [(2, 3)]),
]


@pytest.mark.parametrize("fn, torch_fn, shapes", [c[1:] for c in MANIPULATIONS], ids=[c[0] for c in MANIPULATIONS])
def test_manipulation_against_torch(device, fn, torch_fn, shapes):
    check_differentiable(device, fn, torch_fn, _arrays(*shapes))


def test_values_and_dtypes_against_numpy(device):
    a = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    x = st.tensor(a, device=device)
    for got, expected in [(st.roll(x, 5), np.roll(a, 5)), (st.roll(x, (1, 2), axis=(2, 0)), np.roll(a, (1, 2), (2, 0))),
                          (st.moveaxis(x, -1, 0), np.moveaxis(a, -1, 0)),
                          (st.repeat(x, [1, 0, 2], axis=1), np.repeat(a, [1, 0, 2], axis=1)),
                          (st.repeat(x, 2, 2), np.repeat(a, 2, 2)), (st.tile(x, 2), np.tile(a, 2))]:
        assert got.dtype == expected.dtype and got.device == x.device
        np.testing.assert_array_equal(to_numpy(got), expected)
    pieces = st.unstack(x, axis=1)
    assert isinstance(pieces, tuple) and len(pieces) == 3
    for got, expected in zip(pieces, np.unstack(a, axis=1)):
        np.testing.assert_array_equal(to_numpy(got), expected)
    assert st.unstack(st.zeros((0, 2), device=device)) == ()
    out = st.broadcast_arrays(x, st.tensor([1.0], device=device))
    assert isinstance(out, list) and [o.shape for o in out] == [(2, 3, 4)] * 2 and out[0].dtype == np.int32


def test_unstack_pieces_without_gradient_count_as_zeros(device):
    a = _arrays((3, 2))[0]
    x = st.tensor(a, device=device, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    (st.unstack(x)[1] * 3).sum().backward()
    (torch.unbind(t)[1] * 3).sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), t.grad.numpy())


def test_manipulation_errors_name_the_problem(device):
    x = st.zeros((2, 3), device=device)
    with pytest.raises(IndexError, match="axis 2 is out of range .* 2 dimension"):
        st.roll(x, 1, axis=2)
    with pytest.raises(ValueError, match="needs one int per axis"):
        st.roll(x, (1, 2), axis=0)
    with pytest.raises(IndexError, match="destination axis -3"):
        st.moveaxis(x, 0, -3)
    with pytest.raises(ValueError, match="2 source axes"):
        st.moveaxis(x, (0, 1), 0)
    with pytest.raises(ValueError, match=r"shapes \[\(2, 3\), \(4,\)\] do not broadcast"):
        st.broadcast_arrays(x, st.zeros(4, device=device))
    with pytest.raises(ValueError, match="0-d"):
        st.unstack(st.tensor(1.0, device=device))
    with pytest.raises(ValueError, match="2 repeat counts for 3 elements along axis 1"):
        st.repeat(x, [1, 2], axis=1)
    with pytest.raises(ValueError, match="non-negative"):
        st.repeat(x, [1, -1, 2], axis=1)


def test_old_repeat_call_forms_still_work(device):
    x = st.tensor([[1.0, 2.0]], device=device)
    np.testing.assert_array_equal(to_numpy(st.repeat(x, 2, 0)), np.repeat([[1.0, 2.0]], 2, 0))
    np.testing.assert_array_equal(to_numpy(st.repeat(x, repeats=[1, 2], axis=1)), [[1.0, 2.0, 2.0]])


# ----- searching -----
def test_nonzero_against_numpy(device):
    a = np.array([[0, 1.5, 0], [2, 0, -1]])
    for data in (a, a[:0], a.astype(bool), a[0]):
        got = st.nonzero(st.tensor(data, device=device))
        expected = np.nonzero(data)
        assert isinstance(got, tuple) and len(got) == len(expected)
        for g, e in zip(got, expected):
            assert g.dtype == np.int64 and not g.requires_grad
            np.testing.assert_array_equal(to_numpy(g), e)
    with pytest.raises(ValueError, match="0-d"):
        st.nonzero(st.tensor(1.0, device=device))


@pytest.mark.parametrize("axis, keepdims", [(None, False), (None, True), (0, False), (-1, True), ((0, 2), False)])
def test_count_nonzero_against_numpy(device, axis, keepdims):
    a = np.random.default_rng(1).integers(-1, 2, (3, 4, 2)).astype(np.float32)
    got = st.count_nonzero(st.tensor(a, device=device, requires_grad=True), axis=axis, keepdims=keepdims)
    expected = np.count_nonzero(a, axis=axis, keepdims=keepdims)
    assert got.dtype == np.int64 and not got.requires_grad and got.shape == np.shape(expected)
    np.testing.assert_array_equal(to_numpy(got), expected)


@pytest.mark.parametrize("side", ["left", "right"])
def test_searchsorted_against_numpy(device, side):
    rng = np.random.default_rng(2)
    sorted_values = np.array([0.0, 1.0, 1.0, 2.5, 4.0])
    shuffled = rng.permutation(sorted_values)
    queries = np.array([[-1.0, 1.0, 2.0], [4.0, 5.0, 2.5]])
    x1, x2 = st.tensor(sorted_values, device=device), st.tensor(queries, device=device)
    for got, expected in [
            (st.searchsorted(x1, x2, side=side), np.searchsorted(sorted_values, queries, side=side)),
            (st.searchsorted(st.tensor(shuffled, device=device), x2, side=side,
                             sorter=st.argsort(st.tensor(shuffled, device=device))),
             np.searchsorted(shuffled, queries, side=side, sorter=np.argsort(shuffled))),
            (st.searchsorted(x1, 1.0, side=side), np.searchsorted(sorted_values, 1.0, side=side))]:
        assert got.dtype == np.int64 and got.shape == np.shape(expected)
        np.testing.assert_array_equal(to_numpy(got), expected)
    with pytest.raises(ValueError, match=r"x1 must be 1-D .* \(2, 3\)"):
        st.searchsorted(x2, x1)
    with pytest.raises(ValueError, match="side must be"):
        st.searchsorted(x1, x2, side="middle")


def test_where_takes_the_standards_scalars(device):
    condition = st.tensor([True, False, True], device=device)
    y = st.tensor([1.0, 2.0, 3.0], dtype=st.float32, device=device)
    out = st.where(condition, 0.5, y)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(to_numpy(out), [0.5, 2.0, 0.5])
    np.testing.assert_array_equal(to_numpy(st.where(condition, y, 7)), [1.0, 7.0, 3.0])


# ----- NumPy's spellings on tensors -----
NUMPY_CALLS = [
    ("roll", lambda x: np.roll(x, 1, axis=0), lambda t: torch.roll(t, 1, 0)),
    ("moveaxis", lambda x: np.moveaxis(x, 0, 1), lambda t: torch.movedim(t, 0, 1)),
    ("repeat", lambda x: np.repeat(x, [2, 1, 0], axis=1), lambda t: torch_repeat(t, [2, 1, 0], 1)),
    ("broadcast_arrays", lambda x: np.broadcast_arrays(x, np.ones((2, 1, 1)))[0],
     lambda t: torch.broadcast_to(t, (2, 2, 3))),
    ("unstack", lambda x: np.unstack(x, axis=1)[2], lambda t: torch.unbind(t, 1)[2]),
    ("take", lambda x: np.take(x, [[2, 0]], axis=1), lambda t: t[:, [[2, 0]]]),
    ("take flattened", lambda x: np.take(x, [5, 5, 0]), lambda t: torch.take(t, torch.tensor([5, 5, 0]))),
    ("take_along_axis", lambda x: np.take_along_axis(x, np.array([[0, 0], [2, 1]]), axis=1),
     lambda t: torch.take_along_dim(t, torch.tensor([[0, 0], [2, 1]]), 1)),
    ("cumsum", lambda x: np.cumsum(x), lambda t: torch.cumsum(t.reshape(-1), 0)),
    ("cumprod", lambda x: np.cumprod(x, axis=1), lambda t: torch.cumprod(t, 1)),
    ("cumulative_sum", lambda x: np.cumulative_sum(x, axis=0, include_initial=True),
     lambda t: torch.cat([torch.zeros(1, 3), torch.cumsum(t, 0)])),
    ("diff", lambda x: np.diff(x, n=2), lambda t: torch.diff(t, n=2)),
    ("where", lambda x: np.where(x > 0, x, 0.0), lambda t: torch.where(t > 0, t, 0.0)),
]


@pytest.mark.parametrize("call, torch_call", [c[1:] for c in NUMPY_CALLS], ids=[c[0] for c in NUMPY_CALLS])
def test_numpy_functions_keep_the_graph(device, call, torch_call):
    a = _arrays((2, 3), seed=3)[0]
    x = st.tensor(a, device=device, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    y, ty = call(x), torch_call(t)
    assert isinstance(y, st.Tensor) and y.requires_grad
    np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=1e-12)
    u = np.random.default_rng(4).standard_normal(y.shape)
    y.backward(st.tensor(u, device=device))
    ty.backward(torch.tensor(u))
    np.testing.assert_allclose(to_numpy(x.grad), t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_numpy_index_functions_give_int64_tensors(device):
    a = np.array([[0.0, 2.0, 2.0], [1.0, 0.0, 3.0]])
    x = st.tensor(a, device=device, requires_grad=True)
    # a number where NumPy gives one; CuPy gives a 0-d array, so on the GPU a 0-d tensor
    count = np.count_nonzero(x)
    assert count == np.count_nonzero(a) and type(count) is (type(np.count_nonzero(a)) if device == "cpu" else st.Tensor)
    for got, expected in [(np.nonzero(x), np.nonzero(a)), (np.nonzero(x > 1), np.nonzero(a > 1)),
                          ((np.count_nonzero(x, axis=0),), (np.count_nonzero(a, axis=0),)),
                          ((np.searchsorted(x[1], [0.5, 3.0]),), (np.searchsorted(a[1], [0.5, 3.0]),)),
                          (np.unique(x, return_counts=True), np.unique(a, return_counts=True))]:
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert isinstance(g, st.Tensor) and g.dtype == e.dtype and not g.requires_grad
            np.testing.assert_array_equal(to_numpy(g), e)
    with pytest.raises(TypeError, match="numpy.take: argument.*mode"):
        np.take(x, [0], mode="clip")
