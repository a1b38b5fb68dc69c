"""NumPy's meaning where a tensor used to differ without a word: bitwise operators, hashing, dtypes of NumPy
scalars, pickling, dropped gradients. Each case runs the same call in NumPy (or PyTorch) and compares."""
import operator
import pickle
import sys
import warnings

import numpy as np
import pytest
import torch

import sparktensor as st
from backends import to_numpy

BINARY = [operator.and_, operator.or_, operator.xor, operator.lshift, operator.rshift]


# ----- bitwise operators -----
@pytest.mark.parametrize("op", BINARY, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", ["int64", "int32", "int8", "uint8", "bool"])
def test_bitwise_operators_follow_numpy(device, op, dtype):
    x = np.array([6, 5, 12, 0, 3]).astype(dtype)
    y = np.array([3, 3, 10, 1, 2]).astype(dtype)
    tx, ty = st.tensor(x, device=device), st.tensor(y, device=device)
    if device != "cpu":  # a NumPy array beside a CUDA tensor is refused by name, as PyTorch refuses a CPU tensor
        with pytest.raises(RuntimeError, match="expected all tensors on one device"):
            op(tx, y)
    for got, expected in [(op(tx, ty), op(x, y)), (op(tx, 1), op(x, 1)), (op(2, ty), op(2, y)),
                          (op(tx, y if device == "cpu" else ty), op(x, y)), (getattr(np, {"and_": "bitwise_and", "or_": "bitwise_or",
                           "xor": "bitwise_xor", "lshift": "left_shift", "rshift": "right_shift"}[op.__name__])(tx, ty),
                           op(x, y))]:
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(to_numpy(got), expected)


@pytest.mark.parametrize("dtype", ["int64", "int8", "uint8", "bool"])
def test_invert_follows_numpy(device, dtype):
    x = np.array([6, 0, 1, 127]).astype(dtype)
    got = ~st.tensor(x, device=device)
    assert got.dtype == (~x).dtype
    np.testing.assert_array_equal(to_numpy(got), ~x)
    np.testing.assert_array_equal(to_numpy(np.invert(st.tensor(x, device=device))), np.invert(x))


def test_parity_mask_selects_the_odd_rows_as_numpy(device):
    labels = np.array([4, 7, 2, 9, 11, 6])
    rows = np.arange(12.0).reshape(6, 2)
    mask = (st.tensor(labels, device=device) & 1) == 1
    np.testing.assert_array_equal(to_numpy(st.tensor(rows, device=device)[mask]), rows[(labels & 1) == 1])


@pytest.mark.parametrize("op", BINARY + [lambda x, y: ~x], ids=["and", "or", "xor", "lshift", "rshift", "invert"])
def test_bitwise_operators_on_floats_raise_as_numpy(device, op):
    x = np.array([1.0, 2.0])
    with pytest.raises(TypeError):
        op(x, x)
    with pytest.raises(TypeError, match="bitwise on integers and logical on bool"):
        op(st.tensor(x, device=device), st.tensor(x, device=device))
    with pytest.raises(TypeError, match="bitwise"):
        op(st.tensor(np.array([1.0, 2.0]), device=device), 1)  # a float tensor with an int: NumPy raises too
    if op in BINARY:
        with pytest.raises(TypeError):
            op(np.array([1, 2]), 1.5)
        with pytest.raises(TypeError, match="bitwise"):
            op(st.tensor([1, 2], device=device), 1.5)


def test_in_place_bitwise_operators_follow_numpy(device):
    x = np.array([6, 5, 12])
    t = st.tensor(x, device=device)
    for name, value in [("__iand__", 3), ("__ior__", 8), ("__ixor__", 1), ("__ilshift__", 2), ("__irshift__", 1)]:
        x = getattr(x, name)(value)
        t = getattr(t, name)(value)
        np.testing.assert_array_equal(to_numpy(t), x)


# ----- hashing -----
def test_counting_labels_in_a_dict_raises_as_numpy_instead_of_one_entry_per_element(device):
    labels = np.array([0, 1, 1, 2, 1])
    with pytest.raises(TypeError, match="unhashable"):
        counts = {}
        for i in range(len(labels)):
            counts[labels[i:i + 1].reshape(())] = 1  # a 0-d array, as t[i] is a 0-d tensor
    t = st.tensor(labels, device=device)
    with pytest.raises(TypeError, match=r"unhashable.*t\.item\(\)"):
        counts = {}
        for i in range(len(t)):
            counts[t[i]] = counts.get(t[i], 0) + 1
    counts = {}
    for i in range(len(t)):  # the spelling the message points to counts as NumPy's .item() does
        counts[t[i].item()] = counts.get(t[i].item(), 0) + 1
    assert counts == {k: int(v) for k, v in zip(*np.unique(labels, return_counts=True))}


def test_sets_and_membership_raise_as_numpy(device):
    a = np.array([0, 1, 1])
    t = st.tensor(a, device=device)
    for call in (lambda x: len(set(x)), lambda x: x[1] in {0, 1}, lambda x: hash(x)):
        with pytest.raises(TypeError):
            call(np.array([[0], [1], [1]]))  # rows are arrays
        with pytest.raises(TypeError, match="unhashable"):
            call(t)


def test_trainable_leaves_and_parameters_hash_by_identity_as_pytorch(device):
    w = st.randn(3, device=device, requires_grad=True)
    p = st.nn.Parameter(st.zeros(2, device=device), requires_grad=False)
    tw = torch.randn(3, requires_grad=True)
    assert {w: 1}[w] == 1 and {tw: 1}[tw] == 1 and {p: 2}[p] == 2 and hash(p) == hash(p)
    with pytest.raises(TypeError):
        hash(w * 2)  # an intermediate result is an array, not a handle
    opt = st.optim.SGD([w], lr=0.1, momentum=0.9)
    (w * w).sum().backward()
    opt.step()
    assert w in opt.state


# ----- dtypes of NumPy values, the default dtype -----
@pytest.mark.parametrize("values", [[np.float64(0.1)], [np.float64(0.1), 0.2], [[np.float16(1)], [np.float16(2)]],
                                    [np.int32(3), np.int32(4)], (np.float32(1), np.float32(2)),
                                    [np.array([1.0, 2.0])], np.float64(0.5)])
def test_values_that_carry_a_numpy_dtype_keep_it(device, values):
    assert st.tensor(values, device=device).dtype == np.asarray(values).dtype


@pytest.mark.parametrize("values, dtype", [([0.1, 0.2], "float32"), (0.5, "float32"), ([1, 2], "int64"),
                                           ([True], "bool"), ([[1.0], [2]], "float32")])
def test_python_numbers_take_the_default_dtype_as_pytorch(device, values, dtype):
    assert st.tensor(values, device=device).dtype == dtype == str(torch.tensor(values).dtype).split(".")[1]


def test_set_default_dtype_changes_what_python_floats_become_as_pytorch(device):
    assert st.get_default_dtype() == st.float32
    torch_default = torch.get_default_dtype()
    try:
        st.set_default_dtype(st.float64)
        torch.set_default_dtype(torch.float64)
        for make, reference in [(lambda: st.tensor([0.1]), lambda: torch.tensor([0.1])),
                                (lambda: st.zeros(2), lambda: torch.zeros(2)),
                                (lambda: st.randn(2), lambda: torch.randn(2)),
                                (lambda: st.arange(0.0, 1.0, 0.5), lambda: torch.arange(0.0, 1.0, 0.5)),
                                (lambda: st.full((2,), 1.5), lambda: torch.full((2,), 1.5)),
                                (lambda: st.nn.Linear(2, 2).weight, lambda: torch.nn.Linear(2, 2).weight)]:
            assert str(make().dtype) == str(reference().dtype).split(".")[1] == "float64"
        assert "dtype" not in repr(st.tensor([0.5])) and "dtype=float32" in repr(st.tensor([0.5], dtype=st.float32))
        with pytest.raises(TypeError, match="floating"):
            st.set_default_dtype(st.int64)
    finally:
        st.set_default_dtype(st.float32)
        torch.set_default_dtype(torch_default)
    assert st.tensor([0.1]).dtype == st.float32 and "dtype" not in repr(st.tensor([0.5]))


@pytest.mark.parametrize("dtype", ["float64", "float16", "int32", "uint8"])
def test_repr_shows_a_dtype_other_than_the_default(dtype):
    assert f"dtype={dtype}" in repr(st.tensor(np.zeros(2, dtype)))


# ----- pickling -----
def test_pickling_a_computed_tensor_gives_a_leaf_of_its_own_as_pytorch(device):
    import copy
    w = st.tensor([1.0, 2.0], device=device, requires_grad=True)
    tw = torch.tensor([1.0, 2.0], requires_grad=True)
    expected = pickle.loads(pickle.dumps(tw * 3))
    for copied in (pickle.loads(pickle.dumps(w * 3)), copy.deepcopy(w * 3)):
        assert copied.is_leaf and copied.grad_fn is None and copied.requires_grad == expected.requires_grad
        np.testing.assert_array_equal(to_numpy(copied), expected.detach().numpy())
        (copied * copied).sum().backward()
        np.testing.assert_array_equal(to_numpy(copied.grad), 2 * expected.detach().numpy())
    assert w.grad is None  # the backward of a copy never reaches the original's leaves


def test_pickling_a_leaf_keeps_requires_grad_and_grad(device):
    p = st.nn.Parameter(st.tensor([1.0, 2.0], device=device))
    (p * p).sum().backward()
    copied = pickle.loads(pickle.dumps(p))
    assert type(copied) is st.nn.Parameter and copied.requires_grad and copied.is_leaf
    np.testing.assert_array_equal(to_numpy(copied.grad), to_numpy(p.grad))
    (copied * 1).sum().backward()
    np.testing.assert_array_equal(to_numpy(copied.grad), to_numpy(p.grad) + 1)


# ----- gradients dropped without a word -----
def _warnings_of(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # Python's default filter: once per call site
        fn()
    return [w for w in caught if issubclass(w.category, st.GradientDroppedWarning)]


def test_converting_a_tensor_that_requires_grad_to_an_array_warns_once_per_call_site(device):
    w = st.tensor([1.0, 2.0], device=device, requires_grad=True)
    if device != "cpu":
        pytest.skip("np.asarray of a GPU tensor copies to the host")

    def convert_three_times():
        for _ in range(3):
            np.asarray(w)
    caught = _warnings_of(convert_three_times)
    assert len(caught) == 1 and caught[0].filename == __file__ and "detach" in str(caught[0].message)
    assert _warnings_of(lambda: np.asarray(w.detach())) == []
    assert _warnings_of(lambda: np.asarray(st.tensor([1.0, 2.0], device=device))) == []
    with st.no_grad():
        assert _warnings_of(lambda: np.asarray(w)) == []


def test_copying_a_tensor_that_requires_grad_into_a_new_tensor_warns_as_pytorch(device):
    w = st.tensor([1.0, 2.0], device=device, requires_grad=True)
    tw = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.warns(UserWarning):
        torch.tensor(tw)
    for make in (lambda: st.tensor([w[0] * 2, w[1] * 3]), lambda: st.tensor(w)):
        caught = _warnings_of(make)
        assert len(caught) == 1 and caught[0].filename == __file__ and "st.stack" in str(caught[0].message)
        assert issubclass(caught[0].category, UserWarning)
    copy = st.tensor([w[0] * 2, w[1] * 3])
    assert not copy.requires_grad
    np.testing.assert_array_equal(to_numpy(copy), [2.0, 6.0])
    assert _warnings_of(lambda: st.tensor([w[0].detach(), 3.0])) == []
    assert _warnings_of(lambda: st.stack([w[0] * 2, w[1] * 3])) == []  # the spelling that keeps the graph


# ----- Python's number protocols -----
@pytest.mark.parametrize("value", [np.float32(1.23456), np.float64(-2.5), np.int64(7), np.bool_(True)])
@pytest.mark.parametrize("spec", [".3f", ">10", "e", "+.1%", "08.2f"])
def test_format_of_a_0d_tensor_follows_numpy(device, value, spec):
    assert f"{st.tensor(value, device=device):{spec}}" == f"{np.asarray(value):{spec}}" == f"{value:{spec}}"


@pytest.mark.parametrize("values", [[1.5], [1.5, 2.5], [[1.0, 2.0]]])
def test_format_spec_of_a_tensor_with_dimensions_raises_as_numpy(device, values):
    with pytest.raises(TypeError):
        f"{np.array(values):.3f}"
    with pytest.raises(TypeError, match=r"0-d tensor.*item\(\)"):
        f"{st.tensor(values, device=device):.3f}"
    t = st.tensor(values, device=device)
    assert f"{t}" == str(t)  # an empty spec is str(), as for every Python object


HALVES = [0.5, 1.5, 2.5, -0.5, -1.5, 1.25, 2.675, 1234.5678]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_round_of_a_tensor_rounds_elementwise_halves_to_even_as_numpy(device, dtype):
    x = np.array(HALVES, dtype=dtype)
    t = st.tensor(x, device=device)
    for got, expected in [(round(t), np.round(x)), (round(t, 1), np.round(x, 1)), (round(t, -2), np.round(x, -2)),
                          (t.round(decimals=2), x.round(decimals=2)), (np.round(t, 1), np.round(x, 1))]:
        assert isinstance(got, st.Tensor) and got.dtype == expected.dtype
        np.testing.assert_array_equal(to_numpy(got), expected)
    np.testing.assert_array_equal(to_numpy(round(st.tensor([17, -25], device=device), -1)),
                                  np.round(np.array([17, -25]), -1))


@pytest.mark.parametrize("value", [np.float64(2.5), np.float64(3.5), np.float32(-0.5), np.float64(2.675), np.int64(7)])
def test_round_of_a_0d_tensor_is_an_int_as_of_a_numpy_scalar(device, value):
    t = st.tensor(value, device=device)
    assert type(round(t)) is int and round(t) == round(value)
    assert to_numpy(round(t, 2)) == round(value, 2) and round(t, 2).dtype == np.asarray(value).dtype


def test_round_has_a_zero_gradient_as_pytorch():
    x = np.array(HALVES)
    t = st.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    (round(t) * 3).sum().backward()
    (torch.round(tx) * 3).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), tx.grad.numpy())


