"""Elementwise ops: forward against NumPy and PyTorch, float64 gradient checks, broadcasting, dtypes, errors."""
import itertools
import operator

import numpy as np
import pytest
import torch

import sparktensor as st
from backends import GradientDtype, to_numpy
from differentiable_checks import assert_matches_torch


# ----- input domains: where each op is smooth, away from kinks, poles and ties -----
def anywhere(rng, shape):
    return rng.standard_normal(shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def nonzero(rng, shape):
    return np.asarray(rng.uniform(0.3, 2.0, shape) * rng.choice([-1.0, 1.0], shape))  # an array even for shape ()


def above_minus_one(rng, shape):
    return rng.uniform(-0.6, 2.0, shape)


def off_the_clip_bounds(rng, shape):
    """Values at least 0.1 away from -0.5 and 0.5, the bounds the clip cases use."""
    return np.asarray(rng.choice([-1.0, 1.0], shape) * rng.choice([0.2, 0.8], shape) + rng.uniform(-0.15, 0.15, shape))


def _broadcastable(*shapes):
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        return False
    return True


SHAPES = [(), (3,), (2, 3), (1, 3), (2, 1, 3)]
SHAPE_PAIRS = [pair for pair in itertools.product(SHAPES, SHAPES) if _broadcastable(*pair)]
BAD_PAIRS = [((2, 3), (4,)), ((2, 3), (3, 2)), ((2, 2, 3), (4, 3))]

# name: (sparktensor function, NumPy reference, PyTorch reference, domain of x, domain of y)
BINARY = {
    "add": (st.add, np.add, torch.add, anywhere, anywhere),
    "sub": (st.sub, np.subtract, torch.sub, anywhere, anywhere),
    "mul": (st.mul, np.multiply, torch.mul, anywhere, anywhere),
    "div": (st.div, np.true_divide, torch.div, anywhere, nonzero),
    "pow": (st.pow, np.power, torch.pow, positive, anywhere),
    "maximum": (st.maximum, np.maximum, torch.maximum, anywhere, anywhere),
    "minimum": (st.minimum, np.minimum, torch.minimum, anywhere, anywhere),
    "remainder": (st.remainder, np.remainder, torch.remainder, anywhere, nonzero),
    # PyTorch has no derivative for floor_divide; floor(x / y) is the same piecewise-constant function
    "floor_divide": (st.floor_divide, np.floor_divide, lambda x, y: torch.floor(x / y), anywhere, nonzero),
}
OPERATORS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
             "pow": operator.pow, "remainder": operator.mod, "floor_divide": operator.floordiv}

