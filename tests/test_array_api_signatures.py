"""The Array API standard's (2024.12) call forms of the statistical, searching, sorting, manipulation and indexing
functions, against NumPy's results for the same calls; gradients through them against PyTorch's."""
import numpy as np
import pytest
import torch

import sparktensor as st
from backends import BACKENDS, to_numpy
from sparktensor.ops.shape import concat, permute_dims

SHAPE = (2, 3, 4)
AXES = [None, 0, -1, (0, 2), (2, 0), (0, 1, 2)]
AXES_OR_NONE = AXES + [()]  # an empty tuple reduces nothing


def _data(device, shape=SHAPE, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape)
    return a, st.tensor(a, device=device)


def _same(got, expected):
    got = to_numpy(got)
    assert got.shape == np.shape(expected) and got.dtype == np.asarray(expected).dtype
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


# ----- statistical functions: f(x, /, *, axis=None, keepdims=False, ...) -----
@pytest.mark.parametrize("device", BACKENDS)
@pytest.mark.parametrize("name", ["sum", "prod", "mean", "max", "min"])
@pytest.mark.parametrize("axis", AXES_OR_NONE)
@pytest.mark.parametrize("keepdims", [False, True])
def test_statistical_functions_take_the_standards_keywords(device, name, axis, keepdims):
    a, x = _data(device)
    _same(getattr(st, name)(x, axis=axis, keepdims=keepdims), getattr(np, name)(a, axis=axis, keepdims=keepdims))


@pytest.mark.parametrize("device", BACKENDS)
@pytest.mark.parametrize("name", ["std", "var"])
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("correction", [0.0, 1.0, 1])
def test_std_and_var_take_a_correction(device, name, axis, correction):
    a, x = _data(device)
    f = getattr(st, name)
    _same(f(x, axis=axis, correction=correction), getattr(np, name)(a, axis=axis, ddof=correction))
    _same(f(x, axis=axis, correction=correction, keepdims=True),
          getattr(np, name)(a, axis=axis, ddof=correction, keepdims=True))
    _same(f(x, correction=correction), getattr(np, name)(a, ddof=correction))


def test_a_bare_var_still_names_both_readings():
    """``var(x)`` alone divides by n in NumPy and the standard but by n - 1 in PyTorch: it raises, naming both."""
    with pytest.raises(TypeError, match="correction=1"):
        st.var(st.tensor([1.0, 2.0, 4.0]))


@pytest.mark.parametrize("device", BACKENDS)
@pytest.mark.parametrize("name", ["sum", "prod"])
def test_sum_and_prod_compute_in_the_given_dtype(device, name):
    a = np.arange(1, 7, dtype=np.int32).reshape(2, 3)
    x = st.tensor(a, device=device)
    for dtype in (st.float64, st.int64, st.float32):
        _same(getattr(st, name)(x, axis=1, dtype=dtype), getattr(np, name)(a, axis=1, dtype=dtype))
    # a float32 tensor summed as float64: the gradient comes back as float32
    t = st.tensor(a.astype(np.float32), device=device, requires_grad=True)
    y = getattr(st, name)(t, dtype=st.float64)
    assert y.dtype == np.float64
    y.backward()
    expected = np.ones_like(a) if name == "sum" else np.prod(a) / a
    assert t.grad.dtype == np.float32
    np.testing.assert_allclose(to_numpy(t.grad), expected, rtol=1e-6)


@pytest.mark.parametrize("device", BACKENDS)
@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_argmax_and_argmin(device, name, axis, keepdims):
    a = np.random.default_rng(1).integers(0, 4, (3, 5)).astype(np.float64)  # ties: the first index wins
    _same(getattr(st, name)(st.tensor(a, device=device), axis=axis, keepdims=keepdims),
          getattr(np, name)(a, axis=axis, keepdims=keepdims))


@pytest.mark.parametrize("device", BACKENDS)
@pytest.mark.parametrize("name", ["all", "any"])
@pytest.mark.parametrize("axis", AXES_OR_NONE)
@pytest.mark.parametrize("keepdims", [False, True])
def test_all_and_any(device, name, axis, keepdims):
    a = np.random.default_rng(2).random(SHAPE) > 0.3
    _same(getattr(st, name)(st.tensor(a, device=device), axis=axis, keepdims=keepdims),
          getattr(np, name)(a, axis=axis, keepdims=keepdims))


