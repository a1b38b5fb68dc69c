"""Creating tensors, dtypes, random streams, conversions between dtypes and devices, and the Tensor's Python API."""
import numpy as np
import pytest
import torch

import sparktensor as st
from backends import CUDA_SKIP, to_numpy


def _on(x, device):
    return x.device == "cpu" if device == "cpu" else x.device.startswith("cuda:")


# ----- st.tensor -----
@pytest.mark.parametrize("data, dtype", [
    (1.5, st.float32),
    ([1.5, 2.0], st.float32),
    ([[1, 2.5], [3, 4]], st.float32),
    (3, st.int64),
    ([[1, 2], [3, 4]], st.int64),
    (True, st.bool),
    ([True, False], st.bool),
    (np.arange(3.0), st.float64),
    (np.ones((2, 2), np.float32), st.float32),
    (np.float64(2.5), st.float64),
    (np.arange(3, dtype=np.int32), st.int32),
    (np.array([1, 2], np.uint8), st.uint8),
    (np.array([True]), st.bool),
], ids=["float", "floats", "mixed_list", "int", "ints", "bool", "bools", "np_float64", "np_float32",
        "np_float64_scalar", "np_int32", "np_uint8", "np_bool"])
def test_tensor_infers_dtype(device, data, dtype):
    x = st.tensor(data, device=device)
    assert x.dtype == dtype and _on(x, device)
    np.testing.assert_array_equal(to_numpy(x), np.asarray(data))
    assert x.shape == np.shape(data) and not x.requires_grad and x.is_leaf


@pytest.mark.parametrize("dtype", [st.float64, st.float16, "float32", "int8", np.int32, float, int, bool])
def test_tensor_dtype_argument_converts(device, dtype):
    data = [[0.0, 1.7], [-2.2, 3.0]]
    x = st.tensor(data, dtype=dtype, device=device)
    assert x.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(to_numpy(x), np.asarray(data).astype(dtype))


def test_tensor_copies_its_data_and_as_tensor_shares_it(device):
    a = np.arange(4.0)
    x, shared = st.tensor(a, device=device), st.as_tensor(a, device=device)
    a[0] = 100.0
    assert float(x[0]) == 0.0
    if device == "cpu":  # only a tensor on the CPU can share the NumPy array's memory
        assert float(shared[0]) == 100.0 and float(st.from_numpy(a)[0]) == 100.0
    w = st.tensor([1.0, 2.0], device=device, requires_grad=True)
    copy = st.tensor(w)
    assert copy.is_leaf and not copy.requires_grad and copy.device == w.device
    np.testing.assert_array_equal(to_numpy(copy), to_numpy(w))


@pytest.mark.parametrize("make", [
    lambda d: st.tensor([1, 2], device=d, requires_grad=True),
    lambda d: st.zeros(2, dtype=st.int64, device=d, requires_grad=True),
    lambda d: st.arange(3, device=d, requires_grad=True),
    lambda d: st.full((2,), 3, device=d, requires_grad=True),
    lambda d: st.ones_like(st.arange(3, device=d), requires_grad=True),
    lambda d: st.eye(2, dtype=st.bool, device=d, requires_grad=True),
    lambda d: st.arange(3, device=d).requires_grad_(),
], ids=["tensor", "zeros", "arange", "full", "ones_like", "eye_bool", "requires_grad_"])
def test_requires_grad_on_non_float_tensor_is_refused(device, make):
    with pytest.raises(RuntimeError, match=r"only floating-point and complex tensors can require gradients.*(int|bool)"):
        make(device)


@pytest.mark.parametrize("make, pattern", [
    (lambda d: st.tensor(np.array([1], np.float128 if hasattr(np, "float128") else np.longdouble), device=d),
     "is not supported"),
    (lambda d: st.tensor(np.array(["2026-01-01"], "datetime64[D]"), device=d), "is not supported"),
    (lambda d: st.tensor("abc", device=d), "cannot make a tensor"),
    (lambda d: st.zeros(2, dtype="no-such-type", device=d), "unknown dtype"),
])
def test_unsupported_dtype_raises_type_error(device, make, pattern):
    with pytest.raises(TypeError, match=pattern):
        make(device)


