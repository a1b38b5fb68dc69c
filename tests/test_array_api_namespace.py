"""sparktensor as an Array API 2024.12 namespace: the namespace object, its info, dtypes and promotion, the data
type functions, and the array object's conversions, attributes and DLPack, compared with NumPy 2 and PyTorch."""
import itertools
import operator
import warnings

import numpy as np
import pytest
import torch

import sparktensor as st
from backends import to_numpy

STANDARD = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64",
            "complex64", "complex128"]
KINDS = ["bool", "signed integer", "unsigned integer", "integral", "real floating", "complex floating", "numeric"]
FAMILIES = [{"bool"}, {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"},
            {"float32", "float64", "complex64", "complex128"}]


def _same_family(a, b):
    return any(a in f and b in f for f in FAMILIES)


# ----- the namespace -----
def test_the_namespace_of_a_tensor_is_the_package(device):
    x = st.ones(2, device=device)
    assert x.__array_namespace__() is st and st.__array_api_version__ == "2024.12"
    for version in ("2021.12", "2022.12", "2023.12", "2024.12"):
        assert x.__array_namespace__(api_version=version) is st
    with pytest.raises(ValueError, match="2020.10.*not supported"):
        x.__array_namespace__(api_version="2020.10")


def test_the_namespace_defines_the_creation_and_data_type_names_and_constants():
    names = ["arange", "asarray", "empty", "empty_like", "eye", "from_dlpack", "full", "full_like", "linspace",
             "meshgrid", "ones", "ones_like", "tril", "triu", "zeros", "zeros_like", "astype", "can_cast", "finfo",
             "iinfo", "isdtype", "result_type", "__array_namespace_info__"] + STANDARD
    assert [n for n in names if not hasattr(st, n)] == []
    assert [getattr(st, n) == np.dtype(n) for n in STANDARD] == [True] * len(STANDARD)
    assert st.float16 == np.float16
    assert (st.e, st.pi, st.inf, st.newaxis) == (np.e, np.pi, np.inf, np.newaxis) and np.isnan(st.nan)
    assert all(type(getattr(st, c)) is float for c in ("e", "pi", "inf", "nan"))


def test_info_capabilities_and_devices():
    info = st.__array_namespace_info__()
    caps = info.capabilities()
    assert caps["boolean indexing"] and caps["data-dependent shapes"] and caps["max dimensions"] == 64
    assert info.default_device() == "cpu" and info.devices()[0] == "cpu"
    x = st.zeros((1,) * caps["max dimensions"])  # the limit is real: NumPy's own
    assert x.ndim == caps["max dimensions"] and st.ones(3)[st.tensor([True, False, True])].shape == (2,)
    with pytest.raises(ValueError, match="unknown device"):
        info.dtypes(device="tpu")


@pytest.mark.parametrize("default", [st.float32, st.float64])
def test_info_default_dtypes_follow_the_default_float(default):
    before = st.get_default_dtype()
    st.set_default_dtype(default)
    try:
        found = st.__array_namespace_info__().default_dtypes()
        made = {"real floating": st.asarray(1.5).dtype, "complex floating": st.asarray(1j).dtype,
                "integral": st.asarray(1).dtype, "indexing": st.argmax(st.ones(3)).dtype}
    finally:
        st.set_default_dtype(before)
    assert found == made and found["real floating"] == default
    assert found["complex floating"] == np.result_type(default, np.complex64)


@pytest.mark.parametrize("kind", [None, *KINDS, ("bool", "unsigned integer"), st.int16])
def test_info_dtypes_by_kind_match_numpy(kind):
    found = st.__array_namespace_info__().dtypes(kind=kind)
    expected = {n: np.dtype(n) for n in STANDARD if kind is None or np.isdtype(np.dtype(n), kind)}
    assert found == expected


# ----- data type functions -----
@pytest.mark.parametrize("kind", [*KINDS, ("real floating", "complex floating"), "int32", "float16"])
def test_isdtype_matches_numpy(kind):
    as_kind = np.dtype(kind) if kind in ("int32", "float16") else kind
    for name in STANDARD + ["float16"]:
        assert st.isdtype(np.dtype(name), as_kind) == np.isdtype(np.dtype(name), as_kind), (name, kind)


def test_isdtype_refuses_arrays_and_unknown_kinds():
    with pytest.raises(TypeError, match="not an array.*x.dtype"):
        st.isdtype(st.ones(2), "numeric")
    with pytest.raises(ValueError, match="unknown kind 'floating'"):
        st.isdtype(st.float32, "floating")


@pytest.mark.parametrize("name", ["float16", "float32", "float64", "complex64", "complex128"])
def test_finfo_matches_numpy_as_python_floats(name):
    expected = np.finfo(name)
    for given in (np.dtype(name), st.zeros(2, dtype=name)):
        got = st.finfo(given)
        assert got.bits == expected.bits and got.dtype == expected.dtype
        for field in ("eps", "max", "min", "smallest_normal"):
            assert type(getattr(got, field)) is float and getattr(got, field) == float(getattr(expected, field))


@pytest.mark.parametrize("name", ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"])
def test_iinfo_matches_numpy_as_python_ints(name):
    expected, got = np.iinfo(name), st.iinfo(st.zeros(1, dtype=name))
    assert (got.bits, got.max, got.min, got.dtype) == (expected.bits, expected.max, expected.min, np.dtype(name))
    assert type(got.max) is int and got == st.iinfo(np.dtype(name))


def test_finfo_and_iinfo_name_the_other():
    with pytest.raises(TypeError, match="int32.*use iinfo"):
        st.finfo(st.int32)
    with pytest.raises(TypeError, match="float32.*use finfo"):
        st.iinfo(st.ones(1))


def _bits(name):
    return int("".join(c for c in name if c.isdigit()))


def _standard_promotion(a, b):
    """The standard's promotion table, written from its rules (not NumPy's): the result of two dtype names, or
    None where the standard defines none (across kinds, int64 with uint64)."""
    if a == b:
        return a
    if not _same_family(a, b) or "bool" in (a, b):
        return None
    if "int" in a:
        (sa, ba), (sb, bb) = (("u" not in n, _bits(n)) for n in (a, b))
        if sa == sb:
            return a if ba > bb else b
        signed, unsigned = (ba, bb) if sa else (bb, ba)
        if signed > unsigned:
            return f"int{signed}"
        return None if unsigned == 64 else f"int{2 * unsigned}"
    precision = max(_bits(n) // (2 if "complex" in n else 1) for n in (a, b))
    return f"complex{2 * precision}" if "complex" in a + b else f"float{precision}"


def test_can_cast_allows_what_promotion_implies_and_numpys_safe_casts():
    for a, b in itertools.product(STANDARD, repeat=2):
        implied = any(_standard_promotion(a, other) == b for other in STANDARD)
        got = st.can_cast(np.dtype(a), np.dtype(b))
        assert type(got) is bool and got == np.can_cast(a, b, "safe"), (a, b)
        assert got or not implied, (a, b)
        assert st.can_cast(st.zeros(1, dtype=a), np.dtype(b)) == got, (a, b)
    assert not st.can_cast(st.int64, st.uint64) and not st.can_cast(st.float64, st.complex64)


@pytest.mark.parametrize("a, b", list(itertools.product(STANDARD, repeat=2)))
def test_promotion_of_every_pair_matches_numpy(a, b):
    x, y = np.ones(3, a), np.ones((2, 1), b)
    expected = np.result_type(x, y)
    tx, ty = st.asarray(x), st.asarray(y)
    assert st.result_type(tx, ty) == st.result_type(np.dtype(a), ty) == st.result_type(a, b) == expected
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for op in (operator.add, operator.mul, operator.sub if "bool" not in (a, b) else operator.eq):
            got = op(tx, ty)
            assert got.dtype == op(x, y).dtype and got.shape == (2, 3), (op, a, b)
            np.testing.assert_array_equal(to_numpy(got), op(x, y))
    standard = _standard_promotion(a, b)
    assert standard is None or np.dtype(standard) == expected, (a, b, standard)


SCALAR_OPS = {"add": operator.add, "radd": lambda a, s: s + a, "mul": operator.mul, "rsub": lambda a, s: s - a,
              "pow": operator.pow, "eq": operator.eq, "lt": operator.lt}


@pytest.mark.parametrize("name", STANDARD)
@pytest.mark.parametrize("scalar", [True, 3, -3, 1.5, 2j])
def test_python_scalars_are_weak_as_in_numpy(name, scalar):
    x = np.ones(2, name)
    for op_name, op in SCALAR_OPS.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                expected = op(x, scalar).dtype
        except (TypeError, OverflowError, ValueError) as e:
            with pytest.raises(type(e)):
                op(st.asarray(x), scalar)
            continue
        assert op(st.asarray(x), scalar).dtype == expected, (op_name, name, scalar)
    try:
        expected = (x + scalar).dtype
    except (TypeError, OverflowError):
        return
    assert st.result_type(st.asarray(x), scalar) == expected and st.result_type(scalar, x.dtype, scalar) == expected


def test_result_type_needs_an_array_or_dtype():
    with pytest.raises(ValueError, match="at least one array or dtype"):
        st.result_type(1, 2.0)
    assert st.result_type(st.int8, st.uint8, st.ones(1, dtype=st.int16), 1) == st.int16


@pytest.mark.parametrize("a, b", [(a, b) for a, b in itertools.product(STANDARD, repeat=2)
                                  if not ("complex" in a and "complex" not in b)])
def test_astype_matches_numpy(device, a, b):
    values = np.array([0, 1, 2, 5, 7], dtype=a)
    got = st.astype(st.asarray(values, device=device), b)
    assert got.dtype == np.dtype(b)
    np.testing.assert_array_equal(to_numpy(got), values.astype(b))


def test_astype_refuses_complex_to_real_and_copies_as_asked(device):
    z = st.asarray([1 + 2j], device=device)
    for target in (st.float32, st.int64, st.bool):
        with pytest.raises(TypeError, match="imaginary part.*st.real"):
            st.astype(z, target)
    x = st.ones(3, device=device, requires_grad=True)
    assert st.astype(x, st.float32, copy=False) is x
    copied = st.astype(x, st.float32)
    assert copied is not x and copied.grad_fn is not None
    with st.no_grad():
        copied.data[0] = 5.0
    assert float(x[0]) == 1.0
    assert st.astype(x, st.float64, device=x.device).device == x.device
    with pytest.raises(TypeError, match="needs a dtype"):
        st.astype(x, None)


@pytest.mark.parametrize("target", [st.float32, st.float64, st.complex64, st.complex128])
def test_astype_gradient_matches_pytorch(device, rng, target):
    a = rng.standard_normal((2, 3))
    w = rng.standard_normal((2, 3)) + 1j * rng.standard_normal((2, 3))
    x = st.tensor(a, device=device, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    torch_target = getattr(torch, np.dtype(target).name)
    y, ty = st.astype(x, target), t.to(torch_target)
    weight = w if y.dtype.kind == "c" else w.real
    loss = st.abs(y * st.asarray(weight.astype(target), device=device)).sum()
    torch_loss = (ty * torch.tensor(weight.astype(target))).abs().sum()
    loss.backward()
    torch_loss.backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(to_numpy(x.grad), t.grad.numpy(), rtol=1e-5 if target in (st.float32,
                               st.complex64) else 1e-12)


def test_astype_gradients_check_numerically(device, rng):
    x = st.tensor(rng.standard_normal((2, 3)), device=device, requires_grad=True)
    assert st.autograd.gradcheck(lambda x: st.astype(x, st.complex128) * (1 + 2j), [x])
    assert st.autograd.gradgradcheck(lambda x: st.astype(x * x, st.float64, copy=True) * x, [x])
    z = st.tensor(rng.standard_normal(3) + 1j * rng.standard_normal(3), device=device, requires_grad=True)
    assert st.autograd.gradcheck(lambda z: st.astype(z, st.complex64).astype(st.complex128), [z], eps=1e-3,
                                 atol=1e-4, rtol=1e-4)


def test_astype_twice_differentiable_from_real_to_complex(device, rng):
    x = st.tensor(rng.standard_normal((2, 3)), device=device, requires_grad=True)
    assert st.autograd.gradgradcheck(lambda x: st.astype(x * x, st.complex128) * (1 + 2j), [x])


# ----- the array object -----
@pytest.mark.parametrize("values", [np.array(2.5), np.array([1.5]), np.array([[1.0, 2.0]]), np.array(3),
                                    np.array([4]), np.array(True), np.array(1 + 2j), np.array(-7, np.int8),
                                    np.array(2.0, np.float32)],
                         ids=["0d_float", "1_float", "2_float", "0d_int", "1_int", "0d_bool", "0d_complex",
                              "0d_int8", "0d_float32"])
@pytest.mark.parametrize("convert", [bool, int, float, complex, operator.index])
def test_python_conversions_follow_numpy(device, values, convert):
    x = st.asarray(values, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            expected = convert(values)
        except (TypeError, ValueError, DeprecationWarning) as e:
            expected = type(e)
    if isinstance(expected, type):
        with pytest.raises(TypeError if expected is DeprecationWarning else expected):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                convert(x)
    else:
        got = convert(x)
        assert got == expected and type(got) is type(expected)


def test_scalar_conversion_errors_name_the_problem():
    with pytest.raises(TypeError, match="imaginary part"):
        float(st.asarray(1 + 2j))
    with pytest.raises(TypeError, match="0-d integer"):
        operator.index(st.ones(1, dtype=st.int64))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(st.ones(2))


def test_device_size_and_matrix_transpose(device, rng):
    a = rng.standard_normal((2, 3, 4))
    x = st.asarray(a, device=device)
    assert x.device == st.zeros(1, device=device).device and x.device == str(x.device)
    assert x.to_device(x.device) is x and x.to_device("cpu").device == "cpu"
    np.testing.assert_array_equal(to_numpy(x.to_device("cpu")), a)
    with pytest.raises(ValueError, match="streams"):
        x.to_device("cpu", stream=1)
    assert x.size == a.size and st.zeros((0, 3)).size == 0 and st.asarray(1.0).size == 1
    np.testing.assert_array_equal(to_numpy(x.mT), np.swapaxes(a, -1, -2))
    with pytest.raises(ValueError, match="at least 2 dimensions.*\\(4,\\)"):
        x[0, 0].mT


def test_the_matrix_transpose_is_differentiable(device, rng):
    x = st.tensor(rng.standard_normal((2, 3, 4)), device=device, requires_grad=True)
    assert st.autograd.gradcheck(lambda x: x.mT * 2, [x])


# ----- DLPack (CPU: NumPy and PyTorch share host memory) -----
def test_dlpack_round_trips_with_pytorch_share_memory():
    x = st.asarray(np.arange(6.0).reshape(2, 3))
    t = torch.from_dlpack(x)
    t[0, 0] = 100.0
    assert float(x[0, 0]) == 100.0 and t.dtype == torch.float64 and tuple(t.shape) == (2, 3)
    source = torch.arange(4, dtype=torch.int32)
    y = st.from_dlpack(source)
    source[1] = -5
    assert y.dtype == st.int32 and y.tolist() == source.tolist()
    assert st.from_dlpack(torch.tensor(2.5)).shape == () and float(st.from_dlpack(torch.tensor(2.5))) == 2.5


def test_dlpack_round_trips_with_numpy():
    a = np.arange(5, dtype=np.uint16)
    x = st.from_dlpack(a)
    a[0] = 9
    assert x.dtype == st.uint16 and int(x[0]) == 9
    back = np.from_dlpack(x)
    back[1] = 8
    assert int(x[1]) == 8
    copied = st.from_dlpack(a, copy=True)
    a[2] = 7
    assert int(copied[2]) == 2
    assert x.__dlpack_device__() == a.__dlpack_device__()


def test_dlpack_takes_the_2024_12_arguments_and_exports_views():
    x = st.asarray(np.arange(3.0))
    assert type(x.__dlpack__(max_version=(1, 0), dl_device=(1, 0), copy=False)).__name__ == "PyCapsule"
    view = st.broadcast_to(st.asarray([1.0, 2.0]), (3, 2))
    np.testing.assert_array_equal(np.from_dlpack(view), np.broadcast_to([1.0, 2.0], (3, 2)))
    np.testing.assert_array_equal(torch.from_dlpack(view).numpy(), np.broadcast_to([1.0, 2.0], (3, 2)))
    with pytest.raises(TypeError, match="__dlpack__"):
        st.from_dlpack([1, 2])


def test_dlpack_export_of_a_tensor_that_requires_grad_warns():
    w = st.ones(2, requires_grad=True)
    with pytest.warns(st.GradientDroppedWarning, match="DLPack"):
        torch.from_dlpack(w)
    assert torch.from_dlpack(w.detach()).tolist() == [1.0, 1.0]


# ----- signatures: the standard's argument names and kinds (extra arguments after them are allowed) -----
def _standard_signatures():
    """The 2024.12 signatures of the functions and methods defined here, bodies left out."""
    def arange(start, /, stop=None, step=1, *, dtype=None, device=None): ...
    def asarray(obj, /, *, dtype=None, device=None, copy=None): ...
    def empty(shape, *, dtype=None, device=None): ...
    def empty_like(x, /, *, dtype=None, device=None): ...
    def eye(n_rows, n_cols=None, /, *, k=0, dtype=None, device=None): ...
    def from_dlpack(x, /, *, device=None, copy=None): ...
    def full(shape, fill_value, *, dtype=None, device=None): ...
    def full_like(x, /, fill_value, *, dtype=None, device=None): ...
    def linspace(start, stop, /, num, *, dtype=None, device=None, endpoint=True): ...
    def meshgrid(*arrays, indexing="xy"): ...
    def ones(shape, *, dtype=None, device=None): ...
    def ones_like(x, /, *, dtype=None, device=None): ...
    def tril(x, /, *, k=0): ...
    def triu(x, /, *, k=0): ...
    def zeros(shape, *, dtype=None, device=None): ...
    def zeros_like(x, /, *, dtype=None, device=None): ...
    def astype(x, dtype, /, *, copy=True, device=None): ...
    def can_cast(from_, to, /): ...
    def finfo(type, /): ...
    def iinfo(type, /): ...
    def isdtype(dtype, kind): ...
    def result_type(*arrays_and_dtypes): ...
    def __array_namespace__(self, /, *, api_version=None): ...
    def __dlpack__(self, /, *, stream=None, max_version=None, dl_device=None, copy=None): ...
    def __dlpack_device__(self, /): ...
    def to_device(self, device, /, *, stream=None): ...
    return [f for name, f in locals().items()]


@pytest.mark.parametrize("stub", _standard_signatures(), ids=lambda f: f.__name__)
def test_signatures_take_the_standards_arguments(stub):
    import inspect
    P = inspect.Parameter
    owner = st.Tensor if stub.__name__ in ("__array_namespace__", "__dlpack__", "__dlpack_device__",
                                           "to_device") else st
    params = list(inspect.signature(getattr(owner, stub.__name__)).parameters.values())
    stub_params = list(inspect.signature(stub).parameters.values())
    leading = [p for p in stub_params if p.kind != P.KEYWORD_ONLY]
    for ours, theirs in zip(params, leading):
        if theirs.kind in (P.POSITIONAL_OR_KEYWORD, P.VAR_POSITIONAL):
            assert (ours.name, ours.kind) == (theirs.name, theirs.kind), (stub.__name__, ours, theirs)
        else:  # positional-only: any name, but it must take a position
            assert ours.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD), (stub.__name__, ours)
    assert len(params) >= len(leading)
    names = {p.name: p.kind for p in params}
    for theirs in stub_params[len(leading):]:
        assert names.get(theirs.name) in (P.KEYWORD_ONLY, P.POSITIONAL_OR_KEYWORD), (stub.__name__, theirs.name)
