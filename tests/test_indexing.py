"""Indexing: slices, ints, None, Ellipsis, integer arrays, boolean masks, tensors as indices; item assignment.

Reading is checked three ways (NumPy values, float64 gradcheck, PyTorch values and
gradients); assignment against NumPy doing the same assignment.
"""
import numpy as np
import pytest
import torch

import sparktensor as st
from backends import to_numpy

SHAPE = (4, 3, 5)
MASK4 = np.array([True, False, True, False])
MASK43 = np.array([[True, False, True], [False, False, True], [True, True, False], [False, False, False]])

# (id, index as NumPy spells it); a NumPy array inside is passed to sparktensor as a tensor on the device under test
INDICES = [
    ("int", 1),
    ("negative_int", -1),
    ("ints", (2, 0)),
    ("all_ints", (-1, -2, -3)),
    ("slice", slice(1, 3)),
    ("slice_step", slice(None, None, 2)),
    ("slice_negative_bounds", slice(-3, -1)),
    ("slice_per_axis", (slice(1, None), slice(None, 2), slice(0, 5, 2))),
    ("slice_negative_step", slice(None, None, -1)),
    ("slice_negative_step_bounds", (slice(None), slice(2, 0, -1), slice(4, None, -2))),
    ("empty_slice", slice(3, 1)),
    ("none", None),
    ("none_between", (1, None, slice(None), None)),
    ("ellipsis", (Ellipsis, 1)),
    ("ellipsis_middle", (0, Ellipsis, slice(1, 4))),
    ("ellipsis_none", (Ellipsis, None)),
    ("empty_tuple", ()),
    ("int_array_repeated", [0, 0, 2, 0]),
    ("int_array_negative", [-1, -1, 1]),
    ("int_array_2d", np.array([[0, 1], [1, 1], [3, 0]])),
    ("int_arrays_paired", ([0, 1, 1], [2, 2, 0])),
    ("int_arrays_broadcast", (np.array([[0], [3]]), slice(None), np.array([4, 4, 0]))),
    ("int_array_second_axis", (slice(None), [2, 2, 0])),
    ("int_array_last_axis", (Ellipsis, [4, 0, 4, 4])),
    ("int_and_int_array", (1, [0, 2, 2], slice(1, 4))),
    ("separated_int_arrays", ([1, 1], slice(None), [0, 0])),
    ("int_array_with_none", (None, [1, 1], Ellipsis, slice(None, None, 2))),
    ("numpy_int_array", np.array([3, 3, 3])),
    ("tensor_0d_int", np.array(2)),
    ("mask_first_axis", MASK4),
    ("mask_list", [True, True, False, True]),
    ("mask_two_axes", MASK43),
    ("mask_then_slice", (MASK4, slice(0, 2))),
    ("slice_then_mask", (slice(None), np.array([False, True, True]))),
    ("mask_and_int_array", (MASK4, slice(None), [1, 1])),
    ("all_false_mask", np.zeros(4, dtype=bool)),
    ("empty_int_list", []),
]


def _st_index(index, device):
    """The index for sparktensor: NumPy arrays become tensors on ``device``."""
    if isinstance(index, tuple):
        return tuple(_st_index(i, device) for i in index)
    return st.tensor(index, device=device) if isinstance(index, np.ndarray) else index


def _torch_index(index):
    if isinstance(index, tuple):
        return tuple(_torch_index(i) for i in index)
    if isinstance(index, np.ndarray):
        return torch.from_numpy(index)
    if isinstance(index, list) and not index:
        return torch.tensor([], dtype=torch.long)
    return index


def _has_negative_step(index):
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, slice) and i.step is not None and i.step < 0 for i in parts)


@pytest.mark.parametrize("index", [c[1] for c in INDICES], ids=[c[0] for c in INDICES])
def test_getitem_matches_numpy_gradcheck_and_torch(device, rng, index):
    a = rng.standard_normal(SHAPE)
    x = st.tensor(a, device=device, requires_grad=True)
    y = x[_st_index(index, device)]
    expected = a[index]
    assert y.shape == expected.shape and y.device == x.device
    np.testing.assert_array_equal(to_numpy(y), expected)
    if y.size:
        assert st.autograd.gradcheck(lambda x: x[_st_index(index, device)], [x])
        assert st.autograd.gradgradcheck(lambda x: x[_st_index(index, device)], [x])
    # the gradient scatters back, adding up over repeated indices: NumPy's add.at is the reference
    g = rng.standard_normal(y.shape)
    y.backward(st.tensor(g, device=device))
    expected_grad = np.zeros(SHAPE)
    np.add.at(expected_grad, index, g)
    np.testing.assert_allclose(to_numpy(x.grad), expected_grad, rtol=1e-12)
    if not _has_negative_step(index):  # PyTorch has no negative steps
        t = torch.tensor(a, requires_grad=True)
        ty = t[_torch_index(index)]
        assert tuple(ty.shape) == y.shape
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(to_numpy(x.grad), t.grad.numpy(), rtol=1e-12)