# name: (sparktensor function, NumPy reference, PyTorch reference, domain)
UNARY = {
    "neg": (st.neg, np.negative, torch.neg, anywhere),
    "neg_operator": (operator.neg, np.negative, torch.neg, anywhere),
    "abs": (st.abs, np.abs, torch.abs, nonzero),
    "abs_builtin": (abs, np.abs, torch.abs, nonzero),
    "exp": (st.exp, np.exp, torch.exp, anywhere),
    "log": (st.log, np.log, torch.log, positive),
    "log1p": (st.log1p, np.log1p, torch.log1p, above_minus_one),
    "expm1": (st.expm1, np.expm1, torch.expm1, anywhere),
    "sqrt": (st.sqrt, np.sqrt, torch.sqrt, positive),
    "sin": (st.sin, np.sin, torch.sin, anywhere),
    "cos": (st.cos, np.cos, torch.cos, anywhere),
    "tanh": (st.tanh, np.tanh, torch.tanh, anywhere),
    "sigmoid": (st.sigmoid, lambda x: 1 / (1 + np.exp(-x)), torch.sigmoid, anywhere),
    "relu": (st.relu, lambda x: np.maximum(x, 0), torch.relu, nonzero),
    "sign": (st.sign, np.sign, torch.sign, nonzero),
    "clip": (lambda x: st.clip(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5),
             lambda x: torch.clamp(x, -0.5, 0.5), off_the_clip_bounds),
    "clip_min": (lambda x: st.clip(x, min=-0.5), lambda x: np.maximum(x, -0.5),
                 lambda x: torch.clamp(x, min=-0.5), off_the_clip_bounds),
    "clip_max": (lambda x: x.clamp(max=0.5), lambda x: np.minimum(x, 0.5),
                 lambda x: torch.clamp(x, max=0.5), off_the_clip_bounds),
    "square": (lambda x: x ** 2, np.square, torch.square, anywhere),
    "pow_half": (lambda x: x ** 0.5, np.sqrt, torch.sqrt, positive),
    "pow_minus_one": (lambda x: st.pow(x, -1), np.reciprocal, torch.reciprocal, nonzero),
    "rpow": (lambda x: 2.0 ** x, lambda x: 2.0 ** x, lambda x: 2.0 ** x, anywhere),
    "rsub": (lambda x: 2.0 - x, lambda x: 2.0 - x, lambda x: 2.0 - x, anywhere),
    "rdiv": (lambda x: 2.0 / x, lambda x: 2.0 / x, lambda x: 2.0 / x, nonzero),
    "maximum_scalar": (lambda x: st.maximum(x, 0.25), lambda x: np.maximum(x, 0.25),
                       lambda x: torch.clamp(x, min=0.25), nonzero),
}
UNARY_SHAPES = [(), (4,), (2, 3), (2, 1, 3)]


def _tensors(arrays, device, requires_grad=True):
    return [st.tensor(a, device=device, requires_grad=requires_grad) for a in arrays]


def _run_sparktensor(fn, arrays, upstream, device):
    """The value and the gradients of every input after backward with ``upstream``."""
    inputs = _tensors(arrays, device)
    out = fn(*inputs)
    out.backward(st.tensor(upstream, device=device))
    return to_numpy(out), [to_numpy(x.grad) for x in inputs]


# ----- binary ops over every pair of broadcastable shapes -----
@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("name", BINARY)
def test_binary_forward_matches_numpy(device, rng, name, shapes):
    fn, np_fn, _, x_domain, y_domain = BINARY[name]
    x, y = x_domain(rng, shapes[0]), y_domain(rng, shapes[1])
    expected = np_fn(x, y)
    results = [fn(*_tensors([x, y], device, False))]
    if name in OPERATORS:
        results.append(OPERATORS[name](*_tensors([x, y], device, False)))
    for out in results:
        assert isinstance(out, st.Tensor)
        assert out.shape == expected.shape and out.dtype == expected.dtype
        np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-12)


@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("name", BINARY)
def test_binary_gradcheck(device, rng, name, shapes):
    fn, _, _, x_domain, y_domain = BINARY[name]
    x, y = _tensors([x_domain(rng, shapes[0]), y_domain(rng, shapes[1])], device)
    assert st.autograd.gradcheck(fn, [x, y])


@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("name", BINARY)
def test_binary_matches_torch(device, rng, name, shapes):
    fn, _, torch_fn, x_domain, y_domain = BINARY[name]
    arrays = [x_domain(rng, shapes[0]), y_domain(rng, shapes[1])]
    upstream = rng.standard_normal(np.broadcast_shapes(*shapes))
    assert_matches_torch(fn, torch_fn, arrays, upstream, device)


@pytest.mark.parametrize("name", BINARY)
def test_binary_matches_torch_in_float32(device, rng, name):
    fn, _, torch_fn, x_domain, y_domain = BINARY[name]
    arrays = [x_domain(rng, (2, 3)).astype(np.float32), y_domain(rng, (3,)).astype(np.float32)]
    upstream = rng.standard_normal((2, 3)).astype(np.float32)
    assert_matches_torch(fn, torch_fn, arrays, upstream, device, rtol=1e-5, atol=1e-6)


