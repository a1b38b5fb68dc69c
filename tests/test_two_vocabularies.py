"""Names NumPy and PyTorch read differently: the call's form decides, and a form that cannot tell raises.

Every case runs the same call in NumPy or PyTorch on the same input and compares.
"""
import numpy as np
import pytest
import torch

import sparktensor as st
from backends import to_numpy


@pytest.fixture
def a():
    return np.arange(24.0).reshape(2, 3, 4) * 0.5 - 3


# ----- transpose -----
@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 3, 4), (2, 3, 4, 5)])
@pytest.mark.parametrize("pair", [(0, -1), (-1, 0), (0, 0)])
def test_transpose_of_two_ints_swaps_them_at_every_rank_as_pytorch(device, shape, pair):
    x = np.arange(float(np.prod(shape))).reshape(shape)
    expected = torch.tensor(x).transpose(*pair).numpy()
    np.testing.assert_array_equal(to_numpy(st.tensor(x, device=device).transpose(*pair)), expected)
    np.testing.assert_array_equal(to_numpy(st.transpose(st.tensor(x, device=device), *pair)), expected)


def test_transpose_0_1_of_a_2d_tensor_swaps(device):
    x = np.arange(6.0).reshape(2, 3)
    t = st.tensor(x, device=device)
    for y in (t.transpose(0, 1), t.transpose(dim0=0, dim1=1)):
        np.testing.assert_array_equal(to_numpy(y), torch.tensor(x).transpose(0, 1).numpy())


@pytest.mark.parametrize("perm", [(0, 1), (1, 0), (2, 0, 1), (0, 1, 2)])
def test_transpose_of_a_tuple_permutes_as_numpy(device, perm):
    x = np.arange(float(np.prod((2, 3, 4)[:len(perm)]))).reshape((2, 3, 4)[:len(perm)])
    np.testing.assert_array_equal(to_numpy(st.tensor(x, device=device).transpose(perm)), x.transpose(perm))
    np.testing.assert_array_equal(to_numpy(st.transpose(st.tensor(x, device=device), perm)), np.transpose(x, perm))
    np.testing.assert_array_equal(to_numpy(np.transpose(st.tensor(x, device=device), perm)), np.transpose(x, perm))


def test_transpose_without_axes_reverses_and_with_a_full_permutation_permutes_as_numpy(device, a):
    t = st.tensor(a, device=device)
    np.testing.assert_array_equal(to_numpy(t.transpose()), a.transpose())
    np.testing.assert_array_equal(to_numpy(t.transpose(1, 2, 0)), a.transpose(1, 2, 0))


def test_transpose_of_a_short_tuple_names_the_swap_spelling(device, a):
    with pytest.raises(ValueError, match="swapaxes"):
        st.tensor(a, device=device).transpose((0, 1))


# ----- repeat -----
@pytest.mark.parametrize("shape, sizes", [((2, 3), (1, 2, 1)), ((2, 3), (2, 3)), ((3,), (2, 3)), ((2, 3, 4), (1, 2, 1)),
                                          ((2, 3), ((2, 2),)), ((), (3,)), ((1,), (3,))])