@pytest.mark.parametrize("values", [[7, -7, 5, 0, -3], [7.5, -7.5, 5.0, 0.0, -3.25]])
@pytest.mark.parametrize("divisor", [2, -3, 2.5])
def test_divmod_follows_numpy(device, values, divisor):
    x = np.array(values)
    t = st.tensor(x, device=device)
    nonzero = np.where(x == 0, 1, x)
    for got, expected in [(divmod(t, divisor), divmod(x, divisor)),
                          (divmod(divisor, st.tensor(nonzero, device=device)), divmod(divisor, nonzero)),
                          (np.divmod(t, divisor), np.divmod(x, divisor)), (divmod(t, t[:1]), divmod(x, x[:1]))]:
        assert isinstance(got, tuple) and len(got) == 2
        for g, e in zip(got, expected):
            assert g.dtype == e.dtype
            np.testing.assert_array_equal(to_numpy(g), e)


@pytest.mark.parametrize("op", [operator.iadd, operator.isub, operator.imul, operator.itruediv])
def test_an_array_updated_in_place_by_a_tensor_stays_that_array_as_numpy(device, op):
    x = np.array([1.0, -2.0, 3.5])
    a, expected = np.arange(3.0), np.arange(3.0)
    memory = a.__array_interface__["data"][0]
    result = op(a, st.tensor(x, device=device))
    op(expected, x)
    assert result is a and a.__array_interface__["data"][0] == memory
    np.testing.assert_array_equal(a, expected)
    b = np.zeros(3)
    assert np.add(b, st.tensor(x, device=device), out=b) is b
    np.testing.assert_array_equal(b, x)


