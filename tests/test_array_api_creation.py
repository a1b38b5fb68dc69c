"""The Array API's creation functions in the standard's forms (beside the PyTorch-style calls tests/test_creation.py
covers): values and dtypes against NumPy, copy semantics, and the gradients of tril, triu and meshgrid against
PyTorch and numerically, including through NumPy's protocol."""
import numpy as np
import pytest
import torch

import sparktensor as st
from backends import to_numpy

SHAPES = [(3, 4), (4, 2), (2, 3, 3), (1, 2, 4, 4)]
DIAGONALS = [-2, -1, 0, 1, 3]


def _on(x, device):
    return x.device == "cpu" if device == "cpu" else x.device.startswith("cuda:")


STANDARD_CALLS = [
    ("zeros_int", lambda d: st.zeros(4, device=d), np.zeros(4, np.float32)),
    ("zeros_numpy_dtype", lambda d: st.zeros((2, 3), st.int32, device=d), np.zeros((2, 3), np.int32)),
    ("ones_tuple", lambda d: st.ones((2, 0), dtype=st.uint8, device=d), np.ones((2, 0), np.uint8)),
    ("full_complex", lambda d: st.full((2,), 1 + 2j, device=d), np.full(2, 1 + 2j, np.complex64)),
    ("full_bool", lambda d: st.full((), False, device=d), np.full((), False)),
    ("full_0d_tensor", lambda d: st.full(3, st.asarray(2.5, device=d), device=d), np.full(3, 2.5, np.float32)),
    ("arange_float_step", lambda d: st.arange(1, 2, 0.25, dtype=st.float64, device=d), np.arange(1, 2, 0.25)),
    ("arange_empty", lambda d: st.arange(5, 1, device=d), np.arange(5, 1)),
    ("linspace_complex", lambda d: st.linspace(0, 2 + 2j, 5, device=d), np.linspace(0, 2 + 2j, 5, dtype="c8")),
    ("linspace_no_endpoint", lambda d: st.linspace(1, 2, 4, endpoint=False, device=d),
     np.linspace(1, 2, 4, endpoint=False, dtype=np.float32)),
    ("linspace_zero", lambda d: st.linspace(0, 1, 0, device=d), np.linspace(0, 1, 0, dtype=np.float32)),
    ("eye_k", lambda d: st.eye(3, 5, k=2, device=d), np.eye(3, 5, k=2, dtype=np.float32)),
    ("eye_negative_k", lambda d: st.eye(4, k=-1, dtype=st.int8, device=d), np.eye(4, k=-1, dtype=np.int8)),
    ("eye_numpy_positional", lambda d: st.eye(2, 3, 1, st.float64, device=d), np.eye(2, 3, 1, np.float64)),
    ("zeros_like", lambda d: st.zeros_like(st.ones((2, 3), dtype=st.int16, device=d)), np.zeros((2, 3), np.int16)),
    ("ones_like_dtype", lambda d: st.ones_like(st.ones(2, device=d), dtype=st.complex128), np.ones(2, complex)),
    ("full_like", lambda d: st.full_like(st.ones(2, dtype=st.int32, device=d), 7), np.full(2, 7, np.int32)),
    ("asarray_bool", lambda d: st.asarray(True, device=d), np.asarray(True)),
    ("asarray_int", lambda d: st.asarray([[1, 2]], device=d), np.asarray([[1, 2]], np.int64)),
    ("asarray_float", lambda d: st.asarray([1, 2.5], device=d), np.asarray([1, 2.5], np.float32)),
    ("asarray_complex", lambda d: st.asarray(1j, device=d), np.asarray(1j, np.complex64)),
    ("asarray_dtype", lambda d: st.asarray([1, 2], dtype=st.float64, device=d), np.asarray([1.0, 2.0])),
    ("asarray_numpy_keeps_dtype", lambda d: st.asarray(np.arange(3, dtype=np.uint32), device=d),
     np.arange(3, dtype=np.uint32)),
]


@pytest.mark.parametrize("make, expected", [c[1:] for c in STANDARD_CALLS], ids=[c[0] for c in STANDARD_CALLS])
def test_standard_calls_match_numpy(device, make, expected):
    x = make(device)
    assert isinstance(x, st.Tensor) and _on(x, device)
    assert x.dtype == expected.dtype and x.shape == expected.shape
    np.testing.assert_allclose(to_numpy(x), expected, rtol=1e-6)