@pytest.mark.parametrize("make, dtype", [
    (lambda d: st.tensor([1 + 2j], device=d), "complex64"),  # Python complex beside the float32 default
    (lambda d: st.tensor(np.array([1j], np.complex128), device=d), "complex128"),
    (lambda d: st.zeros(2, dtype=np.complex64, device=d), "complex64"),
    (lambda d: st.tensor(np.zeros(2, np.uint16), device=d), "uint16"),
    (lambda d: st.tensor([1, 2], dtype="uint64", device=d), "uint64"),
])
def test_complex_and_unsigned_dtypes_are_tensors(device, make, dtype):
    assert make(device).dtype == np.dtype(dtype)


# ----- filled tensors -----
CREATORS = [
    ("zeros", lambda d: st.zeros(2, 3, device=d), np.zeros((2, 3), np.float32)),
    ("zeros_tuple_dtype", lambda d: st.zeros((2, 3), dtype=st.int32, device=d), np.zeros((2, 3), np.int32)),
    ("zeros_0d", lambda d: st.zeros((), device=d), np.zeros((), np.float32)),
    ("ones", lambda d: st.ones(4, device=d), np.ones(4, np.float32)),
    ("ones_list_float64", lambda d: st.ones([2, 2], dtype=st.float64, device=d), np.ones((2, 2))),
    ("full_int", lambda d: st.full((2, 2), 7, device=d), np.full((2, 2), 7, np.int64)),
    ("full_float", lambda d: st.full(3, 2.5, device=d), np.full(3, 2.5, np.float32)),
    ("full_bool", lambda d: st.full((2,), True, device=d), np.full(2, True)),
    ("full_numpy_int", lambda d: st.full(2, np.int32(4), device=d), np.full(2, 4, np.int64)),
    ("full_numpy_bool", lambda d: st.full(2, np.bool_(False), device=d), np.full(2, False)),
    ("full_dtype", lambda d: st.full([1, 2], 1, dtype=st.float16, device=d), np.full((1, 2), 1, np.float16)),
    ("arange_stop", lambda d: st.arange(5, device=d), np.arange(5, dtype=np.int64)),
    ("arange_step", lambda d: st.arange(2, 11, 3, device=d), np.arange(2, 11, 3, dtype=np.int64)),
    ("arange_negative_step", lambda d: st.arange(5, 0, -2, device=d), np.arange(5, 0, -2, dtype=np.int64)),
    ("arange_float", lambda d: st.arange(0, 1, 0.25, device=d), np.arange(0, 1, 0.25).astype(np.float32)),
    ("arange_float_stop", lambda d: st.arange(3.0, device=d), np.arange(3.0).astype(np.float32)),
    ("arange_dtype", lambda d: st.arange(4, dtype=st.float64, device=d), np.arange(4.0)),
    ("linspace", lambda d: st.linspace(0, 1, 5, device=d), np.linspace(0, 1, 5).astype(np.float32)),
    ("linspace_no_endpoint", lambda d: st.linspace(-1, 1, 4, endpoint=False, dtype=st.float64, device=d),
     np.linspace(-1, 1, 4, endpoint=False)),
    ("eye", lambda d: st.eye(3, device=d), np.eye(3, dtype=np.float32)),
    ("eye_rectangular", lambda d: st.eye(2, 4, dtype=st.int64, device=d), np.eye(2, 4, dtype=np.int64)),
]


@pytest.mark.parametrize("make, expected", [c[1:] for c in CREATORS], ids=[c[0] for c in CREATORS])
def test_creation_matches_numpy(device, make, expected):
    x = make(device)
    assert x.dtype == expected.dtype and x.shape == expected.shape and _on(x, device)
    assert st.get_array_module(x.data) is st.get_array_module(x)
    np.testing.assert_array_equal(to_numpy(x), expected)


def test_empty_has_shape_dtype_and_device(device):
    x = st.empty(2, 3, dtype=st.float16, device=device)
    assert x.shape == (2, 3) and x.dtype == st.float16 and _on(x, device)
    y = st.empty((4,), device=device, requires_grad=True)
    assert y.shape == (4,) and y.dtype == st.float32 and y.requires_grad and y.is_leaf