def test_an_integer_array_refuses_a_float_tensor_in_place_as_numpy(device):
    with pytest.raises(TypeError):
        a = np.arange(3)
        a += np.array([0.5, 0.5, 0.5])
    a = np.arange(3)
    with pytest.raises(TypeError):
        a += st.tensor([0.5, 0.5, 0.5], device=device)
    np.testing.assert_array_equal(a, np.arange(3))


def test_an_array_updated_in_place_by_a_tensor_that_requires_grad_warns(device):
    w = st.tensor([1.0, 2.0], device=device, requires_grad=True)

    def update():
        a = np.zeros(2)
        a += w * 2
        np.testing.assert_array_equal(a, [2.0, 4.0])
    caught = _warnings_of(update)
    assert len(caught) == 1 and caught[0].filename == __file__ and "detach" in str(caught[0].message)
    assert _warnings_of(lambda: np.add(np.zeros(2), w.detach(), out=np.zeros(2))) == []
    with st.no_grad():
        assert _warnings_of(update) == []


@pytest.mark.parametrize("call", [lambda x, out: np.sum(x, axis=0, out=out), lambda x, out: np.add(x, 1.0, out=out),
                                  lambda x, out: np.exp(x, out=out), lambda x, out: np.mean(x, 0, None, out)],
                         ids=["sum", "add", "exp", "mean"])