def test_repeat_with_sizes_only_pytorch_accepts_tiles_as_pytorch(device, shape, sizes):
    x = np.arange(float(np.prod(shape))).reshape(shape)
    t = st.tensor(x, device=device, requires_grad=True)
    y = t.repeat(*sizes)
    tx = torch.tensor(x, requires_grad=True)
    ty = tx.repeat(*sizes)
    np.testing.assert_array_equal(to_numpy(y), ty.detach().numpy())
    g = np.random.default_rng(0).standard_normal(ty.shape)
    y.backward(st.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(to_numpy(t.grad), tx.grad.numpy())


@pytest.mark.parametrize("shape, args, kwargs", [((2, 3), (2,), {"axis": 1}), ((2, 3), (2,), {"axis": 0}),
                                                 ((2, 3), (2,), {}), ((2, 3, 4), (2, 1), {}),
                                                 ((2, 3), ([1, 2, 0],), {"axis": 1})])
def test_repeat_that_only_numpy_accepts_or_with_axis_repeats_elements_as_numpy(device, shape, args, kwargs):
    x = np.arange(float(np.prod(shape))).reshape(shape)
    np.testing.assert_array_equal(to_numpy(st.tensor(x, device=device).repeat(*args, **kwargs)),
                                  x.repeat(*args, **kwargs))


@pytest.mark.parametrize("shape, args", [((2, 3), (2, 1)), ((3,), (2,)), ((3,), (2, 0)), ((4,), ([1, 2, 0, 1],))])
def test_repeat_that_both_read_differently_names_both_readings(device, shape, args):
    x = np.arange(float(np.prod(shape))).reshape(shape)
    assert x.repeat(*args).shape != torch.tensor(x).repeat(*args).shape or \
        not np.array_equal(x.repeat(*args), torch.tensor(x).repeat(*args).numpy())
    with pytest.raises(TypeError, match=r"PyTorch's.*NumPy's.*x\.tile.*st\.repeat|x\.repeat\(.*axis"):
        st.tensor(x, device=device).repeat(*args)


def test_repeat_function_stays_numpys(device):
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(to_numpy(st.repeat(st.tensor(x, device=device), 2, 1)), np.repeat(x, 2, 1))
    np.testing.assert_array_equal(to_numpy(np.repeat(st.tensor(x, device=device), 2, 1)), np.repeat(x, 2, 1))


# ----- max and min -----
@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_with_dim_return_values_and_indices_as_pytorch(device, a, name, dim, keepdim):
    x = np.random.default_rng(3).permutation(a.reshape(-1)).reshape(a.shape)  # distinct values
    t = st.tensor(x, device=device, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    for out in (getattr(t, name)(dim=dim, keepdim=keepdim), getattr(st, name)(t, dim=dim, keepdim=keepdim),
                getattr(t, name)(dim, keepdim=keepdim)):
        expected = getattr(tx, name)(dim=dim, keepdim=keepdim)
        values, indices = out
        assert out.values is values and out.indices is indices
        np.testing.assert_array_equal(to_numpy(values), expected.values.detach().numpy())
        np.testing.assert_array_equal(to_numpy(indices), expected.indices.numpy())
        assert indices.dtype == np.int64
    g = np.random.default_rng(4).standard_normal(expected.values.shape)
    getattr(t, name)(dim=dim, keepdim=keepdim).values.backward(st.tensor(g, device=device))
    expected.values.backward(torch.tensor(g))
    np.testing.assert_array_equal(to_numpy(t.grad), tx.grad.numpy())


def test_max_with_dim_sends_the_gradient_to_the_index_as_pytorch(device):
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])  # ties: PyTorch's gradient goes to the returned index only
    t, tx = st.tensor(x, device=device, requires_grad=True), torch.tensor(x, requires_grad=True)
    t.max(dim=1).values.sum().backward()
    expected = tx.max(dim=1)
    expected.values.sum().backward()
    np.testing.assert_array_equal(to_numpy(t.max(dim=1).indices), expected.indices.numpy())
    np.testing.assert_array_equal(to_numpy(t.grad), tx.grad.numpy())


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("kwargs", [{"axis": 1}, {"axis": (0, 2)}, {"axis": 1, "keepdims": True}, {}])
def test_max_min_with_axis_return_the_values_as_numpy(device, a, name, kwargs):
    t = st.tensor(a, device=device)
    for out in (getattr(t, name)(**kwargs), getattr(st, name)(t, **kwargs), getattr(np, name)(t, **kwargs)):
        np.testing.assert_array_equal(to_numpy(out), getattr(np, name)(a, **kwargs))
    np.testing.assert_array_equal(to_numpy(getattr(t, name)((0, 2))), getattr(np, name)(a, (0, 2)))
    np.testing.assert_array_equal(to_numpy(getattr(t, name)(1, keepdims=True)), getattr(np, name)(a, 1, keepdims=True))


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_with_a_positional_axis_alone_names_both_readings(device, a, name):
    t = st.tensor(a, device=device)
    assert isinstance(getattr(torch.tensor(a), name)(1), tuple) and not isinstance(getattr(a, name)(1), tuple)
    for call in (lambda: getattr(t, name)(1), lambda: getattr(st, name)(t, 1)):
        with pytest.raises(TypeError, match=rf"axis=1\).*NumPy.*dim=1\).*PyTorch"):
            call()