def test_empty_and_empty_like_take_the_standard_forms(device):
    x = st.empty((2, 3), dtype=st.int64, device=device)
    assert x.shape == (2, 3) and x.dtype == st.int64 and _on(x, device)
    y = st.empty_like(x, dtype=st.float64)
    assert y.shape == (2, 3) and y.dtype == st.float64 and y.device == x.device


def test_creation_refuses_bad_arguments_by_name():
    with pytest.raises(TypeError, match="dtype given twice"):
        st.zeros((2, 3), st.int32, dtype=st.int64)
    with pytest.raises(TypeError, match="k .*must be an int.*dtype="):
        st.eye(2, 2, st.float64)
    with pytest.raises(ValueError, match="num must be a non-negative int"):
        st.linspace(0, 1, 2.5)
    with pytest.raises(ValueError, match="fill_value.*0-d.*\\(2,\\)"):
        st.full(3, st.ones(2))


def test_the_default_float_sets_the_dtype_of_python_floats_and_complex_numbers(device):
    before = st.get_default_dtype()
    st.set_default_dtype(st.float64)
    try:
        made = [st.asarray(1.5, device=device), st.full(2, 1j, device=device), st.linspace(0, 1, 3, device=device),
                st.arange(0.5, 2, device=device), st.eye(2, device=device)]
    finally:
        st.set_default_dtype(before)
    assert [m.dtype for m in made] == [st.float64, st.complex128, st.float64, st.float64, st.float64]


# ----- asarray's copy semantics -----
def test_asarray_shares_copies_or_refuses_as_asked():
    a = np.arange(3.0)
    shared, copied, never = st.asarray(a), st.asarray(a, copy=True), st.asarray(a, copy=False)
    a[0] = 10.0
    assert float(shared[0]) == 10.0 and float(never[0]) == 10.0 and float(copied[0]) == 0.0
    t = torch.arange(3.0, dtype=torch.float64)
    viewed = st.asarray(t, copy=False)
    t[1] = -1.0
    assert float(viewed[1]) == -1.0
    for obj, dtype in [([1.0, 2.0], None), (3.5, None), (np.arange(3.0), st.float32), (np.float64(2.0), None)]:
        with pytest.raises(ValueError, match="copy=False.*without a copy"):
            st.asarray(obj, dtype=dtype, copy=False)


def test_asarray_of_a_tensor_stays_in_the_graph(device):
    w = st.tensor([1.0, 2.0], device=device, requires_grad=True)
    assert st.asarray(w) is w and st.asarray(w, copy=False) is w and st.asarray(w, dtype=st.float32) is w
    copied, converted = st.asarray(w, copy=True), st.asarray(w, dtype=st.float64)
    assert copied is not w and converted.dtype == st.float64
    (copied * 2 + converted * 3).sum().backward()
    np.testing.assert_array_equal(to_numpy(w.grad), [5.0, 5.0])
    with pytest.raises(ValueError, match="copy=False"):
        st.asarray(w, dtype=st.float64, copy=False)


# ----- tril and triu -----
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("k", DIAGONALS)
@pytest.mark.parametrize("name", ["tril", "triu"])
def test_triangles_match_numpy_and_pytorch_gradients(device, rng, shape, k, name):
    a = rng.standard_normal(shape)
    g = rng.standard_normal(shape)
    x = st.tensor(a, device=device, requires_grad=True)
    y = getattr(st, name)(x, k=k)
    np.testing.assert_array_equal(to_numpy(y), getattr(np, name)(a, k))
    t = torch.tensor(a, requires_grad=True)
    getattr(torch, name)(t, diagonal=k).backward(torch.tensor(g))
    y.backward(st.tensor(g, device=device))
    np.testing.assert_array_equal(to_numpy(x.grad), t.grad.numpy())


@pytest.mark.parametrize("name", ["tril", "triu"])
def test_triangles_check_numerically_twice(device, rng, name):
    x = st.tensor(rng.standard_normal((2, 3, 4)), device=device, requires_grad=True)
    op = getattr(st, name)
    assert st.autograd.gradcheck(lambda x: op(x, k=1), [x])
    assert st.autograd.gradgradcheck(lambda x: op(x * x, k=-1), [x])
    z = st.tensor(rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3)), device=device, requires_grad=True)
    assert st.autograd.gradcheck(lambda z: op(z), [z])