def test_numpy_writes_a_tensors_values_into_an_array_given_as_out_as_numpy(device, call):
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    expected = call(x, np.empty_like(call(x, None)))
    out = np.empty_like(expected)
    assert call(st.tensor(x, device=device), out) is out
    np.testing.assert_array_equal(out, expected)
    w = st.tensor(x, device=device, requires_grad=True)
    caught = _warnings_of(lambda: call(w, np.empty_like(expected)))
    assert len(caught) == 1 and caught[0].filename == __file__


# ----- comparisons with values that are not numbers -----
@pytest.mark.parametrize("other", ["a", b"a", np.str_("a"), ["a", "b", "c"], [1, "a", 2.5], np.array(["x", "y", "z"])])
def test_equality_with_strings_is_false_elementwise_as_numpy(device, other):
    x = np.array([1.5, 2.5, 3.0])
    t = st.tensor(x, device=device)
    for got, expected in [(t == other, x == other), (t != other, x != other), (other == t, other == x),
                          (st.tensor(2.5, device=device) == other, np.asarray(2.5) == other)]:
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(to_numpy(got), expected)


def test_equality_with_strings_of_another_shape_raises_as_numpy(device):
    with pytest.raises(ValueError):
        np.array([1.5, 2.5]) == ["a", "b", "c"]
    with pytest.raises(ValueError):
        st.tensor([1.5, 2.5], device=device) == ["a", "b", "c"]