def test_index_tensor_from_the_cpu_works_on_any_device(device):
    x = st.arange(5.0, device=device, requires_grad=True)
    y = x[st.tensor([4, 1, 4])]
    assert y.device == x.device
    np.testing.assert_array_equal(to_numpy(y), [4.0, 1.0, 4.0])
    y.sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [0, 1, 0, 0, 2])


def test_repeated_indices_add_up(device):
    x = st.zeros(4, dtype=st.float64, device=device, requires_grad=True)
    index = [0, 2, 0, 0, 3, 2]
    x[index].sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), np.bincount(index, minlength=4))
    x.grad = None
    (x[st.tensor(index, device=device)] * st.arange(6.0, device=device)).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), np.bincount(index, weights=np.arange(6.0), minlength=4))


def test_mask_from_comparison_is_differentiable(device, rng):
    a = rng.standard_normal((3, 4))
    x = st.tensor(a, device=device, requires_grad=True)
    y = x[x > 0]
    np.testing.assert_array_equal(to_numpy(y), a[a > 0])
    (y * y).sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), np.where(a > 0, 2 * a, 0.0))


def test_float32_index_gradient_keeps_dtype(device):
    x = st.ones(3, 2, device=device, requires_grad=True)
    x[[1, 1], 0].sum().backward()
    assert x.grad.dtype == st.float32
    np.testing.assert_array_equal(to_numpy(x.grad), [[0, 0], [2, 0], [0, 0]])


def test_iterating_yields_differentiable_rows(device, rng):
    a = rng.standard_normal((3, 2))
    x = st.tensor(a, device=device, requires_grad=True)
    rows = list(x)
    assert len(rows) == 3
    for row, expected in zip(rows, a):
        np.testing.assert_array_equal(to_numpy(row), expected)
    (rows[0] * 2 + rows[2]).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [[2, 2], [0, 0], [1, 1]])


def test_basic_index_is_a_view_and_advanced_index_a_copy(device):
    x = st.zeros(3, 4, device=device)
    view, copy = x[1:, ::2], x[[1, 2]]
    x[2, 2] = 5.0
    assert float(view[1, 1]) == 5.0
    assert float(copy[1, 2]) == 0.0


# (id, index, value as NumPy spells it)
ASSIGNMENTS = [
    ("int_scalar", 1, 7.0),
    ("slice_scalar", (slice(None), slice(1, 3)), -2.0),
    ("row_broadcast", slice(None), np.arange(5.0)),
    ("column_broadcast", (Ellipsis, 0), np.array([[1.0], [2.0], [3.0], [4.0]])),
    ("negative_step", slice(None, None, -2), np.ones((3, 5))),
    ("mask", MASK4, 3.5),
    ("mask_two_axes", MASK43, np.arange(5.0)),
    ("int_array", ([0, 3], slice(None), [4, 1]), np.array([10.0, 20.0, 30.0])),
    ("none_and_int", (None, 2, 1), np.arange(5.0)),
]


@pytest.mark.parametrize("index, value", [c[1:] for c in ASSIGNMENTS], ids=[c[0] for c in ASSIGNMENTS])
@pytest.mark.parametrize("value_as_tensor", [False, True], ids=["raw", "tensor"])
def test_setitem_matches_numpy(device, rng, index, value, value_as_tensor):
    a = rng.standard_normal(SHAPE).astype(np.float32)
    x = st.tensor(a, device=device)
    if value_as_tensor:
        value_for_st = st.tensor(value, dtype=st.float32, device=device)
    else:
        value_for_st = value.tolist() if isinstance(value, np.ndarray) else value
    x[_st_index(index, device)] = value_for_st
    a[index] = value
    np.testing.assert_array_equal(to_numpy(x), a)
    assert x.dtype == st.float32 and x.device.startswith(device)


def test_setitem_with_tensor_index_and_integer_tensor(device):
    x = st.arange(6, device=device)
    x[st.tensor([0, 5], device=device)] = st.tensor([-1, -2], device=device)
    x[st.tensor([False, True, False, True, False, False], device=device)] = 9
    np.testing.assert_array_equal(to_numpy(x), [-1, 9, 2, 9, 4, -2])
    assert x.dtype == st.int64


def test_setitem_on_a_leaf_requiring_grad_points_to_where_and_clone(device):
    w = st.zeros(3, device=device, requires_grad=True)
    tw = torch.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError):
        tw[0] = 1.0
    with pytest.raises(RuntimeError, match=r"leaf tensor that requires grad.*st\.where.*clone\(\)"):
        w[0] = 1.0
    np.testing.assert_array_equal(to_numpy(w), [0, 0, 0])