def test_binary_gradient_of_one_input_only(device, rng):
    x = st.tensor(rng.standard_normal((2, 3)), device=device, requires_grad=True)
    y = st.tensor(rng.standard_normal(3), device=device)
    (x * y).sum().backward()
    assert y.grad is None
    np.testing.assert_allclose(to_numpy(x.grad), np.broadcast_to(to_numpy(y), (2, 3)))


# ----- unary ops -----
@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", UNARY)
def test_unary_forward_matches_numpy(device, rng, name, shape):
    fn, np_fn, _, domain = UNARY[name]
    x = domain(rng, shape)
    out = fn(st.tensor(x, device=device))
    expected = np.asarray(np_fn(x))
    assert out.shape == expected.shape and out.dtype == expected.dtype
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", UNARY)
def test_unary_gradcheck(device, rng, name, shape):
    fn, _, _, domain = UNARY[name]
    x = st.tensor(domain(rng, shape), dtype=st.float64, device=device, requires_grad=True)
    assert st.autograd.gradcheck(fn, [x])


@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", UNARY)
def test_unary_matches_torch(device, rng, name, shape):
    fn, _, torch_fn, domain = UNARY[name]
    assert_matches_torch(fn, torch_fn, [domain(rng, shape)], rng.standard_normal(shape), device)


@pytest.mark.parametrize("name", UNARY)
def test_unary_matches_torch_in_float32(device, rng, name):
    fn, _, torch_fn, domain = UNARY[name]
    x = domain(rng, (2, 3)).astype(np.float32)
    upstream = rng.standard_normal((2, 3)).astype(np.float32)
    assert_matches_torch(fn, torch_fn, [x], upstream, device, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu",
                                  "abs", "sign"])
def test_tensor_methods_match_functions(device, rng, name):
    x = st.tensor(positive(rng, (2, 3)), device=device)
    np.testing.assert_array_equal(to_numpy(getattr(x, name)()), to_numpy(getattr(st, name)(x)))


@pytest.mark.parametrize("name, values", [
    ("abs", [-1.0, 0.0, 2.0]),
    ("relu", [-1.0, 0.0, 2.0]),
    ("sign", [-1.0, 0.0, 2.0]),
    ("clip", [-0.5, 0.5, 0.0, 1.0]),  # exactly on the bounds
])
def test_gradient_at_kinks_matches_torch(device, rng, name, values):
    fn, _, torch_fn, _ = UNARY[name]
    values = np.array(values)
    assert_matches_torch(fn, torch_fn, [values], rng.standard_normal(values.shape), device)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_saturating_functions_stay_finite_for_huge_inputs(device, name):
    fn, _, torch_fn, _ = UNARY[name]
    values = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with np.errstate(over="raise"):
        value, (grad,) = _run_sparktensor(fn, [values], np.ones(5), device)
    assert np.isfinite(value).all() and np.isfinite(grad).all()
    assert_matches_torch(fn, torch_fn, [values], np.ones(5), device)


@pytest.mark.parametrize("name", ["log1p", "expm1"])
def test_log1p_and_expm1_are_accurate_near_zero(device, name):
    fn, np_fn, _, _ = UNARY[name]
    x = np.array([1e-12, -3e-10, 2e-8])
    np.testing.assert_allclose(to_numpy(fn(st.tensor(x, device=device))), np_fn(x), rtol=1e-14)
    assert not np.allclose(np_fn(x), {"log1p": np.log(1 + x), "expm1": np.exp(x) - 1}[name], rtol=1e-6, atol=0)


