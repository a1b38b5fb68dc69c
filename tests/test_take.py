"""take and take_along_axis: values and int indices against NumPy, gradients against torch.take / index_select /
take_along_dim, gradcheck and gradgradcheck (the gradient is a scatter-add whose own gradient is a take)."""
import numpy as np
import pytest
import torch

import sparktensor as st
from backends import BACKENDS, to_numpy
from differentiable_checks import check_differentiable

pytestmark = pytest.mark.parametrize("device", BACKENDS)


def _array(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


TAKES = [
    ("1-d, repeated and negative", (5,), [4, -1, 0, 0], None,
     lambda t: torch.take(t, torch.tensor([4, 4, 0, 0]))),
    ("flattened 2-d", (2, 3), [[5, 1], [1, 0]], None, lambda t: torch.take(t, torch.tensor([[5, 1], [1, 0]]))),
    ("axis 0", (3, 2), [2, 2, 0], 0, lambda t: torch.index_select(t, 0, torch.tensor([2, 2, 0]))),
    ("negative axis", (2, 3, 4), [3, -4, 1], -1, lambda t: torch.index_select(t, -1, torch.tensor([3, 0, 1]))),
    ("2-d indices", (3, 4), [[0, 1], [1, 1]], 1, lambda t: t[:, torch.tensor([[0, 1], [1, 1]])]),
    ("no indices", (3, 4), np.zeros(0, np.int64), 1, lambda t: t[:, []]),
    ("0-d index", (3, 4), 2, 0, lambda t: t[2]),
]


@pytest.mark.parametrize("shape, indices, axis, torch_fn", [c[1:] for c in TAKES], ids=[c[0] for c in TAKES])
def test_take_against_torch_and_numpy(device, shape, indices, axis, torch_fn):
    a = _array(shape)
    check_differentiable(device, lambda x: st.take(x, st.tensor(indices, device=device), axis=axis), torch_fn, [a],
                         np_fn=lambda v: np.take(v, indices, axis=axis))


ALONG = [
    ("last axis", (3, 4), [[0, 3, 3], [1, 1, 2], [-1, 0, 0]], -1),
    ("first axis", (3, 4), [[2, 0, 1, 1], [0, 0, 0, 2]], 0),
    ("indices broadcast", (3, 4), [[1], [2], [3]], 1),
    ("tensor broadcasts", (1, 4), [[1, 0], [2, 3], [3, 3]], 1),
    ("3-d middle axis", (2, 3, 2), [[[0, 1]], [[2, 2]]], 1),
]


@pytest.mark.parametrize("shape, indices, axis", [c[1:] for c in ALONG], ids=[c[0] for c in ALONG])
def test_take_along_axis_against_torch_and_numpy(device, shape, indices, axis):
    a, index = _array(shape, seed=1), np.array(indices)
    positive = np.where(index < 0, index + a.shape[axis], index)
    check_differentiable(device, lambda x: st.take_along_axis(x, st.tensor(index, device=device), axis=axis),
                         lambda t: torch.take_along_dim(t, torch.tensor(positive), axis), [a],
                         np_fn=lambda v: np.take_along_axis(v, index, axis=axis))


def test_take_along_axis_with_argsort_sorts(device):
    a = _array((3, 5), seed=2)
    x = st.tensor(a, device=device)
    got = st.take_along_axis(x, st.argsort(x, axis=1), axis=1)
    np.testing.assert_array_equal(to_numpy(got), np.sort(a, axis=1))
    flat = st.take_along_axis(x, st.tensor([14, 0], device=device), axis=None)
    np.testing.assert_array_equal(to_numpy(flat), a.reshape(-1)[[14, 0]])


def test_integer_and_empty_inputs(device):
    a = np.arange(12, dtype=np.int32).reshape(3, 4)
    x = st.tensor(a, device=device)
    got = st.take(x, [2, 0], axis=1)
    assert got.dtype == np.int32 and got.device == x.device
    np.testing.assert_array_equal(to_numpy(got), np.take(a, [2, 0], axis=1))
    scalar = st.tensor(1.5, device=device, requires_grad=True)
    np.testing.assert_array_equal(to_numpy(st.take(scalar, [0, -1, 0])), np.take(np.float64(1.5), [0, -1, 0]))
    st.take(scalar, [0, -1, 0]).sum().backward()
    assert float(scalar.grad) == 3.0
    empty = st.zeros((0, 3), device=device)
    assert st.take(empty, st.tensor([1, 2], device=device), axis=1).shape == (0, 2)
    assert st.take_along_axis(empty, st.zeros((0, 2), dtype=st.int64, device=device), axis=1).shape == (0, 2)


def test_errors_name_the_index_axis_and_shape(device):
    x = st.zeros((2, 3), device=device)
    with pytest.raises(IndexError, match=r"index 3 is out of bounds for axis 1 with size 3 .*\(2, 3\)"):
        st.take(x, [0, 3], axis=1)
    with pytest.raises(IndexError, match="index -3 is out of bounds for axis 0 with size 2"):
        st.take(x, [-3], axis=0)
    with pytest.raises(IndexError, match="axis 2 is out of range"):
        st.take(x, [0], axis=2)
    with pytest.raises(TypeError, match="indices must hold integers, not float32"):
        st.take(x, st.tensor([0.0, 1.0], device=device), axis=0)
    with pytest.raises(ValueError, match=r"indices of shape \(2,\) need the rank of the tensor \(shape \(2, 3\)\)"):
        st.take_along_axis(x, st.tensor([0, 1], device=device))
    with pytest.raises(ValueError, match="do not broadcast on the axes other than 1"):
        st.take_along_axis(x, st.zeros((3, 1), dtype=st.int64, device=device), axis=1)
    with pytest.raises(IndexError, match="index 5 is out of bounds for axis 1 with size 3"):
        st.take_along_axis(x, st.tensor([[5], [0]], device=device), axis=1)