@pytest.mark.parametrize("name", ["tril", "triu"])
def test_triangles_keep_integer_dtypes_and_refuse_vectors(device, name):
    a = np.arange(12, dtype=np.int16).reshape(3, 4)
    y = getattr(st, name)(st.asarray(a, device=device), 1)
    assert y.dtype == np.int16
    np.testing.assert_array_equal(to_numpy(y), getattr(np, name)(a, 1))
    with pytest.raises(ValueError, match="at least 2 dimensions.*\\(3,\\)"):
        getattr(st, name)(st.ones(3, device=device))
    with pytest.raises(TypeError, match="k .*must be an int"):
        getattr(st, name)(st.ones((2, 2), device=device), k=0.5)


@pytest.mark.parametrize("name", ["tril", "triu"])
def test_numpy_triangles_on_tensors_keep_the_graph(device, rng, name):
    a = rng.standard_normal((3, 3))
    x = st.tensor(a, device=device, requires_grad=True)
    y = getattr(np, name)(x, -1)
    assert isinstance(y, st.Tensor) and y.grad_fn is not None
    (y * 2).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), getattr(np, name)(np.full((3, 3), 2.0), -1))


# ----- meshgrid -----
MESHES = [((4,),), ((3,), (2,)), ((2,), (3,), (4,)), ((1,), (5,))]


@pytest.mark.parametrize("sizes", MESHES, ids=["one", "two", "three", "size_one"])
@pytest.mark.parametrize("indexing", ["xy", "ij"])
def test_meshgrid_matches_numpy_and_pytorch_gradients(device, rng, sizes, indexing):
    arrays = [rng.standard_normal(s) for s in sizes]
    xs = [st.tensor(a, device=device, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    got, expected = st.meshgrid(*xs, indexing=indexing), np.meshgrid(*arrays, indexing=indexing)
    assert isinstance(got, tuple) and len(got) == len(expected)
    for y, e in zip(got, expected):
        assert y.shape == e.shape and y.dtype == e.dtype
        np.testing.assert_array_equal(to_numpy(y), e)
    weights = [rng.standard_normal(e.shape) for e in expected]
    sum((y * st.tensor(w, device=device)).sum() for y, w in zip(got, weights)).backward()
    sum((y * torch.tensor(w)).sum() for y, w in zip(torch.meshgrid(*ts, indexing=indexing), weights)).backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(to_numpy(x.grad), t.grad.numpy(), rtol=1e-12)


def test_meshgrid_checks_numerically_twice(device, rng):
    x = st.tensor(rng.standard_normal(3), device=device, requires_grad=True)
    y = st.tensor(rng.standard_normal(2), device=device, requires_grad=True)
    assert st.autograd.gradcheck(lambda x, y: st.meshgrid(x, y), [x, y])
    assert st.autograd.gradgradcheck(lambda x, y: [g * g for g in st.meshgrid(x, y, indexing="ij")], [x, y])


def test_meshgrid_copies_mixes_dtypes_and_refuses_matrices(device):
    a, b = st.arange(3, device=device), st.asarray([0.5, 1.5], device=device)
    gx, gy = st.meshgrid(a, b)
    assert gx.dtype == st.int64 and gy.dtype == st.float32 and gx.shape == (2, 3)
    with st.no_grad():
        gx[0, 0] = 9  # a copy of its own, as NumPy's default, so writing leaves the other rows alone
    assert int(gx[1, 0]) == 0 and int(a[0]) == 0
    sparse = st.meshgrid(a, b, sparse=True)
    assert [s.shape for s in sparse] == [s.shape for s in np.meshgrid(np.arange(3), [0.5, 1.5], sparse=True)]
    assert st.meshgrid() == ()
    with pytest.raises(ValueError, match="1-D.*argument 1.*\\(2, 2\\)"):
        st.meshgrid(a, st.ones((2, 2), device=device))
    with pytest.raises(ValueError, match="indexing must be 'xy' or 'ij'"):
        st.meshgrid(a, indexing="yx")


def test_numpy_meshgrid_on_tensors_keeps_the_graph(device, rng):
    x = st.tensor(rng.standard_normal(3), device=device, requires_grad=True)
    gx, gy = np.meshgrid(x, st.tensor([1.0, 2.0], device=device), indexing="ij")
    assert isinstance(gx, st.Tensor) and gx.grad_fn is not None and gx.shape == (3, 2)
    (gx * gy).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [3.0, 3.0, 3.0])


def test_numpy_can_cast_on_tensors_keeps_numpys_meaning():
    for casting in ("no", "equiv", "safe", "same_kind", "unsafe"):
        for source, target in [(st.int8, np.float32), (st.float32, np.float16), (st.int64, np.uint64)]:
            got = np.can_cast(st.ones(2, dtype=source), target, casting=casting)
            assert got == np.can_cast(source, target, casting=casting), (source, target, casting)