# ----- reflected operators: Python numbers and arrays on the left -----
@pytest.mark.parametrize("left", ["float", "int", "array"])
@pytest.mark.parametrize("name", OPERATORS)
def test_reflected_operators(device, rng, name, left):
    op = OPERATORS[name]
    x = positive(rng, (2, 3))
    number = {"float": 1.5, "int": 2, "array": positive(rng, (3,))}[left]
    t = st.tensor(x, device=device, requires_grad=True)
    on_left = st.get_array_module(t.data).asarray(number) if left == "array" else number
    out = op(on_left, t)
    expected = op(number, x)
    assert isinstance(out, st.Tensor)
    assert out.shape == expected.shape and out.dtype == expected.dtype
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-12)

    upstream = rng.standard_normal((2, 3))
    out.backward(st.tensor(upstream, device=device))
    reference = torch.tensor(x, requires_grad=True)
    torch_left = torch.tensor(number, dtype=torch.float64)  # PyTorch has no remainder gradient for a number
    torch_fn = BINARY[name][2] if name == "floor_divide" else op
    torch_fn(torch_left, reference).backward(torch.tensor(upstream))
    np.testing.assert_allclose(to_numpy(t.grad), reference.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_reflected_operator_with_float32_array_keeps_float32(device, rng):
    t = st.tensor(positive(rng, (2, 3)).astype(np.float32), device=device, requires_grad=True)
    xp = st.get_array_module(t.data)
    out = xp.ones(3, dtype=np.float32) - t
    assert out.dtype == st.float32
    out.sum().backward()
    assert t.grad.dtype == st.float32
    np.testing.assert_array_equal(to_numpy(t.grad), -np.ones((2, 3), np.float32))


# ----- comparisons: bool outputs, no gradient -----
COMPARISONS = {
    "==": (operator.eq, st.equal, np.equal), "!=": (operator.ne, st.not_equal, np.not_equal),
    "<": (operator.lt, st.less, np.less), "<=": (operator.le, st.less_equal, np.less_equal),
    ">": (operator.gt, st.greater, np.greater), ">=": (operator.ge, st.greater_equal, np.greater_equal),
}


@pytest.mark.parametrize("shapes", [((), (3,)), ((2, 3), (3,)), ((2, 1, 3), (1, 3)), ((2, 3), (2, 3))], ids=str)
@pytest.mark.parametrize("name", COMPARISONS)
def test_comparison_matches_numpy_and_has_no_gradient(device, rng, name, shapes):
    op, fn, np_fn = COMPARISONS[name]
    # small integers, so that equal elements are common
    x, y = (rng.integers(0, 3, s).astype(np.float64) for s in shapes)
    tx, ty = _tensors([x, y], device)
    for out in (op(tx, ty), fn(tx, ty)):
        assert out.dtype == st.bool and not out.requires_grad
        np.testing.assert_array_equal(to_numpy(out), np_fn(x, y))
    np.testing.assert_array_equal(to_numpy(op(tx, 1.0)), np_fn(x, 1.0))
    np.testing.assert_array_equal(to_numpy(op(1.0, tx)), np_fn(1.0, x))


def test_comparison_result_feeds_where(device, rng):
    x = rng.standard_normal((2, 3))
    t = st.tensor(x, device=device)
    np.testing.assert_array_equal(to_numpy(st.where(t > 0, t, -t)), np.abs(x))


# ----- dtype promotion follows NumPy -----
def _operand(kind, rng, device):
    """A tensor of dtype ``kind`` (a string), or a Python number, and its NumPy twin."""
    if isinstance(kind, (int, float)):
        return kind, kind
    x = (rng.uniform(1, 3, (2, 3)) * 2).astype(kind)
    return st.tensor(x, device=device), x


@pytest.mark.parametrize("x_kind, y_kind, expected", [
    ("float32", 2.5, "float32"),    # a Python float does not widen a float32 tensor
    ("float32", 3, "float32"),
    (2.5, "float32", "float32"),
    ("float32", "int64", "float64"),
    ("float32", "float64", "float64"),
    ("float16", "float32", "float32"),
    ("int64", "int64", "int64"),
    ("int32", "int64", "int64"),
    ("int64", 2.5, "float64"),
    ("int64", 2, "int64"),
    ("bool", "int64", "int64"),
])
@pytest.mark.parametrize("name", ["add", "sub", "mul", "maximum"])
def test_dtype_promotion_follows_numpy(device, rng, name, x_kind, y_kind, expected):
    if name == "sub" and x_kind == "bool":
        pytest.skip("NumPy has no bool subtraction")
    fn, np_fn = BINARY[name][:2]
    (x, x_np), (y, y_np) = _operand(x_kind, rng, device), _operand(y_kind, rng, device)
    out = fn(x, y)
    assert out.dtype == np_fn(x_np, y_np).dtype == np.dtype(expected)
    np.testing.assert_array_equal(to_numpy(out), np_fn(x_np, y_np))


@pytest.mark.parametrize("default", ["float32", "float64"])
def test_true_division_of_integers_gives_the_default_float(device, default):
    previous = st.get_default_dtype()
    st.set_default_dtype(default)
    try:
        for out in (st.arange(1, 4, device=device) / st.tensor([2, 2, 2], device=device),
                    st.divide(st.arange(1, 4, device=device), 2), 3 / st.arange(1, 4, device=device)):
            assert out.dtype == np.dtype(default)
        expected = torch.arange(1, 4) / torch.tensor([2, 2, 2])
        np.testing.assert_allclose(to_numpy(st.arange(1, 4, device=device) / 2), expected.numpy(), rtol=1e-7)
    finally:
        st.set_default_dtype(previous)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "remainder"])