@pytest.mark.parametrize("source_dtype", [st.float64, st.float16, st.int32, st.bool])
@pytest.mark.parametrize("like, np_like", [
    (st.zeros_like, np.zeros_like),
    (st.ones_like, np.ones_like),
    (lambda x, **kw: st.full_like(x, 1, **kw), lambda a, **kw: np.full_like(a, 1, **kw)),
], ids=["zeros_like", "ones_like", "full_like"])
def test_like_functions_follow_the_source(device, source_dtype, like, np_like):
    a = np.arange(6).reshape(2, 3).astype(source_dtype)
    x = st.tensor(a, device=device)
    y = like(x)
    assert y.dtype == x.dtype and y.shape == x.shape and y.device == x.device
    np.testing.assert_array_equal(to_numpy(y), np_like(a))
    z = like(x, dtype=st.float64)
    assert z.dtype == st.float64
    np.testing.assert_array_equal(to_numpy(z), np_like(a, dtype=np.float64))


def test_full_like_and_empty_like(device):
    a = np.arange(4).reshape(2, 2)
    x = st.tensor(a, device=device)
    np.testing.assert_array_equal(to_numpy(st.full_like(x, 2.7)), np.full_like(a, 2.7))
    e = st.empty_like(x, dtype=st.float32, requires_grad=True)
    assert e.shape == x.shape and e.dtype == st.float32 and e.device == x.device and e.requires_grad


# ----- random -----
def test_rand_and_randn_shapes_dtypes_and_distributions(device):
    u = st.rand(200, 100, device=device)
    assert u.shape == (200, 100) and u.dtype == st.float32 and _on(u, device)
    values = to_numpy(u)
    assert values.min() >= 0.0 and values.max() < 1.0 and abs(values.mean() - 0.5) < 0.02
    n = st.randn((200, 100), dtype=st.float64, device=device)
    assert n.shape == (200, 100) and n.dtype == st.float64 and _on(n, device)
    values = to_numpy(n)
    assert abs(values.mean()) < 0.05 and abs(values.std() - 1.0) < 0.05
    w = st.randn(3, device=device, requires_grad=True)
    assert w.requires_grad and w.is_leaf


@pytest.mark.parametrize("make, low, high, shape", [
    (lambda d: st.randint(3, 7, (50,), device=d), 3, 7, (50,)),
    (lambda d: st.randint(10, (3,), device=d), 0, 10, (3,)),
    (lambda d: st.randint(10, size=(4, 5), device=d), 0, 10, (4, 5)),
    (lambda d: st.randint(-5, -2, 40, device=d), -5, -2, (40,)),
    (lambda d: st.randint(0, 2, (200,), device=d), 0, 2, (200,)),
], ids=["low_high_size", "high_shape", "size_keyword", "negative", "coin"])
def test_randint_numpy_style(device, make, low, high, shape):
    x = make(device)
    assert x.shape == shape and x.dtype == st.int64 and _on(x, device)
    values = to_numpy(x)
    assert values.min() >= low and values.max() < high
    if values.size >= 40:  # both ends show up
        assert values.min() == low and values.max() == high - 1


def test_randint_dtype_and_bad_range(device):
    assert st.randint(0, 5, 3, dtype=st.int32, device=device).dtype == st.int32
    with pytest.raises(ValueError, match=r"high \(2\) must be greater than low \(2\)"):
        st.randint(2, 2, 3, device=device)


def test_random_like_follows_the_source(device):
    x = st.zeros(3, 2, dtype=st.float64, device=device)
    for like in (st.rand_like, st.randn_like):
        y = like(x)
        assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
        assert like(x, dtype=st.float16).dtype == st.float16
        assert like(x, requires_grad=True).requires_grad
    assert to_numpy(st.rand_like(x)).std() > 0


@pytest.mark.parametrize("make", [
    lambda d: st.rand(3, dtype=st.int64, device=d),
    lambda d: st.randn(3, dtype=st.bool, device=d),
    lambda d: st.rand_like(st.arange(3, device=d)),
    lambda d: st.randn_like(st.arange(3, device=d)),
], ids=["rand_int", "randn_bool", "rand_like_int", "randn_like_int"])
def test_random_floats_refuse_integer_dtypes(device, make):
    with pytest.raises(TypeError, match="floating dtype"):
        make(device)


def _draws(device, generator=None):
    return [to_numpy(st.rand(4, device=device, generator=generator)),
            to_numpy(st.randn(2, 3, device=device, generator=generator)),
            to_numpy(st.randint(0, 1000, (5,), device=device, generator=generator))]


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def test_manual_seed_makes_the_stream_reproducible(device):
    st.manual_seed(1234)
    first = _draws(device)
    st.manual_seed(1234)
    assert _same(first, _draws(device))
    st.manual_seed(4321)
    assert not np.array_equal(first[0], _draws(device)[0])