def test_gradients_through_the_standards_forms_match_pytorch():
    a = np.random.default_rng(3).standard_normal(SHAPE)
    x, t = st.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y = st.var(x, axis=(0, 2), correction=1.0, keepdims=True) + st.mean(x, axis=(2, 0), keepdims=True) \
        + st.max(x, axis=(0, 2), keepdims=True) * st.std(x, axis=(0, 2), correction=0.0, keepdims=True)
    u = t.var((0, 2), correction=1, keepdim=True) + t.mean((2, 0), keepdim=True) \
        + t.amax((0, 2), keepdim=True) * t.std((0, 2), correction=0, keepdim=True)
    np.testing.assert_allclose(to_numpy(y), u.detach().numpy(), rtol=1e-12)
    y.sum().backward()
    u.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), t.grad.numpy(), rtol=1e-10, atol=1e-12)


# ----- sorting: sort/argsort(x, /, *, axis=-1, descending=False, stable=True) -----
@pytest.mark.parametrize("device", BACKENDS)
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_and_argsort(device, axis, descending):
    a = np.random.default_rng(4).integers(0, 3, (4, 5)).astype(np.float64)  # ties: the sort must be stable
    x = st.tensor(a, device=device)
    key = -a if descending else a  # a stable sort of -a: equal elements keep their order, as the standard asks
    _same(st.sort(x, axis=axis, descending=descending, stable=True), np.take_along_axis(
        a, np.argsort(key, axis=axis, kind="stable"), axis=axis))
    _same(st.argsort(x, axis=axis, descending=descending, stable=True), np.argsort(key, axis=axis, kind="stable"))
    _same(st.sort(x, axis=axis, descending=descending), np.take_along_axis(
        a, np.argsort(key, axis=axis, kind="stable"), axis=axis))


def test_sort_by_axis_gives_values_and_by_dim_gives_values_and_indices():
    x = st.tensor(np.array([[3.0, 1.0, 2.0]]))
    assert isinstance(st.sort(x, axis=-1, descending=True), st.Tensor)
    values, indices = st.sort(x, dim=-1, descending=True)
    _same(values, np.array([[3.0, 2.0, 1.0]]))
    _same(indices, np.array([[0, 2, 1]]))
    with pytest.raises(TypeError, match="reads two ways"):
        st.sort(x)
    with pytest.raises(TypeError, match="one set"):
        st.sort(x, axis=0, dim=0)


# ----- manipulation -----
@pytest.mark.parametrize("device", BACKENDS)
@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_concat(device, axis):
    a, x = _data(device, (2, 3))
    b, y = _data(device, (2, 3), seed=1)
    _same(concat([x, y, x], axis=axis), np.concatenate([a, b, a], axis=axis))
    _same(st.concatenate((x, y), axis=axis), np.concatenate((a, b), axis=axis))


def test_concat_of_flattened_tensors_passes_gradients_back_in_their_shapes():
    a, b = np.arange(6.0).reshape(2, 3), np.arange(4.0)
    x, y = st.tensor(a, requires_grad=True), st.tensor(b, requires_grad=True)
    w = np.random.default_rng(5).standard_normal(10)
    (concat([x, y], axis=None) * st.tensor(w)).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), w[:6].reshape(2, 3))
    np.testing.assert_array_equal(to_numpy(y.grad), w[6:])


def test_concat_names_what_cannot_be_joined():
    with pytest.raises(ValueError, match="0-d"):
        concat([st.tensor(1.0), st.tensor(2.0)])
    with pytest.raises(ValueError, match="same number of dimensions"):
        concat([st.ones((2, 3)), st.ones(3)])
    with pytest.raises(ValueError, match="differ off that axis"):
        concat([st.ones((2, 3)), st.ones((2, 4))], axis=0)


@pytest.mark.parametrize("device", BACKENDS)
def test_manipulation_functions(device):
    a, x = _data(device)
    _same(st.expand_dims(x), np.expand_dims(a, axis=0))
    _same(st.expand_dims(x, axis=-1), np.expand_dims(a, axis=-1))
    _same(st.flip(x), np.flip(a))
    _same(st.flip(x, axis=(0, 2)), np.flip(a, axis=(0, 2)))
    _same(permute_dims(x, axes=(2, 0, 1)), np.permute_dims(a, axes=(2, 0, 1)))
    _same(st.reshape(x, (4, 6)), np.reshape(a, (4, 6)))
    _same(st.reshape(x, (-1,), copy=True), np.reshape(a, (-1,), copy=True))
    _same(st.reshape(x, shape=(6, -1)), np.reshape(a, shape=(6, -1)))
    _same(st.squeeze(st.expand_dims(x, axis=1), axis=1), a)
    _same(st.squeeze(st.reshape(x, (1, 2, 1, 12)), axis=(0, 2)), np.squeeze(a.reshape(1, 2, 1, 12), axis=(0, 2)))
    _same(st.stack([x, x * 2], axis=-1), np.stack([a, a * 2], axis=-1))
    _same(st.broadcast_to(x[:, :1], shape=(5, 2, 3, 4)), np.broadcast_to(a[:, :1], shape=(5, 2, 3, 4)))
    b = np.random.default_rng(6).standard_normal((4, 2))
    _same(st.matmul(x, st.tensor(b, device=device)), np.matmul(a, b))