def test_gradient_dtype_is_the_input_dtype(device, rng, name):
    fn, _, _, x_domain, y_domain = BINARY[name]
    x = st.tensor(x_domain(rng, (2, 3)).astype(np.float32), device=device, requires_grad=True)
    y = st.tensor(y_domain(rng, (3,)), device=device, requires_grad=True)  # float64
    out = fn(x, y)
    assert out.dtype == st.float64
    out.sum().backward()
    assert x.grad.dtype == st.float32 and y.grad.dtype == st.float64
    assert x.grad.shape == (2, 3) and y.grad.shape == (3,)


@pytest.mark.parametrize("name", ["add", "mul", "div", "pow", "maximum", "minimum", "where", "clip"])
def test_float32_graph_gets_float32_gradients_from_float64_partners(device, rng, name):
    partner = st.tensor(positive(rng, (3,)), device=device)  # float64
    ops = {"where": lambda t: st.where(t > 1, t, partner), "clip": lambda t: st.clip(t, partner, None)}
    fn = ops.get(name, lambda t: BINARY[name][0](t, partner))
    x = st.tensor(positive(rng, (2, 3)).astype(np.float32), device=device, requires_grad=True)
    GradientDtype.seen.clear()
    fn(GradientDtype.apply(x)).sum().backward()
    assert GradientDtype.seen == [np.dtype("float32")]


# ----- ties share the gradient equally -----
def test_maximum_and_minimum_split_ties(device):
    x = np.array([1.0, 2.0, 3.0, 5.0])
    y = np.array([1.0, 0.0, 3.0, 6.0])
    upstream = np.ones(4)
    _, (gx, gy) = _run_sparktensor(st.maximum, [x, y], upstream, device)
    np.testing.assert_array_equal(gx, [0.5, 1.0, 0.5, 0.0])
    np.testing.assert_array_equal(gy, [0.5, 0.0, 0.5, 1.0])
    _, (gx, gy) = _run_sparktensor(st.minimum, [x, y], upstream, device)
    np.testing.assert_array_equal(gx, [0.5, 0.0, 0.5, 1.0])
    np.testing.assert_array_equal(gy, [0.5, 1.0, 0.5, 0.0])


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_ties_with_broadcasting_match_torch(device, rng, name):
    fn, _, torch_fn = BINARY[name][:3]
    x = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, -1.0]])
    y = np.array(1.0)
    assert_matches_torch(fn, torch_fn, [x, y], rng.standard_normal((2, 3)), device)