def test_generators_give_independent_reproducible_streams(device):
    a = _draws(device, st.Generator(7))
    st.manual_seed(0)
    st.rand(10, device=device)  # moves the global stream only
    g = st.Generator(7)
    assert _same(a, _draws(device, g))
    assert not np.array_equal(a[0], _draws(device, st.Generator(8))[0])
    # drawing from a generator leaves the global stream alone
    st.manual_seed(5)
    expected = to_numpy(st.rand(6, device=device))
    st.manual_seed(5)
    st.rand(100, device=device, generator=g)
    np.testing.assert_array_equal(to_numpy(st.rand(6, device=device)), expected)


def test_generator_state_round_trip(device):
    g = st.Generator(3)
    st.rand(5, generator=g)
    for _ in range(3):  # repeated draws of one shape, then others, on the device under test
        st.rand(2, 3, device=device, generator=g)
    st.randint(0, 9, (4,), device=device, generator=g)
    st.nn.functional.dropout(st.ones(6, device=device), 0.5, generator=g)
    state = g.get_state()
    expected = [to_numpy(st.randn(4, generator=g)), to_numpy(st.randn(4, device=device, generator=g)),
                to_numpy(st.nn.functional.dropout(st.ones(6, device=device), 0.5, generator=g))]
    g.set_state(state)
    got = [to_numpy(st.randn(4, generator=g)), to_numpy(st.randn(4, device=device, generator=g)),
           to_numpy(st.nn.functional.dropout(st.ones(6, device=device), 0.5, generator=g))]
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    assert g.initial_seed() == 3
    # a state restored in a new generator, as a checkpoint is, gives the same draws
    fresh = st.Generator(0)
    fresh.set_state(state)
    np.testing.assert_array_equal(to_numpy(st.randn(4, generator=fresh)), expected[0])
    np.testing.assert_array_equal(to_numpy(st.randn(4, device=device, generator=fresh)), expected[1])


def test_gpu_generator_state_stays_small_when_a_loop_repeats_its_draws(device):
    if device == "cpu":
        pytest.skip("the CPU stream's state is its bit generator's")
    g = st.Generator(1)
    for _ in range(200):
        st.nn.functional.dropout(st.ones(4, 3, device=device), 0.5, generator=g)
        st.rand(5, device=device, generator=g)
    runs = g.get_state()[st.ones(1, device=device).device]["runs"]
    assert len(runs) == 1 and len(runs[0][0]) == 2 and runs[0][1] == 200


def test_permutation(device):
    p = st.permutation(10, device=device, generator=st.Generator(2))
    assert p.dtype == st.int64 and _on(p, device)
    np.testing.assert_array_equal(np.sort(to_numpy(p)), np.arange(10))
    np.testing.assert_array_equal(to_numpy(p), to_numpy(st.permutation(10, device=device, generator=st.Generator(2))))


# ----- conversions -----
CONVERSIONS = [  # (id, sparktensor conversion, the same in PyTorch, resulting dtype)
    ("to_dtype", lambda x: x.to(st.float32), lambda t: t.to(torch.float32), st.float32),
    ("to_dtype_keyword", lambda x: x.to(dtype=st.float16), lambda t: t.to(dtype=torch.float16), st.float16),
    ("to_device_and_dtype", lambda x: x.to(x.device, st.float32), lambda t: t.to("cpu", torch.float32), st.float32),
    ("astype", lambda x: x.astype("float32"), lambda t: t.float(), st.float32),
    ("st_astype", lambda x: st.astype(x, st.float16), lambda t: t.half(), st.float16),
    ("float", lambda x: x.float(), lambda t: t.float(), st.float32),
    ("half", lambda x: x.half(), lambda t: t.half(), st.float16),
    ("double_after_float", lambda x: x.float().double(), lambda t: t.float().double(), st.float64),
]


@pytest.mark.parametrize("convert, torch_convert, dtype", [c[1:] for c in CONVERSIONS],
                         ids=[c[0] for c in CONVERSIONS])
