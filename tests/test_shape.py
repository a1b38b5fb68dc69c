"""Shape ops: reshape, transpose, squeeze, broadcast, joins, splits, pad, flip, repeat, tile.

Each case runs three ways: forward against NumPy, float64 ``gradcheck``, and
values and gradients against PyTorch.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import sparktensor as st
from backends import to_numpy
from differentiable_checks import torch_repeat


def _as_tuple(y):
    return tuple(y) if isinstance(y, (tuple, list)) else (y,)


def check_op(device, rng, fn, shapes, np_fn=None, torch_fn=None):
    """``fn`` on tensors of ``shapes`` against ``np_fn`` (values), gradcheck, and ``torch_fn`` (values, gradients)."""
    arrays = [rng.standard_normal(s) for s in shapes]
    xs = [st.tensor(a, device=device, requires_grad=True) for a in arrays]
    ys = _as_tuple(fn(*xs))
    if np_fn is not None:
        expected = _as_tuple(np_fn(*arrays))
        assert len(ys) == len(expected)
        for y, e in zip(ys, expected):
            assert y.shape == np.shape(e) and y.device == xs[0].device
            np.testing.assert_allclose(to_numpy(y), e, rtol=1e-12)
    assert st.autograd.gradcheck(fn, [st.tensor(a, device=device, requires_grad=True) for a in arrays])
    assert st.autograd.gradgradcheck(fn, [st.tensor(a, device=device, requires_grad=True) for a in arrays])
    if torch_fn is not None:
        ts = [torch.tensor(a, requires_grad=True) for a in arrays]
        tys = _as_tuple(torch_fn(*ts))
        assert [y.shape for y in ys] == [tuple(t.shape) for t in tys]
        for y, t in zip(ys, tys):
            np.testing.assert_allclose(to_numpy(y), t.detach().numpy(), rtol=1e-12)
        grads = [rng.standard_normal(y.shape) for y in ys]
        st.autograd.backward(ys, [st.tensor(g, device=device) for g in grads])
        torch.autograd.backward(tys, [torch.tensor(g) for g in grads])
        for x, t in zip(xs, ts):
            assert x.grad.dtype == x.dtype and x.grad.shape == x.shape
            np.testing.assert_allclose(to_numpy(x.grad), t.grad.numpy(), rtol=1e-12, atol=1e-12)


def torch_pad(t, pad_width, value=0.0):
    """``np.pad(a, pad_width, constant_values=value)`` spelled for ``torch.nn.functional.pad``."""
    width = np.broadcast_to(np.asarray(pad_width), (t.ndim, 2))
    return F.pad(t, tuple(int(w) for w in width[::-1].reshape(-1)), value=value)


# (id, sparktensor fn, NumPy fn, PyTorch fn or None, input shapes)
CASES = [
    ("reshape_minus1", lambda x: x.reshape(-1, 4), lambda a: a.reshape(-1, 4), lambda t: t.reshape(-1, 4), [(2, 3, 4)]),
    ("reshape_tuple", lambda x: st.reshape(x, (3, -1, 2)), lambda a: a.reshape(3, -1, 2),
     lambda t: t.reshape(3, -1, 2), [(2, 3, 2)]),
    ("reshape_to_0d", lambda x: x.reshape(()), lambda a: a.reshape(()), lambda t: t.reshape(()), [(1, 1)]),
    ("reshape_from_0d", lambda x: x.reshape(1, 1, 1), lambda a: a.reshape(1, 1, 1), lambda t: t.reshape(1, 1, 1), [()]),
    ("view", lambda x: x.view(4, 6), lambda a: a.reshape(4, 6), lambda t: t.view(4, 6), [(2, 3, 4)]),
    ("st_view_minus1", lambda x: st.view(x, -1), lambda a: a.reshape(-1), lambda t: t.view(-1), [(2, 3)]),
    ("transpose_reverses", lambda x: x.transpose(), np.transpose, lambda t: t.permute(2, 1, 0), [(2, 3, 4)]),
    ("T_2d", lambda x: x.T, lambda a: a.T, lambda t: t.T, [(2, 3)]),
    ("T_3d", lambda x: x.T, lambda a: a.T, lambda t: t.permute(2, 1, 0), [(2, 3, 4)]),
    ("mT", lambda x: x.mT, lambda a: np.swapaxes(a, -1, -2), lambda t: t.mT, [(2, 3, 4)]),
    ("transpose_permutation", lambda x: x.transpose(2, 0, 1), lambda a: a.transpose(2, 0, 1),
     lambda t: t.permute(2, 0, 1), [(2, 3, 4)]),
    ("transpose_permutation_tuple", lambda x: st.transpose(x, (1, 2, 0)), lambda a: a.transpose(1, 2, 0),
     lambda t: t.permute(1, 2, 0), [(2, 3, 4)]),
    ("transpose_two_axes_swaps_3d", lambda x: x.transpose(0, 2), lambda a: np.swapaxes(a, 0, 2),
     lambda t: t.transpose(0, 2), [(2, 3, 4)]),
    ("transpose_two_axes_swaps_4d", lambda x: st.transpose(x, -1, 1), lambda a: np.swapaxes(a, -1, 1),
     lambda t: t.transpose(-1, 1), [(2, 3, 1, 4)]),
    ("transpose_2d_pair", lambda x: x.transpose(1, 0), lambda a: a.transpose(1, 0), lambda t: t.transpose(1, 0),
     [(2, 3)]),
    ("transpose_1d", lambda x: x.transpose(), lambda a: a.transpose(), lambda t: t.permute(0), [(3,)]),
    ("permute", lambda x: x.permute(1, 2, 0), lambda a: a.transpose(1, 2, 0), lambda t: t.permute(1, 2, 0),
     [(2, 3, 4)]),
    ("permute_negative", lambda x: st.permute(x, (-1, 0, 1)), lambda a: a.transpose(2, 0, 1),
     lambda t: t.permute(-1, 0, 1), [(2, 3, 4)]),
    ("swapaxes", lambda x: st.swapaxes(x, 0, -1), lambda a: np.swapaxes(a, 0, -1), lambda t: t.swapaxes(0, -1),
     [(2, 3, 4)]),
    ("swapaxes_method", lambda x: x.swapaxes(1, 2), lambda a: np.swapaxes(a, 1, 2), lambda t: t.swapaxes(1, 2),
     [(2, 3, 4, 1)]),
    ("squeeze_all", lambda x: x.squeeze(), np.squeeze, lambda t: t.squeeze(), [(1, 3, 1, 2)]),
    ("squeeze_axis", lambda x: st.squeeze(x, 2), lambda a: np.squeeze(a, 2), lambda t: t.squeeze(2), [(1, 3, 1, 2)]),
    ("squeeze_negative_axis", lambda x: x.squeeze(-2), lambda a: np.squeeze(a, -2), lambda t: t.squeeze(-2),
     [(1, 3, 1, 2)]),
    ("squeeze_axes", lambda x: st.squeeze(x, (0, 2)), lambda a: np.squeeze(a, (0, 2)), lambda t: t.squeeze((0, 2)),
     [(1, 3, 1, 2)]),
    ("squeeze_dim", lambda x: x.squeeze(dim=0), lambda a: np.squeeze(a, 0), lambda t: t.squeeze(dim=0), [(1, 3)]),
    ("unsqueeze_front", lambda x: x.unsqueeze(0), lambda a: np.expand_dims(a, 0), lambda t: t.unsqueeze(0), [(2, 3)]),
    ("unsqueeze_back", lambda x: st.unsqueeze(x, -1), lambda a: np.expand_dims(a, -1), lambda t: t.unsqueeze(-1),
     [(2, 3)]),
    ("unsqueeze_middle", lambda x: x.expand_dims(1), lambda a: np.expand_dims(a, 1), lambda t: t.unsqueeze(1),
     [(2, 3)]),
    ("expand_dims_tuple", lambda x: st.expand_dims(x, (0, -1)), lambda a: np.expand_dims(a, (0, -1)),
     lambda t: t[None, ..., None], [(2, 3)]),
    ("broadcast_to", lambda x: st.broadcast_to(x, (2, 3, 4)), lambda a: np.broadcast_to(a, (2, 3, 4)),
     lambda t: t.expand(2, 3, 4), [(3, 1)]),
    ("broadcast_to_method", lambda x: x.broadcast_to((3, 4)), lambda a: np.broadcast_to(a, (3, 4)),
     lambda t: t.expand(3, 4), [(4,)]),
    ("broadcast_0d", lambda x: st.broadcast_to(x, (2, 3)), lambda a: np.broadcast_to(a, (2, 3)),
     lambda t: t.expand(2, 3), [()]),
    ("expand_minus1_keeps", lambda x: x.expand(2, -1, 4), lambda a: np.broadcast_to(a, (2, 3, 4)),
     lambda t: t.expand(2, -1, 4), [(3, 1)]),
    ("expand_tuple", lambda x: st.expand(x, (2, -1, -1)), lambda a: np.broadcast_to(a, (2, 1, 3)),
     lambda t: t.expand(2, -1, -1), [(1, 3)]),
    ("flatten_all", lambda x: x.flatten(), lambda a: a.reshape(-1), lambda t: t.flatten(), [(2, 3, 4)]),
    ("flatten_middle", lambda x: st.flatten(x, 1, 2), lambda a: a.reshape(2, 12, 1), lambda t: t.flatten(1, 2),
     [(2, 3, 4, 1)]),
    ("flatten_from", lambda x: x.flatten(1), lambda a: a.reshape(2, -1), lambda t: t.flatten(1), [(2, 3, 4)]),
    ("flatten_negative", lambda x: x.flatten(-2, -1), lambda a: a.reshape(2, 12), lambda t: t.flatten(-2, -1),
     [(2, 3, 4)]),
    ("flatten_0d", lambda x: x.flatten(), lambda a: a.reshape(1), lambda t: t.flatten(), [()]),
    ("concatenate_axis0", lambda x, y: st.concatenate([x, y]), lambda a, b: np.concatenate([a, b]),
     lambda a, b: torch.cat([a, b]), [(2, 3), (1, 3)]),
    ("cat_negative_axis", lambda x, y, z: st.cat([x, y, z], axis=-1), lambda a, b, c: np.concatenate([a, b, c], -1),
     lambda a, b, c: torch.cat([a, b, c], dim=-1), [(2, 1), (2, 3), (2, 2)]),
    ("cat_dim", lambda x, y: st.cat((x, y), dim=1), lambda a, b: np.concatenate([a, b], 1),
     lambda a, b: torch.cat([a, b], dim=1), [(2, 2, 3), (2, 1, 3)]),
    ("cat_same_tensor_twice", lambda x: st.cat([x, x * 2]), lambda a: np.concatenate([a, a * 2]),
     lambda t: torch.cat([t, t * 2]), [(3,)]),
    ("stack_axis0", lambda x, y: st.stack([x, y]), lambda a, b: np.stack([a, b]), lambda a, b: torch.stack([a, b]),
     [(2, 3), (2, 3)]),
    ("stack_axis1", lambda x, y, z: st.stack([x, y, z], axis=1), lambda a, b, c: np.stack([a, b, c], 1),
     lambda a, b, c: torch.stack([a, b, c], dim=1), [(2, 3), (2, 3), (2, 3)]),
    ("stack_last", lambda x, y: st.stack([x, y], dim=-1), lambda a, b: np.stack([a, b], -1),
     lambda a, b: torch.stack([a, b], dim=-1), [(2, 3), (2, 3)]),
    ("stack_0d", lambda x, y: st.stack([x, y]), lambda a, b: np.stack([a, b]), lambda a, b: torch.stack([a, b]),
     [(), ()]),
    ("split_sections", lambda x: st.split(x, 3, axis=0), lambda a: np.split(a, 3), lambda t: torch.tensor_split(t, 3),
     [(6, 2)]),
    ("split_sections_axis", lambda x: x.split(2, axis=1), lambda a: np.split(a, 2, axis=1),
     lambda t: torch.tensor_split(t, 2, dim=1), [(2, 4)]),
    ("split_points", lambda x: st.split(x, [1, 4]), lambda a: np.split(a, [1, 4]),
     lambda t: torch.tensor_split(t, [1, 4]), [(6,)]),
    ("split_points_negative_axis", lambda x: st.split(x, [2], axis=-1), lambda a: np.split(a, [2], axis=-1),
     lambda t: torch.tensor_split(t, [2], dim=-1), [(2, 5)]),
    ("split_points_unsorted", lambda x: st.split(x, [4, 2], axis=0), lambda a: np.split(a, [4, 2]),
     lambda t: torch.tensor_split(t, [4, 2]), [(6,)]),
    ("split_points_past_end", lambda x: st.split(x, [2, 9]), lambda a: np.split(a, [2, 9]),
     lambda t: torch.tensor_split(t, [2, 9]), [(5,)]),
    ("split_points_negative", lambda x: st.split(x, [-2]), lambda a: np.split(a, [-2]),
     lambda t: torch.tensor_split(t, [-2]), [(5,)]),
    ("split_numpy_int", lambda x: st.split(x, np.int64(2)), lambda a: np.split(a, 2),
     lambda t: torch.tensor_split(t, 2), [(4,)]),
    ("chunk_uneven", lambda x: st.chunk(x, 3), None, lambda t: torch.chunk(t, 3), [(5, 2)]),
    ("chunk_fewer_pieces", lambda x: x.chunk(4), None, lambda t: torch.chunk(t, 4), [(6,)]),
    ("chunk_axis", lambda x: st.chunk(x, 2, axis=1), None, lambda t: torch.chunk(t, 2, dim=1), [(2, 3)]),
    ("chunk_more_than_size", lambda x: st.chunk(x, 5), None, lambda t: torch.chunk(t, 5), [(3,)]),
    ("pad_int", lambda x: st.pad(x, 1), lambda a: np.pad(a, 1), lambda t: torch_pad(t, 1), [(2, 3)]),
    ("pad_pair", lambda x: x.pad((1, 2)), lambda a: np.pad(a, (1, 2)), lambda t: torch_pad(t, (1, 2)), [(2, 3)]),
    ("pad_per_axis", lambda x: st.pad(x, ((1, 2), (0, 3))), lambda a: np.pad(a, ((1, 2), (0, 3))),
     lambda t: torch_pad(t, ((1, 2), (0, 3))), [(2, 3)]),
    ("pad_one_pair_for_all", lambda x: st.pad(x, ((0, 2),)), lambda a: np.pad(a, ((0, 2),)),
     lambda t: torch_pad(t, ((0, 2),)), [(2, 1, 3)]),
    ("pad_per_axis_symmetric", lambda x: st.pad(x, ((1,), (2,))), lambda a: np.pad(a, ((1,), (2,))),
     lambda t: torch_pad(t, ((1,), (2,))), [(2, 3)]),
    ("pad_value", lambda x: st.pad(x, (2, 1), constant_values=-1.5),
     lambda a: np.pad(a, (2, 1), constant_values=-1.5), lambda t: torch_pad(t, (2, 1), -1.5), [(3,)]),
    ("flip_axis", lambda x: st.flip(x, 1), lambda a: np.flip(a, 1), lambda t: t.flip(1), [(2, 3, 4)]),
    ("flip_axes", lambda x: x.flip((0, -1)), lambda a: np.flip(a, (0, -1)), lambda t: t.flip((0, -1)), [(2, 3, 4)]),
    ("flip_all", lambda x: st.flip(x), np.flip, lambda t: t.flip((0, 1)), [(2, 3)]),
    ("flip_dims", lambda x: st.flip(x, dims=(0,)), lambda a: np.flip(a, 0), lambda t: t.flip(0), [(3, 2)]),
    ("repeat_flat", lambda x: st.repeat(x, 2), lambda a: np.repeat(a, 2), lambda t: torch_repeat(t, 2), [(2, 3)]),
    ("repeat_axis", lambda x: x.repeat(3, axis=1), lambda a: np.repeat(a, 3, axis=1),
     lambda t: torch_repeat(t, 3, 1), [(2, 3)]),
    ("repeat_negative_axis", lambda x: st.repeat(x, 2, axis=-1), lambda a: np.repeat(a, 2, axis=-1),
     lambda t: torch_repeat(t, 2, -1), [(2, 2, 3)]),
    ("repeat_counts_with_zeros", lambda x: st.repeat(x, [0, 2, 0, 1], axis=0),
     lambda a: np.repeat(a, [0, 2, 0, 1], axis=0), lambda t: torch_repeat(t, [0, 2, 0, 1], 0), [(4, 2)]),
    ("repeat_counts_middle_axis", lambda x: st.repeat(x, [3, 1, 2], axis=1),
     lambda a: np.repeat(a, [3, 1, 2], axis=1), lambda t: torch_repeat(t, [3, 1, 2], 1), [(2, 3, 2)]),
    ("repeat_counts_flat", lambda x: st.repeat(x, [1, 0, 2, 0, 0, 3]), lambda a: np.repeat(a, [1, 0, 2, 0, 0, 3]),
     lambda t: torch_repeat(t, [1, 0, 2, 0, 0, 3]), [(2, 3)]),
    ("repeat_counts_trailing_zeros", lambda x: st.repeat(x, [2, 0, 0], axis=1),
     lambda a: np.repeat(a, [2, 0, 0], axis=1), lambda t: torch_repeat(t, [2, 0, 0], 1), [(2, 3)]),
    ("repeat_one_count_broadcasts", lambda x: st.repeat(x, [2], axis=0), lambda a: np.repeat(a, [2], axis=0),
     lambda t: torch_repeat(t, [2], 0), [(3, 2)]),
    ("repeat_counts_array", lambda x: st.repeat(x, np.array([1, 3]), axis=0),
     lambda a: np.repeat(a, [1, 3], axis=0), lambda t: torch_repeat(t, [1, 3], 0), [(2, 2)]),
    ("repeat_zero", lambda x: st.repeat(x, 0, axis=1), lambda a: np.repeat(a, 0, axis=1),
     lambda t: torch_repeat(t, 0, 1), [(2, 3)]),
    ("repeat_0d", lambda x: st.repeat(x, 3), lambda a: np.repeat(a, 3), lambda t: torch_repeat(t, 3), [()]),
    ("tile_1d_reps", lambda x: st.tile(x, 3), lambda a: np.tile(a, 3), lambda t: t.tile((3,)), [(2,)]),
    ("tile_2d", lambda x: x.tile((2, 3)), lambda a: np.tile(a, (2, 3)), lambda t: t.tile((2, 3)), [(2, 3)]),
    ("tile_reps_longer_than_ndim", lambda x: st.tile(x, (2, 1, 3)), lambda a: np.tile(a, (2, 1, 3)),
     lambda t: t.tile((2, 1, 3)), [(2, 3)]),
    ("tile_reps_shorter_than_ndim", lambda x: st.tile(x, 2), lambda a: np.tile(a, 2), lambda t: t.tile((2,)),
     [(2, 1, 3)]),
    ("tile_zero_reps", lambda x: st.tile(x, (0, 2)), lambda a: np.tile(a, (0, 2)), lambda t: t.tile((0, 2)), [(2, 3)]),
    ("tile_0d", lambda x: st.tile(x, (2, 2)), lambda a: np.tile(a, (2, 2)), lambda t: t.tile((2, 2)), [()]),
]


@pytest.mark.parametrize("fn, np_fn, torch_fn, shapes", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_shape_op_matches_numpy_gradcheck_and_torch(device, rng, fn, np_fn, torch_fn, shapes):
    check_op(device, rng, fn, shapes, np_fn, torch_fn)


@pytest.mark.parametrize("shape, axis", [((4, 3), 0), ((2, 6), 1), ((2, 3, 4), -1), ((0, 3), 0)])
@pytest.mark.parametrize("chunks", [1, 2, 3, 4])
def test_chunk_follows_pytorch(device, shape, axis, chunks):
    a = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    pieces = st.chunk(st.tensor(a, device=device), chunks, axis=axis)
    expected = torch.chunk(torch.tensor(a), chunks, dim=axis)
    assert [p.shape for p in pieces] == [tuple(e.shape) for e in expected]
    for p, e in zip(pieces, expected):
        np.testing.assert_array_equal(to_numpy(p), e.numpy())


@pytest.mark.parametrize("sections", [1, 2, 3, [0], [1, 1], [2, 5], [3, 1, 2]])
def test_split_follows_numpy(device, sections):
    a = np.arange(18.0).reshape(6, 3)
    pieces = st.split(st.tensor(a, device=device), sections, axis=0)
    expected = np.split(a, sections)
    assert len(pieces) == len(expected)
    for p, e in zip(pieces, expected):
        np.testing.assert_array_equal(to_numpy(p), e)


@pytest.mark.parametrize("sections", [1, 2, 4, [2, 4], [0, 5, 1], [6]])
def test_split_with_dim_follows_torch(device, sections):
    a = np.arange(18.0).reshape(6, 3)
    for pieces in (st.split(st.tensor(a, device=device), sections, dim=0),
                   st.tensor(a, device=device).split(sections, dim=0)):
        expected = torch.split(torch.tensor(a), sections, dim=0)
        assert [p.shape for p in pieces] == [tuple(e.shape) for e in expected]
        for p, e in zip(pieces, expected):
            np.testing.assert_array_equal(to_numpy(p), e.numpy())


@pytest.mark.parametrize("sections, reading", [
    (4, "torch"),          # NumPy cannot cut 6 into 4 equal pieces: PyTorch's pieces of 4
    ([1, 4], "numpy"),     # sizes that do not add up to 6: NumPy's split points
    ([3, 3], "error"),     # NumPy's points 3, 3 or PyTorch's two pieces of 3
    (2, "error"),          # three pieces of 2 or two of 3
    (1, "error"),          # one piece or six
])
def test_split_without_axis_or_dim_takes_the_one_reading_that_fits(device, sections, reading):
    a = np.arange(18.0).reshape(6, 3)
    x = st.tensor(a, device=device)
    if reading == "error":
        for call in (lambda: x.split(sections), lambda: st.split(x, sections), lambda: x.split(sections, 0)):
            with pytest.raises(TypeError, match=r"axis=0 for NumPy's .* dim=0 for PyTorch's"):
                call()
        return
    expected = np.split(a, sections) if reading == "numpy" else [e.numpy() for e in torch.split(torch.tensor(a), sections)]
    for pieces in (x.split(sections), st.split(x, sections, 0)):
        assert len(pieces) == len(expected)
        for p, e in zip(pieces, expected):
            np.testing.assert_array_equal(to_numpy(p), e)


def test_split_where_both_readings_agree_needs_no_word(device):
    x = st.arange(9.0, device=device)
    assert [p.shape for p in x.split(3)] == [(3,)] * 3  # three pieces of three either way
    with pytest.raises(TypeError, match="one axis"):
        x.split(3, 0, axis=0)


def test_concatenate_mixed_dtypes_promote_and_keep_gradient_dtypes(device):
    x = st.tensor([1.0, 2.0], dtype=st.float32, device=device, requires_grad=True)
    y = st.tensor([3.0, 4.0, 5.0], dtype=st.float64, device=device, requires_grad=True)
    n = st.arange(2, device=device)  # int64, no gradient
    z = st.cat([x, y, n])
    assert z.dtype == np.result_type(np.float32, np.float64, np.int64)
    z.backward(st.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], dtype=st.float64, device=device))
    assert x.grad.dtype == st.float32 and y.grad.dtype == st.float64
    tx = torch.tensor([1.0, 2.0], dtype=torch.float32, requires_grad=True)
    ty = torch.tensor([3.0, 4.0, 5.0], dtype=torch.float64, requires_grad=True)
    torch.cat([tx, ty, torch.arange(2)]).backward(torch.arange(1.0, 8.0, dtype=torch.float64))
    np.testing.assert_array_equal(to_numpy(x.grad), tx.grad.numpy())
    np.testing.assert_array_equal(to_numpy(y.grad), ty.grad.numpy())
    assert n.grad is None


def test_stack_of_tensors_where_only_some_require_grad(device):
    x = st.tensor([1.0, 2.0], dtype=st.float64, device=device, requires_grad=True)
    c = st.tensor([3.0, 4.0], dtype=st.float64, device=device)
    s = st.stack([c, x, c])
    np.testing.assert_array_equal(to_numpy(s), [[3, 4], [1, 2], [3, 4]])
    (s * st.tensor([[1.0], [5.0], [7.0]], dtype=st.float64, device=device)).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [5.0, 5.0])
    assert c.grad is None


def test_reshape_and_transpose_share_memory_like_numpy(device):
    x = st.zeros(2, 3, device=device)
    r, t = x.reshape(3, 2), x.T
    x[0, 1] = 7.0
    assert float(r[0, 1]) == 7.0 and float(t[1, 0]) == 7.0


@pytest.mark.parametrize("make, error, pattern", [
    (lambda x: x.reshape(4, 5), ValueError, r"\(2, 3, 4\).*\(4, 5\)"),
    (lambda x: x.squeeze(1), ValueError, r"axis 1.*size 3, not 1"),
    (lambda x: st.squeeze(x, (0, 2)), ValueError, r"axis 0.*size 2, not 1"),
    (lambda x: x.permute(0, 0, 1), ValueError, "not a permutation"),
    (lambda x: x.transpose(0, 1, 3), IndexError, "out of range"),
    (lambda x: x.unsqueeze(5), IndexError, "out of range"),
    (lambda x: st.broadcast_to(x, (3, 4)), ValueError, r"\(2, 3, 4\) to \(3, 4\)"),
    (lambda x: x.expand(5, 3, 4), ValueError, r"\(2, 3, 4\) to \(5, 3, 4\)"),
    (lambda x: x.flatten(2, 1), ValueError, "start_dim 2 comes after end_dim 1"),
    (lambda x: st.cat([x, st.zeros(2, 2, 2, device=x.device)], axis=0), ValueError, "differ off that axis"),
    (lambda x: st.cat([]), ValueError, "at least one"),
    (lambda x: st.stack([x, x[:1]]), ValueError, "same shape"),
    (lambda x: st.split(x, 3, axis=2), ValueError, "size 4 does not divide into 3"),
    (lambda x: st.split(x, 0), ValueError, "equal pieces"),
    (lambda x: st.chunk(x, 0), ValueError, "must be positive"),
    (lambda x: st.pad(x, -1), ValueError, "non-negative"),
    (lambda x: st.pad(x, ((1, 1), (1, 1))), ValueError, r"does not fit a tensor of shape \(2, 3, 4\)"),
    (lambda x: st.pad(x, 1, mode="mirror"), ValueError, "not supported"),
    (lambda x: st.repeat(x, [1, 2], axis=1), ValueError, r"2 repeat counts for 3 elements"),
    (lambda x: st.repeat(x, -1), ValueError, "non-negative"),
    (lambda x: st.repeat(x, 1.5), ValueError, "non-negative int"),
    (lambda x: st.flip(x, 3), IndexError, "out of range"),
])
def test_shape_errors_are_clear(device, make, error, pattern):
    x = st.zeros(2, 3, 4, device=device)
    with pytest.raises(error, match=pattern):
        make(x)


def test_squeeze_0d_accepts_axis_zero(device):
    x = st.tensor(3.0, device=device)
    assert x.squeeze(0).shape == () and float(x.squeeze(0)) == 3.0


@pytest.mark.parametrize("shape, start, end", [((0, 16, 5, 5), 1, -1), ((3, 0, 5), 1, -1), ((3, 0, 5), 0, -1),
                                               ((2, 0, 4, 3), 1, 2)])
def test_flatten_of_an_empty_tensor_gives_torch_s_shape(device, shape, start, end):
    """An empty batch through ``nn.Flatten`` (LeNet's last, empty batch) is (0, 400), as in PyTorch, where
    reshape with -1 could not tell the merged size."""
    x = st.zeros(shape, device=device, requires_grad=True)
    y = st.flatten(x, start, end)
    assert y.shape == tuple(torch.flatten(torch.zeros(shape), start, end).shape)
    assert st.nn.Flatten()(x).shape == tuple(torch.nn.Flatten()(torch.zeros(shape)).shape)
    y.sum().backward()
    assert x.grad.shape == shape