# ----- pow at zero, where and clip with tensor arguments -----
def test_pow_gradients_at_zero_match_torch(device, rng):
    x = np.array([0.0, 0.0, 0.0, 2.0, 3.0])
    y = np.array([0.0, 2.0, 0.5, 0.0, -1.0])
    assert_matches_torch(st.pow, torch.pow, [x, y], rng.standard_normal(5), device)
    assert_matches_torch(lambda t: t ** 0.0, lambda t: t ** 0.0, [x], np.ones(5), device)


def test_floor_divide_has_zero_gradient(device, rng):
    x, y = _tensors([rng.standard_normal((2, 3)), nonzero(rng, (3,))], device)
    (x // y).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), np.zeros((2, 3)))
    np.testing.assert_array_equal(to_numpy(y.grad), np.zeros(3))


WHERE_SHAPES = [((2, 3), (2, 3), (2, 3)), ((2, 1, 3), (3,), ()), ((3,), (2, 1), (1, 3)), ((), (2, 3), (3,))]


@pytest.mark.parametrize("shapes", WHERE_SHAPES, ids=str)
def test_where(device, rng, shapes):
    condition = rng.random(shapes[0]) > 0.5
    x, y = rng.standard_normal(shapes[1]), rng.standard_normal(shapes[2])
    c = st.tensor(condition, device=device)
    tx, ty = _tensors([x, y], device)
    out = st.where(c, tx, ty)
    expected = np.where(condition, x, y)
    assert out.shape == expected.shape
    np.testing.assert_array_equal(to_numpy(out), expected)
    assert st.autograd.gradcheck(lambda a, b: st.where(c, a, b), [tx, ty])
    assert_matches_torch(lambda a, b: st.where(c, a, b), lambda a, b: torch.where(torch.tensor(condition), a, b),
                           [x, y], rng.standard_normal(expected.shape), device)


def test_where_with_a_number(device, rng):
    x = rng.standard_normal((2, 3))
    t = st.tensor(x, device=device, requires_grad=True)
    out = st.where(t > 0, t, 0.0)
    np.testing.assert_array_equal(to_numpy(out), np.where(x > 0, x, 0.0))
    out.sum().backward()
    np.testing.assert_array_equal(to_numpy(t.grad), (x > 0).astype(float))


def test_clip_with_tensor_bounds(device, rng):
    x = rng.uniform(-2, 2, (2, 3))
    low, high = np.array([-1.0, -0.5, 0.2]), np.array(0.7)
    x[np.abs(x - low) < 0.05] += 0.1  # keep finite differences away from the kinks
    x[np.abs(x - high) < 0.05] += 0.1
    out = st.clip(*_tensors([x, low, high], device, False))
    np.testing.assert_array_equal(to_numpy(out), np.clip(x, low, high))
    assert st.autograd.gradcheck(st.clip, _tensors([x, low, high], device))
    assert_matches_torch(st.clip, lambda a, b, c: torch.clamp(a, b, c), [x, low, high],
                           rng.standard_normal((2, 3)), device)


def test_clip_without_bounds_is_a_differentiable_copy(device, rng):
    x = st.tensor(rng.standard_normal(3), device=device, requires_grad=True)
    out = st.clip(x)
    assert out is not x
    np.testing.assert_array_equal(to_numpy(out), to_numpy(x))
    out.backward(st.tensor([1.0, 2.0, 3.0], device=device))
    np.testing.assert_array_equal(to_numpy(x.grad), [1.0, 2.0, 3.0])


# ----- errors name the op and the shapes -----
@pytest.mark.parametrize("shapes", BAD_PAIRS, ids=str)
@pytest.mark.parametrize("name", list(BINARY) + ["equal", "less", "logical_and"])
def test_broadcast_error_names_op_and_both_shapes(device, name, shapes):
    fn = getattr(st, name)
    x, y = (st.ones(s, device=device) for s in shapes)
    with pytest.raises(ValueError) as info:
        fn(x, y)
    message = str(info.value)
    assert name in message and str(shapes[0]) in message and str(shapes[1]) in message


@pytest.mark.parametrize("name", OPERATORS)
def test_operator_broadcast_error_names_op(device, name):
    x, y = st.ones(2, 3, device=device), st.ones(4, device=device)
    with pytest.raises(ValueError, match=rf"{name}: cannot broadcast shapes \(2, 3\) and \(4,\)"):
        OPERATORS[name](x, y)


def test_where_and_clip_broadcast_errors_name_every_shape(device):
    c, x, y = st.ones(2, 3, device=device) > 0, st.ones(3, device=device), st.ones(4, device=device)
    with pytest.raises(ValueError, match=r"where: .*\(2, 3\), \(3,\) and \(4,\)"):
        st.where(c, x, y)
    with pytest.raises(ValueError, match=r"clip: .*\(2, 3\) and \(4,\)"):
        st.clip(st.ones(2, 3, device=device), y, None)


def test_other_value_errors_pass_through_unchanged(device):
    if device != "cpu":
        pytest.skip("CuPy does not reject negative integer powers")
    with pytest.raises(ValueError) as info:
        st.arange(3, device=device) ** -1
    assert "broadcast" not in str(info.value) and "negative" in str(info.value)


def test_floor_divide_by_infinities_follows_the_standard(device):
    """``inf // 2`` is inf and ``1 // -inf`` is -0 (floor of the IEEE quotient), where NumPy gives NaN and -1."""
    x = np.array([np.inf, -np.inf, np.inf, 1.0, -1.0, 1.0, 7.0, -7.0])
    y = np.array([2.0, 2.0, -3.0, -np.inf, np.inf, np.inf, 2.0, 2.0])
    out = to_numpy(st.floor_divide(st.tensor(x, device=device), st.tensor(y, device=device)))
    with np.errstate(invalid="ignore"):
        expected = np.where(np.isinf(x) | np.isinf(y), np.floor(x / y), np.floor_divide(x, y))
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(np.signbit(out), np.signbit(expected))
    assert out[0] == np.inf and out[3] == 0 and np.signbit(out[3])


@pytest.mark.parametrize("name", ["equal", "less", "logical_and", "bitwise_and", "bitwise_left_shift"])
def test_binary_predicates_take_two_positional_only_arguments(name):
    import inspect
    parameters = list(inspect.signature(getattr(st, name)).parameters.values())
    assert [p.name for p in parameters] == ["x1", "x2"] and all(p.kind == p.POSITIONAL_ONLY for p in parameters)


@pytest.mark.parametrize("name", ["logical_not", "isnan", "isinf", "isfinite", "bitwise_invert", "signbit"])
def test_unary_predicates_take_one_positional_only_argument(name):
    import inspect
    parameters = list(inspect.signature(getattr(st, name)).parameters.values())
    assert len(parameters) == 1 and parameters[0].kind == parameters[0].POSITIONAL_ONLY


def test_clip_with_min_above_max_matches_torch(device, rng):
    """Where min > max the result is max, and the gradient goes to max alone, as PyTorch's clamp."""
    x = np.array([0.0, 1.5, 3.0, -2.0])
    low, high = np.array([2.0, 2.0, 0.5, -1.0]), np.array([1.0, 1.0, 1.0, 1.0])
    assert_matches_torch(st.clip, lambda a, b, c: torch.clamp(a, b, c), [x, low, high], rng.standard_normal(4),
                           device)
    assert_matches_torch(lambda a: st.clip(a, 2.0, 1.0), lambda a: torch.clamp(a, 2.0, 1.0), [x],
                           rng.standard_normal(4), device)