@pytest.mark.parametrize("op", [operator.lt, operator.le, operator.gt, operator.ge])
def test_ordering_against_a_string_raises_as_numpy(device, op):
    with pytest.raises(TypeError):
        op(np.array([1.5, 2.5]), "a")
    with pytest.raises(TypeError):
        op(st.tensor([1.5, 2.5], device=device), "a")


class OptsOutOfNumPy:
    """NEP 13's opt-out: arrays' operators return NotImplemented, so this type's reflected ones answer."""
    __array_ufunc__ = None

    def __eq__(self, other): return ("eq", type(other).__name__)
    def __ne__(self, other): return ("ne", type(other).__name__)
    def __gt__(self, other): return ("gt", type(other).__name__)  # reflected <
    def __radd__(self, other): return ("radd", type(other).__name__)
    def __rmul__(self, other): return ("rmul", type(other).__name__)
    __hash__ = None


@pytest.mark.parametrize("op", [operator.eq, operator.ne, operator.lt, operator.add, operator.mul])
def test_a_type_that_opts_out_of_numpy_operators_answers_for_itself_as_with_numpy(device, op):
    other = OptsOutOfNumPy()
    name, kind = op(np.array([1.0, 2.0]), other)
    assert kind == "ndarray"
    assert op(st.tensor([1.0, 2.0], device=device), other) == (name, "Tensor")