def test_float_conversions_are_differentiable(device, rng, convert, torch_convert, dtype):
    a = rng.standard_normal((2, 3))
    x = st.tensor(a, device=device, requires_grad=True)
    y = convert(x)
    t = torch.tensor(a, requires_grad=True)
    ty = torch_convert(t)
    assert y.dtype == dtype and y.device == x.device and y.requires_grad
    np.testing.assert_array_equal(to_numpy(y), ty.detach().numpy())
    # a cast is linear up to rounding, so a wide step keeps the rounding out of the difference quotient
    assert st.autograd.gradcheck(lambda x: convert(x).double(), [x], eps=0.5, atol=1e-2, rtol=1e-2)
    g = rng.standard_normal(y.shape).astype(dtype)
    y.backward(st.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    assert x.grad.dtype == st.float64
    np.testing.assert_array_equal(to_numpy(x.grad), t.grad.numpy())


@pytest.mark.parametrize("convert, np_dtype", [
    (lambda x: x.long(), np.int64), (lambda x: x.int(), np.int32), (lambda x: x.bool(), np.bool_),
    (lambda x: x.astype(st.int8), np.int8), (lambda x: x.to(st.uint8), np.uint8),
], ids=["long", "int", "bool", "int8", "uint8"])
def test_conversion_to_integers_leaves_the_graph(device, convert, np_dtype):
    a = np.array([[0.0, 1.7], [2.2, 3.9]])
    x = st.tensor(a, device=device, requires_grad=True)
    y = convert(x)
    assert y.dtype == np_dtype and not y.requires_grad and y.grad_fn is None
    np.testing.assert_array_equal(to_numpy(y), a.astype(np_dtype))
    back = st.tensor([1, 0, 3], device=device).double()
    assert back.dtype == st.float64
    np.testing.assert_array_equal(to_numpy(back), [1.0, 0.0, 3.0])


def test_conversion_to_own_dtype_is_the_tensor_itself(device):
    x = st.ones(2, device=device)
    assert x.float() is x and x.to(st.float32) is x and x.to(device) is x


def test_astype_method_copies_as_numpys_does(device):
    a = np.arange(3.0, dtype=np.float32)
    x = st.tensor(a, device=device)
    for copy in (True, False):
        y, b = x.astype(st.float32, copy=copy), a.astype(np.float32, copy=copy)
        y += 1  # writes through to the source exactly when NumPy's astype shares memory
        b += 1
        np.testing.assert_array_equal(to_numpy(x), a)
    w = st.tensor([1.0, 2.0], device=device, requires_grad=True)
    (w.astype(st.float32) * 3).sum().backward()
    np.testing.assert_array_equal(to_numpy(w.grad), [3.0, 3.0])


def test_astype_needs_a_dtype(device):
    with pytest.raises(TypeError, match="needs a dtype"):
        st.astype(st.ones(2, device=device), None)


def test_clone_is_a_differentiable_copy(device, rng):
    a = rng.standard_normal((2, 3))
    x = st.tensor(a, device=device, requires_grad=True)
    assert st.autograd.gradcheck(st.clone, [x])
    y = x.clone()
    assert y.grad_fn is not None and y.device == x.device
    np.testing.assert_array_equal(to_numpy(y), a)
    (y * 3).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), np.full((2, 3), 3.0))
    plain = st.tensor(a, device=device)
    copy = plain.clone()
    copy[0, 0] = 100.0
    assert float(plain[0, 0]) == a[0, 0]


def test_moving_between_devices_carries_the_gradient_back(device, rng):
    a = rng.standard_normal(3)
    x = st.tensor(a, requires_grad=True)  # on the CPU
    y = x.to(device)
    assert _on(y, device)
    z = (y * y).cpu()
    assert z.device == "cpu"
    (z * st.tensor([1.0, 2.0, 3.0], dtype=st.float64)).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(to_numpy(x.grad), 2 * a * [1.0, 2.0, 3.0])
    w = st.tensor(a, device=device, requires_grad=True)  # and from the device to the CPU and back
    (w.cpu().to(device) * 2).sum().backward()
    assert w.grad.device == w.device
    np.testing.assert_array_equal(to_numpy(w.grad), [2.0, 2.0, 2.0])
    assert x.to("cpu").device == "cpu"


# ----- devices -----
def test_array_module_follows_the_data(device):
    x = st.ones(2, 2, device=device)
    xp = st.get_array_module(x)
    assert xp.__name__ == ("numpy" if device == "cpu" else "cupy")
    assert type(x.data).__module__.split(".")[0] == xp.__name__
    y = (x @ x + 1).sum(axis=0)
    assert st.get_array_module(y) is xp and y.device == x.device