def test_reshape_copy_flag():
    x = st.tensor(np.arange(6.0).reshape(2, 3))
    view, copied = st.reshape(x, (3, 2), copy=False), st.reshape(x, (3, 2), copy=True)
    assert np.shares_memory(view.data, x.data) and not np.shares_memory(copied.data, x.data)
    with pytest.raises(ValueError, match="cannot be viewed"):
        st.reshape(st.permute(x, (1, 0)), (6,), copy=False)
    y = st.tensor(np.arange(6.0), requires_grad=True)
    (st.reshape(y, (2, 3), copy=True) * st.tensor(np.arange(6.0).reshape(2, 3))).sum().backward()
    np.testing.assert_array_equal(to_numpy(y.grad), np.arange(6.0))


def test_squeeze_of_an_axis_that_is_not_one_raises():
    with pytest.raises(ValueError, match="size 3, not 1"):
        st.squeeze(st.ones((1, 3)), axis=1)


# ----- indexing -----
_I = np.array([2, 0, 2])
_J = np.array([[1], [3]])
KEYS = {
    "int": (1,),
    "negative_int": (-1, 2),
    "slice_step": (slice(None, None, 2),),
    "negative_step": (slice(None), slice(None, None, -2)),
    "ellipsis": (Ellipsis, 1),
    "ellipsis_middle": (0, Ellipsis, slice(1, 3)),
    "none": (None, 1, None),
    "none_ellipsis": (Ellipsis, None),
    "empty_slice": (slice(2, 1),),
    "bool_mask": "mask",
    "bool_mask_leading": "mask2",
    "int_array": (_I,),
    "int_arrays_broadcast": (slice(None), _J, _I[:, None].T),
    "int_arrays_apart": (_I[:2], slice(None), _I[1:]),
    "int_array_and_int": (1, _I),
    "zero_d_int_array": (np.array(1), slice(None)),
}


def _key(name, a):
    key = KEYS[name]
    if key == "mask":
        return a > 0
    if key == "mask2":
        return (a > 0).any(axis=2)
    return key


@pytest.mark.parametrize("device", BACKENDS)
@pytest.mark.parametrize("name", sorted(KEYS))
def test_indexing_follows_numpy(device, name):
    a, x = _data(device, (3, 4, 4))
    key = _key(name, a)
    _same(x[key], a[key])
    _same(x[tuple(st.tensor(k, device=device) if isinstance(k, np.ndarray) else k for k in
                  (key if isinstance(key, tuple) else (key,)))], a[key])


@pytest.mark.parametrize("name", sorted(KEYS))
def test_indexing_gradients_add_up_where_an_element_is_picked_twice(name):
    a = np.random.default_rng(7).standard_normal((3, 4, 4))
    key = _key(name, a)
    x = st.tensor(a, requires_grad=True)
    w = np.random.default_rng(8).standard_normal(a[key].shape)
    (x[key] * st.tensor(w)).sum().backward()
    expected = np.zeros_like(a)
    np.add.at(expected, key, w)
    np.testing.assert_allclose(to_numpy(x.grad), expected, rtol=1e-12)
    assert st.autograd.gradgradcheck(lambda t: t[key] * t[key], [st.tensor(a, requires_grad=True)])


def test_reshape_takes_the_standards_shape_argument_and_the_old_forms():
    import inspect
    assert list(inspect.signature(st.reshape).parameters)[:2] == ["x", "shape"]
    x = st.arange(6)
    for got in (st.reshape(x, (2, 3)), st.reshape(x, shape=(2, 3)), st.reshape(x, 2, 3), x.reshape(shape=(2, 3)),
                x.reshape(2, 3), x.reshape((2, 3))):
        np.testing.assert_array_equal(got.numpy(), np.arange(6).reshape(2, 3))


def test_vecdot_of_small_integers_keeps_their_dtype_as_the_standard():
    a = st.tensor([200, 100, 7], dtype=st.uint8)
    assert st.vecdot(a, a).dtype == np.uint8 == np.vecdot(a.numpy(), a.numpy()).dtype
    assert int(st.vecdot(a, a)) == int(np.vecdot(a.numpy(), a.numpy()))


@pytest.mark.parametrize("name", ["sum", "prod"])
def test_sum_and_prod_give_the_dtype_asked_for_as_numpy(name):
    a = np.array([200, 100, 7], np.uint8)
    for dtype in (np.uint8, np.int16, np.float32):
        got, expected = getattr(st, name)(st.tensor(a), dtype=dtype), getattr(np, name)(a, dtype=dtype)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got.numpy(), expected)