VALUES = {"number": lambda v: 0.0, "row": lambda v: (v * 2).reshape(-1)[:3], "block": lambda v: v * 3,
          "broadcast row": lambda v: v[0] * 5}


@pytest.mark.parametrize("index, value", [((0, slice(None)), "number"), ((slice(None), 1), "row"),
                                          (([0, 2],), "block"), ((np.array([True, False, True]),), "broadcast row")],
                         ids=["row of a number", "column", "integer rows", "mask rows broadcast"])
def test_setitem_on_a_computed_tensor_is_differentiable_as_pytorch(device, rng, index, value):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))

    def run(lib, make):
        w, v = make(a), make(b)
        u = w * 2
        u[index] = VALUES[value](v)
        (u * u).sum().backward()
        return u, w.grad, v.grad

    ours = run(st, lambda x: st.tensor(x, device=device, requires_grad=True))
    theirs = run(torch, lambda x: torch.tensor(x, requires_grad=True))
    for got, expected in zip(ours, theirs):
        if expected is None:
            assert got is None
        else:
            np.testing.assert_allclose(to_numpy(got), expected.detach().numpy(), rtol=1e-12)


def test_setitem_under_no_grad_updates_in_place(device):
    w = st.ones(2, 3, device=device, requires_grad=True)
    with st.no_grad():
        w[0] = st.tensor([1.0, 2.0, 3.0], device=device)
        w[:, -1] *= 0.0
    assert w.requires_grad and w.is_leaf
    np.testing.assert_array_equal(to_numpy(w), [[1, 2, 0], [1, 1, 0]])
    (w * w).sum().backward()
    np.testing.assert_array_equal(to_numpy(w.grad), 2 * to_numpy(w))


def test_setitem_of_a_value_requiring_grad_into_a_plain_tensor_records_it_as_pytorch(device):
    out, tout = st.zeros(3, device=device), torch.zeros(3)
    w, tw = st.ones(2, device=device, requires_grad=True), torch.ones(2, requires_grad=True)
    out[:2], tout[:2] = w * 3, tw * 3
    assert out.requires_grad and not out.is_leaf and tout.requires_grad and not tout.is_leaf
    (out * st.tensor([1.0, 2.0, 3.0], device=device)).sum().backward()
    (tout * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(to_numpy(w.grad), tw.grad.numpy())


def test_a_tensor_saved_for_backward_and_then_assigned_into_raises_at_backward_as_pytorch(device):
    w, tw = st.ones(3, device=device, requires_grad=True), torch.ones(3, requires_grad=True)
    u, tu = w * 2, tw * 2
    y, ty = (u * u).sum(), (tu * tu).sum()  # the product saves u
    u[0], tu[0] = 0.0, 0.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        ty.backward()
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_assigning_a_value_requiring_grad_into_a_view_is_refused(device):
    w = st.ones(2, 3, device=device, requires_grad=True)
    u = w * 1
    with pytest.raises(RuntimeError, match="view"):
        u[0][1] = 5.0


def test_setitem_after_use_in_graph_is_detected_at_backward(device):
    w = st.ones(3, device=device, requires_grad=True)
    c = st.ones(3, device=device)
    y = (w * c).sum()
    c[0] = 2.0
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


@pytest.mark.parametrize("index, pattern", [
    (4, r"index 4 is out of bounds for axis 0 with size 4"),
    (-5, r"index -5 is out of bounds for axis 0 with size 4"),
    ((0, 3), r"index 3 is out of bounds for axis 1 with size 3"),
    ((Ellipsis, 7), r"index 7 is out of bounds for axis 2 with size 5"),
    ([0, 4], r"index 4 is out of bounds for axis 0 with size 4"),
    ((slice(None), [1, -4]), r"index -4 is out of bounds for axis 1 with size 3"),
    ((MASK4, slice(None), [5]), r"index 5 is out of bounds for axis 2 with size 5"),
])
def test_index_out_of_range_names_axis_and_size(device, index, pattern):
    x = st.zeros(*SHAPE, device=device)
    with pytest.raises(IndexError, match=pattern):
        x[_st_index(index, device)]
    with pytest.raises(IndexError, match=pattern):
        x[_st_index(index, device)] = 1.0


@pytest.mark.parametrize("index", [(0, 0, 0, 0), 1.5, np.array([1.0]), np.array([True, False])],
                         ids=["too_many", "float", "float_tensor", "mask_wrong_length"])
def test_invalid_index_raises_index_error_with_shape(device, index):
    x = st.zeros(*SHAPE, device=device)
    with pytest.raises(IndexError, match=r"shape \(4, 3, 5\)"):
        x[_st_index(index, device)]