# ----- float(t) and int(t) -----
def _outcome(fn):
    """What a call gives: ("raises", exception type) or (its value, the warning categories it raised)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = fn()
        except TypeError:
            return "raises", TypeError
    return value, [w.category for w in caught]


@pytest.mark.parametrize("convert", [float, int])
@pytest.mark.parametrize("values", [2.75, [2.75], [[2.75]], [2.75, 1.0]])
def test_float_and_int_of_a_tensor_follow_the_numpy_installed(device, convert, values):
    x = np.array(values)
    expected = _outcome(lambda: convert(x))
    assert _outcome(lambda: convert(st.tensor(x, device=device))) == expected


def test_float_of_one_element_with_dimensions_warns_where_numpy_only_deprecates_it(device, monkeypatch):
    monkeypatch.setattr(sys.modules["sparktensor.tensor"], "_NUMPY_CONVERTS_ONLY_0D", False)  # NumPy 2.0 to 2.3
    with pytest.warns(DeprecationWarning, match=r"shape \(1, 1\).*item\(\)"):
        assert float(st.tensor([[2.75]], device=device)) == 2.75
    with pytest.raises(TypeError, match=r"shape \(2,\)"):
        float(st.tensor([2.75, 1.0], device=device))


# ----- NumPy functions without a differentiable version -----
@pytest.mark.parametrize("call, qualified", [(lambda a, b: np.linalg.eig(a), r"numpy\.linalg\.eig"),
                                             (np.linalg.lstsq, r"numpy\.linalg\.lstsq"),
                                             (lambda a, b: np.percentile(a, 50), r"numpy\.percentile"),
                                             (lambda a, b: np.median(a), r"numpy\.median")],
                         ids=["eig", "lstsq", "percentile", "median"])
def test_a_function_that_would_drop_the_gradient_is_named_in_full(call, qualified):
    a, b = st.tensor([[3.0, 1.0], [1.0, 2.0]], requires_grad=True), st.tensor([9.0, 8.0])
    with pytest.raises(TypeError, match=rf"^{qualified} has no sparktensor .*requires grad"):
        call(a, b)


@pytest.mark.parametrize("call", [np.bincount, np.unique, lambda x: np.unique(x, return_counts=True), np.cumsum,
                                  np.sort, lambda x: np.searchsorted(x, 4), lambda x: np.histogram(x, bins=3),
                                  lambda x: np.gcd(x, 6), lambda x: np.add.accumulate(x), np.count_nonzero],
                         ids=["bincount", "unique", "unique_counts", "cumsum", "sort", "searchsorted", "histogram",
                              "gcd", "add.accumulate", "count_nonzero"])
def test_a_function_without_a_tensor_version_runs_on_tensors_that_need_no_gradient_as_numpy(device, call):
    x = np.array([1, 3, 3, 0, 7, 3, 4])
    expected, got = call(x), call(st.tensor(x, device=device))
    # a NumPy scalar where NumPy gives one; CuPy gives a 0-d array, so on the GPU a 0-d tensor
    if not isinstance(expected, tuple):
        assert type(got) is (st.Tensor if isinstance(expected, np.ndarray) or device != "cpu" else type(expected))
    for g, e in zip(*(r if isinstance(r, tuple) else (r,) for r in (got, expected))):
        assert g.dtype == e.dtype
        np.testing.assert_array_equal(to_numpy(g), e)


def test_a_function_without_a_tensor_version_runs_on_a_float_tensor_without_grad(device):
    a, b = np.array([[3.0, 1.0], [1.0, 2.0]]), np.array([9.0, 8.0])
    w, tb = st.tensor(a, device=device, requires_grad=True), st.tensor(b, device=device)
    for got in (np.linalg.lstsq(st.tensor(a, device=device), tb)[0], np.linalg.lstsq(w.detach(), tb)[0]):
        assert isinstance(got, st.Tensor) and not got.requires_grad and got.device == w.device
        np.testing.assert_allclose(to_numpy(got), np.linalg.lstsq(a, b)[0], rtol=1e-12)
    with st.no_grad():
        np.testing.assert_allclose(to_numpy(np.linalg.lstsq(w, tb)[0]), np.linalg.lstsq(a, b)[0], rtol=1e-12)
    eig = np.linalg.eig(st.tensor(a, device=device))
    assert isinstance(eig.eigenvalues, st.Tensor)
    np.testing.assert_allclose(np.sort(to_numpy(eig.eigenvalues)), np.sort(np.linalg.eig(a).eigenvalues), rtol=1e-12)


# ----- SciPy through the Array API -----
SCIPY_CALLS = """
import json, warnings
import numpy as np
import scipy.special as special
import sparktensor as st
x = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]])
u = np.array([0.3, -1.2])  # a cotangent for the row-wise calls
found = {}
for name, call, row_wise in [("logsumexp", lambda a: special.logsumexp(a), False),
                             ("logsumexp_rows", lambda a: special.logsumexp(a, axis=1), True),
                             ("log_softmax_rows", lambda a: special.log_softmax(a, axis=1)[:, 0], True)]:
    w = st.tensor(x, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = call(w)
    kept = isinstance(y, st.Tensor) and y.grad_fn is not None
    if kept:
        (y * st.tensor(u) if row_wise else y).sum().backward()
    found[name] = {"type": type(y).__name__, "graph": kept, "value": np.asarray(y.detach() if kept else y).tolist(),
                   "numpy": np.asarray(call(x)).tolist(), "grad": w.grad.numpy().tolist() if kept else None,
                   "warnings": sorted({type(m.message).__name__ for m in caught})}
print(json.dumps(found))
"""


def _scipy_on_tensors(array_api):
    import json
    import os
    import subprocess
    pytest.importorskip("scipy")
    env = {k: v for k, v in os.environ.items() if k != "SCIPY_ARRAY_API"}
    if array_api:
        env["SCIPY_ARRAY_API"] = "1"  # SciPy reads it once, at import; any value switches it on
    done = subprocess.run([sys.executable, "-c", SCIPY_CALLS], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_scipy_under_the_array_api_keeps_the_graph_with_pytorchs_gradients():
    found = _scipy_on_tensors(array_api=True)
    x = torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]], dtype=torch.float64, requires_grad=True)
    u = torch.tensor([0.3, -1.2], dtype=torch.float64)
    for name, torch_call in [("logsumexp", lambda a: torch.logsumexp(a.reshape(-1), 0)),
                             ("logsumexp_rows", lambda a: (torch.logsumexp(a, 1) * u).sum()),
                             ("log_softmax_rows", lambda a: (torch.log_softmax(a, 1)[:, 0] * u).sum())]:
        got = found[name]
        assert got["type"] == "Tensor" and got["graph"] and got["warnings"] == [], (name, got)
        np.testing.assert_allclose(got["value"], got["numpy"], rtol=1e-14)
        x.grad = None
        torch_call(x).backward()
        np.testing.assert_allclose(got["grad"], x.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_scipy_without_the_array_api_warns_that_the_gradient_is_dropped():
    for name, got in _scipy_on_tensors(array_api=False).items():
        assert not got["graph"] and got["warnings"] == ["GradientDroppedWarning"], (name, got)
        np.testing.assert_allclose(got["value"], got["numpy"], rtol=1e-6)


def test_the_array_namespace_makes_tensors_and_keeps_the_graph(device):
    w = st.tensor([1.0, 2.0], device=device, requires_grad=True)
    xp = w.__array_namespace__()
    assert xp.asarray(w) is w and xp.asarray(w, dtype=st.float32) is w
    copied, converted = xp.asarray(w, copy=True), xp.asarray(w, dtype=st.float64)
    assert copied is not w and copied.grad_fn is not None and converted.dtype == np.float64
    (copied * 2 + converted * 3).sum().backward()
    np.testing.assert_array_equal(to_numpy(w.grad), [5.0, 5.0])
    for made, expected in [(xp.asarray([1.5, 2.0]), np.asarray([1.5, 2.0], np.float32)),
                           (xp.zeros((2, 1), dtype=st.int32), np.zeros((2, 1), np.int32)),
                           (xp.full(3, 7.0, device=device), np.full(3, 7.0, np.float32)),
                           (xp.arange(1, 7, 2), np.arange(1, 7, 2)), (xp.exp(st.tensor([0.0, 1.0])), np.exp(np.float32([0.0, 1.0])))]:
        assert isinstance(made, st.Tensor) and made.dtype == expected.dtype
        np.testing.assert_allclose(to_numpy(made), expected, rtol=1e-6)
    assert xp.inf == np.inf and xp.isdtype(st.float32, "real floating")
    with pytest.raises(ValueError, match="copy=False"):
        xp.asarray(w, dtype=st.float64, copy=False)