def test_max_of_two_tensors_is_the_elementwise_maximum_as_pytorch(device, a):
    b = a[::-1].copy()
    np.testing.assert_array_equal(to_numpy(st.tensor(a, device=device).max(st.tensor(b, device=device))),
                                  torch.tensor(a).max(torch.tensor(b)).numpy())


# ----- std and var -----
@pytest.mark.parametrize("name", ["std", "var"])
@pytest.mark.parametrize("kwargs", [{"dim": 1}, {"dim": (0, 2), "keepdim": True}, {"unbiased": True},
                                    {"unbiased": False}, {"correction": 0}, {"correction": 2, "dim": -1},
                                    {"dim": None}])
def test_std_var_in_pytorchs_words_follow_pytorch_unbiased_by_default(device, a, name, kwargs):
    t = st.tensor(a, device=device, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    out, expected = getattr(t, name)(**kwargs), getattr(tx, name)(**kwargs)
    np.testing.assert_allclose(to_numpy(out), expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(getattr(st, name)(t, **kwargs)), expected.detach().numpy(), rtol=1e-12)
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(to_numpy(t.grad), tx.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("name", ["std", "var"])
@pytest.mark.parametrize("kwargs", [{"axis": 1}, {"axis": (0, 2), "keepdims": True}, {"ddof": 1}, {"ddof": 0},
                                    {"axis": None}, {"keepdims": True}])
def test_std_var_in_numpys_words_follow_numpy_ddof_0_by_default(device, a, name, kwargs):
    t = st.tensor(a, device=device)
    for out in (getattr(t, name)(**kwargs), getattr(st, name)(t, **kwargs), getattr(np, name)(t, **kwargs)):
        np.testing.assert_allclose(to_numpy(out), getattr(np, name)(a, **kwargs), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(getattr(t, name)(1, ddof=0)), getattr(a, name)(1, ddof=0), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(getattr(t, name)(1, correction=1)),
                               getattr(torch.tensor(a), name)(1, correction=1).numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["std", "var"])
@pytest.mark.parametrize("args", [(), (1,)])
def test_std_var_without_a_word_of_either_names_both_readings(device, a, name, args):
    t = st.tensor(a, device=device)
    assert not np.allclose(getattr(a, name)(*args), getattr(torch.tensor(a), name)(*args).numpy())
    for call in (lambda: getattr(t, name)(*args), lambda: getattr(st, name)(t, *args)):
        with pytest.raises(TypeError, match=r"NumPy.*ddof=0.*PyTorch.*correction=1"):
            call()
    with pytest.raises(TypeError, match="one set"):
        getattr(t, name)(axis=1, keepdim=True)


# ----- size -----
def test_size_is_numpys_element_count_and_pytorchs_method(device, a):
    import pickle
    t, tx = st.tensor(a, device=device), torch.tensor(a)
    assert t.size == a.size and isinstance(t.size, int) and t.size + 1 == a.size + 1 and np.size(t) == a.size
    assert t.size() == tuple(tx.size()) and t.size() == a.shape
    for dim in (0, 1, -1):
        assert t.size(dim) == tx.size(dim) == tx.size(dim=dim) == t.size(dim=dim)
    with pytest.raises(IndexError, match=r"size\(3\).*\(2, 3, 4\)"):
        t.size(3)
    assert pickle.loads(pickle.dumps(t.size)) == a.size
    assert st.tensor(1.0, device=device).size == 1 and st.tensor(1.0, device=device).size() == ()


# ----- parameters -----
def test_assigning_a_plain_tensor_to_a_parameter_name_raises_as_pytorch():
    lin, tlin = st.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    with pytest.raises(TypeError):
        tlin.weight = torch.randn(2, 2)
    with pytest.raises(TypeError, match=r"parameter 'weight'.*Parameter or None"):
        lin.weight = st.randn(2, 2)
    assert [n for n, _ in lin.named_parameters()] == [n for n, _ in tlin.named_parameters()] == ["weight", "bias"]
    lin.bias, tlin.bias = None, None
    assert list(lin.state_dict()) == list(tlin.state_dict()) == ["weight"]
    assert lin.bias is None and "bias" in lin._parameters and "bias" in tlin._parameters
    lin.bias = st.nn.Parameter(st.zeros(2))
    assert list(lin.state_dict()) == ["weight", "bias"]


def test_setting_data_to_a_tensor_takes_its_array_as_pytorch():
    p, tp = st.nn.Parameter(st.zeros(3)), torch.nn.Parameter(torch.zeros(3))
    new = np.array([1.0, 2.0, 3.0], np.float32)
    p.data, tp.data = st.tensor(new), torch.tensor(new)
    assert type(p.data) is np.ndarray
    (p * 2).sum().backward()
    (tp * 2).sum().backward()
    np.testing.assert_array_equal(to_numpy(p), tp.detach().numpy())
    np.testing.assert_array_equal(to_numpy(p.grad), tp.grad.numpy())
    t = st.zeros(2)
    t.data = st.ones(2)
    assert type(t.data) is np.ndarray and to_numpy(t).tolist() == [1.0, 1.0]


# ----- layers and input dtypes -----
def _layer_pairs():
    return [
        ("linear", lambda: st.nn.Linear(3, 2), lambda: torch.nn.Linear(3, 2), (4, 3)),
        ("conv2d", lambda: st.nn.Conv2d(2, 3, 3), lambda: torch.nn.Conv2d(2, 3, 3), (1, 2, 5, 5)),
        ("conv1d", lambda: st.nn.Conv1d(2, 3, 3), lambda: torch.nn.Conv1d(2, 3, 3), (1, 2, 5)),
        ("lstm", lambda: st.nn.LSTM(3, 4), lambda: torch.nn.LSTM(3, 4), (5, 2, 3)),
        ("gru", lambda: st.nn.GRU(3, 4), lambda: torch.nn.GRU(3, 4), (5, 2, 3)),
        ("rnn", lambda: st.nn.RNN(3, 4), lambda: torch.nn.RNN(3, 4), (5, 2, 3)),
    ]


@pytest.mark.parametrize("model_dtype, input_dtype", [("float64", "float32"), ("float16", "float32"),
                                                      ("float32", "float64")])
@pytest.mark.parametrize("name, ours, theirs, shape", _layer_pairs(), ids=[p[0] for p in _layer_pairs()])
def test_a_model_fed_another_float_dtype_raises_as_pytorch(name, ours, theirs, shape, model_dtype, input_dtype):
    x = np.random.default_rng(0).standard_normal(shape).astype(input_dtype)
    if model_dtype != "float16":  # PyTorch's CPU kernels lack some float16 layers; the mismatch is the point
        with pytest.raises((RuntimeError, ValueError)):  # PyTorch's recurrent modules raise ValueError
            theirs().to(getattr(torch, model_dtype))(torch.tensor(x))
    with pytest.raises((RuntimeError, TypeError), match=rf"{input_dtype}.*{model_dtype}"):
        ours().to(model_dtype)(st.tensor(x))


@pytest.mark.parametrize("name, ours, theirs, shape", _layer_pairs(), ids=[p[0] for p in _layer_pairs()])
def test_a_float64_model_fed_float64_still_matches_pytorch(name, ours, theirs, shape):
    x = np.random.default_rng(0).standard_normal(shape)
    model, reference = ours().double(), theirs().double()
    model.load_state_dict({k: v.detach().numpy() for k, v in reference.state_dict().items()})
    out, expected = model(st.tensor(x, dtype=st.float64)), reference(torch.tensor(x))
    out, expected = (out[0], expected[0]) if isinstance(out, tuple) else (out, expected)
    np.testing.assert_allclose(to_numpy(out), expected.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("call", [
    lambda x, w: st.nn.functional.linear(x, w),
    lambda x, w: st.nn.functional.conv1d(x.reshape(1, 3, 1), w.reshape(3, 3, 1)),
    lambda x, w: st.nn.functional.rnn.gru_cell(x, None, st.zeros(6, 3, dtype=w.dtype), st.zeros(6, 2, dtype=w.dtype)),
])
def test_functional_layers_refuse_mixed_dtypes(call):
    x = st.tensor(np.ones((1, 3)), dtype=st.float32)
    with pytest.raises(RuntimeError, match="float32.*float64"):
        call(x, st.tensor(np.ones((3, 3)), dtype=st.float64))
    assert call(x, st.tensor(np.ones((3, 3)), dtype=st.float32)).dtype == st.float32