def test_mixing_devices_in_one_op_names_both(device):
    if device == "cpu":
        pytest.skip("needs a GPU to mix devices")
    x, y = st.ones(2, device="cuda"), st.ones(2, device="cpu")
    with pytest.raises(RuntimeError, match=r"(cuda:\d.*cpu|cpu.*cuda:\d)"):
        x + y
    with pytest.raises(RuntimeError, match=r"(cuda:\d.*cpu|cpu.*cuda:\d)"):
        st.cat([x, y])


@pytest.mark.parametrize("make", [
    lambda d: st.zeros(2, device="cuda"),
    lambda d: st.tensor([1.0], device="cuda"),
    lambda d: st.rand(2, device="cuda"),
    lambda d: st.randn(2, device="cuda"),
    lambda d: st.randint(0, 3, (2,), device="cuda"),
    lambda d: st.ones(2, device=d).to("cuda"),
    lambda d: st.ones(2, device=d).cuda(),
], ids=["zeros", "tensor", "rand", "randn", "randint", "to", "cuda"])
def test_cuda_without_a_gpu_says_what_to_install(device, make):
    if CUDA_SKIP is None:
        pytest.skip("CuPy and a GPU are present")
    with pytest.raises(RuntimeError, match=r"CuPy is not installed.*pip install|no CUDA device"):
        make(device)


@pytest.mark.parametrize("make", [
    lambda: st.zeros(2, device="tpu"), lambda: st.tensor([1.0], device="tpu"), lambda: st.rand(2, device="tpu"),
    lambda: st.arange(3, device="tpu"), lambda: st.eye(2, device="cuda:x"),
], ids=["zeros", "tensor", "rand", "arange", "bad_cuda_index"])
def test_unknown_device_raises_value_error(make):
    with pytest.raises(ValueError, match="unknown device.*expected 'cpu', 'cuda' or 'cuda:N'"):
        make()


# ----- the Tensor's Python API -----
def test_properties(device, rng):
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)
    x = st.tensor(a, device=device)
    assert x.shape == a.shape and isinstance(x.shape, tuple)
    assert x.ndim == a.ndim == x.dim() and x.size == a.size == x.numel()
    assert x.dtype == a.dtype and isinstance(x.dtype, np.dtype)
    assert _on(x, device) and isinstance(x.device, str)


def test_conversion_to_python_and_numpy(device, rng):
    a = rng.standard_normal((2, 3))
    x = st.tensor(a, device=device)
    out = x.numpy()
    assert type(out) is np.ndarray and out.dtype == a.dtype
    np.testing.assert_array_equal(out, a)
    np.testing.assert_array_equal(np.asarray(x), a)
    assert np.asarray(x, dtype=np.float32).dtype == np.float32
    assert x.tolist() == a.tolist()
    assert x[1, 2].item() == a[1, 2] and float(x[0, 0]) == a[0, 0]
    assert int(st.tensor(7, device=device)) == 7 and bool(st.tensor([True], device=device))
    with pytest.raises(ValueError, match=r"one element.*\(2, 3\)"):
        x.item()
    with pytest.raises(ValueError, match="ambiguous"):
        bool(x)


def test_len_and_iteration(device):
    a = np.arange(6).reshape(3, 2)
    x = st.tensor(a, device=device)
    assert len(x) == 3
    rows = list(x)
    assert len(rows) == 3 and all(r.shape == (2,) for r in rows)
    np.testing.assert_array_equal(np.stack([to_numpy(r) for r in rows]), a)
    with pytest.raises(TypeError, match="0-d"):
        len(st.tensor(1.0, device=device))


def test_repr_is_readable(device):
    x = st.tensor([1.5, -2.0], device=device)
    text = repr(x)
    assert text.startswith("tensor([") and "1.5" in text and "-2." in text
    assert "dtype" not in text and "requires_grad" not in text and "grad_fn" not in text
    assert ("device" in text) == (device != "cpu")
    assert "dtype=float64" in repr(st.tensor([1.0], dtype=st.float64, device=device))
    assert "dtype=int32" in repr(st.tensor([1], dtype=st.int32, device=device))
    assert "dtype" not in repr(st.tensor([1, 2], device=device))
    w = st.tensor([1.0], device=device, requires_grad=True)
    assert "requires_grad=True" in repr(w)
    assert "grad_fn=<Mul>" in repr(w * 2)
    long = repr(st.zeros(1000, device=device))
    assert "..." in long and len(long) < 200
