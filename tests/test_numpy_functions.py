"""NumPy's protocols: NumPy functions and ufuncs called on tensors give tensors that keep the graph.

Each case runs four ways: its values against the same NumPy call on plain arrays, float64 ``gradcheck``
through the NumPy call, the gradient against the Tensor method of the same meaning, and values and
gradients against PyTorch where it has the op.
"""
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as torch_F

import sparktensor as st
from backends import to_numpy


def _tuple(y):
    return tuple(y) if isinstance(y, (tuple, list)) else (y,)


# name: (input shapes, NumPy call, Tensor method call, PyTorch call or None); the NumPy call runs on arrays too
CASES = {
    "sum axis": ([(3, 4)], lambda x: np.sum(x, axis=0), lambda x: x.sum(axis=0), lambda t: t.sum(0)),
    "sum keepdims": ([(2, 3, 4)], lambda x: np.sum(x, axis=(0, 2), keepdims=True),
                     lambda x: x.sum(axis=(0, 2), keepdims=True), lambda t: t.sum((0, 2), keepdim=True)),
    "sum positional": ([(3, 4)], lambda x: np.sum(x, 1, None, None, True), lambda x: x.sum(1, True),
                       lambda t: t.sum(1, keepdim=True)),
    "mean": ([(3, 4)], lambda x: np.mean(x, axis=1), lambda x: x.mean(axis=1), lambda t: t.mean(1)),
    "prod": ([(3, 4)], lambda x: np.prod(x, axis=0), lambda x: x.prod(axis=0), lambda t: t.prod(0)),
    "var ddof": ([(4, 3)], lambda x: np.var(x, axis=0, ddof=1), lambda x: x.var(axis=0, ddof=1),
                 lambda t: t.var(0, correction=1)),
    "std": ([(4, 3)], lambda x: np.std(x), lambda x: x.std(ddof=0), lambda t: t.std(correction=0)),
    "max": ([(3, 4)], lambda x: np.max(x, axis=1), lambda x: x.max(axis=1), lambda t: t.amax(1)),
    "amin keepdims": ([(3, 4)], lambda x: np.amin(x, axis=0, keepdims=True), lambda x: x.min(axis=0, keepdims=True),
                      lambda t: t.amin(0, keepdim=True)),
    "ufunc reduce": ([(3, 4)], lambda x: np.add.reduce(x, axis=1), lambda x: x.sum(axis=1), lambda t: t.sum(1)),
    "matmul": ([(3, 4), (4, 2)], lambda x, y: np.matmul(x, y), lambda x, y: x.matmul(y), torch.matmul),
    "dot": ([(3, 4), (4,)], lambda x, y: np.dot(x, y), lambda x, y: x.dot(y), torch.mv),
    "outer": ([(3,), (4,)], lambda x, y: np.outer(x, y), lambda x, y: st.outer(x, y), torch.outer),
    "einsum": ([(3, 4), (4, 2)], lambda x, y: np.einsum("ij,jk->ik", x, y), lambda x, y: st.einsum("ij,jk->ik", x, y),
               lambda a, b: torch.einsum("ij,jk->ik", a, b)),
    "tensordot": ([(2, 3, 4), (3, 4, 5)], lambda x, y: np.tensordot(x, y, axes=2),
                  lambda x, y: st.einsum("abc,bcd->ad", x, y), lambda a, b: torch.tensordot(a, b, dims=2)),
    "tensordot pairs": ([(3, 4), (5, 3)], lambda x, y: np.tensordot(x, y, axes=([0], [1])), lambda x, y: x.T @ y.T,
                        lambda a, b: torch.tensordot(a, b, dims=([0], [1]))),
    "concatenate": ([(2, 3), (4, 3)], lambda x, y: np.concatenate([x, y]), lambda x, y: st.concatenate([x, y]),
                    lambda a, b: torch.cat([a, b])),
    "concatenate flat": ([(2, 3), (4,)], lambda x, y: np.concatenate([x, y], axis=None),
                         lambda x, y: st.concatenate([x.reshape(-1), y]), lambda a, b: torch.cat([a.reshape(-1), b])),
    "stack": ([(2, 3), (2, 3)], lambda x, y: np.stack([x, y], axis=1), lambda x, y: st.stack([x, y], axis=1),
              lambda a, b: torch.stack([a, b], 1)),
    "reshape": ([(3, 4)], lambda x: np.reshape(x, (2, -1)), lambda x: x.reshape(2, -1), lambda t: t.reshape(2, -1)),
    "ravel": ([(3, 4)], np.ravel, lambda x: x.flatten(), torch.ravel),
    "transpose": ([(2, 3, 4)], np.transpose, lambda x: x.transpose(), lambda t: t.permute(2, 1, 0)),
    "transpose axes": ([(2, 3, 4)], lambda x: np.transpose(x, (1, 0, 2)), lambda x: x.permute(1, 0, 2),
                       lambda t: t.permute(1, 0, 2)),
    "swapaxes": ([(2, 3, 4)], lambda x: np.swapaxes(x, 0, 2), lambda x: x.swapaxes(0, 2),
                 lambda t: t.swapaxes(0, 2)),
    "squeeze": ([(3, 1, 4)], lambda x: np.squeeze(x, axis=1), lambda x: x.squeeze(1), lambda t: t.squeeze(1)),
    "expand_dims": ([(3, 4)], lambda x: np.expand_dims(x, 1), lambda x: x.unsqueeze(1), lambda t: t.unsqueeze(1)),
    "broadcast_to": ([(3, 1)], lambda x: np.broadcast_to(x, (2, 3, 4)), lambda x: x.broadcast_to((2, 3, 4)),
                     lambda t: t.broadcast_to((2, 3, 4))),
    "split": ([(4, 6)], lambda x: np.split(x, 3, axis=1), lambda x: x.split(3, axis=1),
              lambda t: torch.split(t, 2, dim=1)),
    "flip": ([(3, 4)], lambda x: np.flip(x, axis=1), lambda x: x.flip(1), lambda t: t.flip(1)),
    "repeat": ([(2, 3)], lambda x: np.repeat(x, 2, axis=0), lambda x: x.repeat(2, axis=0),
               lambda t: t.repeat_interleave(2, 0)),
    "tile": ([(2, 3)], lambda x: np.tile(x, (2, 1)), lambda x: x.tile((2, 1)), lambda t: t.tile((2, 1))),
    "pad": ([(2, 3)], lambda x: np.pad(x, 1, constant_values=0.5), lambda x: x.pad(1, constant_values=0.5),
            lambda t: torch_F.pad(t, (1, 1, 1, 1), value=0.5)),
    "where": ([(3, 4), (3, 4)], lambda x, y: np.where(x > 0, x, y), lambda x, y: st.where(x > 0, x, y),
              lambda a, b: torch.where(a > 0, a, b)),
    "clip": ([(3, 4)], lambda x: np.clip(x, -0.5, 0.5), lambda x: x.clip(-0.5, 0.5),
             lambda t: t.clamp(-0.5, 0.5)),
    "clip keywords": ([(3, 4)], lambda x: np.clip(x, min=-0.5), lambda x: x.clip(min=-0.5),
                      lambda t: t.clamp(min=-0.5)),
    "maximum": ([(3, 4), (4,)], np.maximum, lambda x, y: x.maximum(y), torch.maximum),
    "exp and add": ([(3, 4), (3, 1)], lambda x, y: np.add(np.exp(x), y), lambda x, y: x.exp() + y,
                    lambda a, b: torch.exp(a) + b),
    "copy": ([(3, 4)], np.copy, lambda x: x.clone(), torch.clone),
}


@pytest.mark.parametrize("name", list(CASES))
def test_numpy_function_gives_a_tensor_with_the_methods_gradient(name, rng):
    shapes, numpy_call, method_call, torch_call = CASES[name]
    arrays = [rng.standard_normal(s) for s in shapes]
    xs = [st.tensor(a, requires_grad=True) for a in arrays]
    ys = _tuple(numpy_call(*xs))
    expected = _tuple(numpy_call(*arrays))
    assert all(type(y) is st.Tensor and y.requires_grad for y in ys), [type(y) for y in ys]
    for y, e in zip(ys, expected):
        assert y.shape == np.shape(e) and y.dtype == np.float64
        np.testing.assert_allclose(y.numpy(), e, rtol=1e-12, atol=1e-14)

    cotangents = [rng.standard_normal(y.shape) for y in ys]
    st.autograd.backward(ys, [st.tensor(u) for u in cotangents])
    others = [st.tensor(a, requires_grad=True) for a in arrays]
    st.autograd.backward(_tuple(method_call(*others)), [st.tensor(u) for u in cotangents])
    for x, other in zip(xs, others):
        np.testing.assert_allclose(x.grad.numpy(), other.grad.numpy(), rtol=1e-12, atol=1e-14)

    assert st.autograd.gradcheck(numpy_call, [st.tensor(a, requires_grad=True) for a in arrays])

    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    tys = _tuple(torch_call(*ts))
    torch.autograd.backward(tys, [torch.tensor(u) for u in cotangents])
    for y, t in zip(ys, tys):
        np.testing.assert_allclose(y.detach().numpy(), t.detach().numpy(), rtol=1e-12, atol=1e-14)
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_a_function_without_a_tensor_version_raises_naming_it():
    t = st.tensor([[3.0, 1.0], [2.0, 4.0]], requires_grad=True)
    for call, name in [(np.median, "median"), (lambda x: np.percentile(x, 50), "percentile"),
                       (np.linalg.eig, "linalg.eig"), (lambda x: np.histogram(x), "histogram")]:
        with pytest.raises(TypeError, match=rf"numpy\.{name} has no sparktensor implementation"):
            call(t)
    with pytest.raises(TypeError, match=r"numpy\.fmod has no sparktensor implementation"):
        np.fmod(t, t)
    with pytest.raises(TypeError, match="numpy.where takes either a condition alone or"):
        np.where(t > 2, t)


def test_where_with_only_a_condition_gives_the_indices_as_numpy(device):
    a = np.array([[3.0, 1.0], [2.0, 4.0], [5.0, 0.0]])
    got, expected = np.where(st.tensor(a, device=device) > 2), np.where(a > 2)
    assert len(got) == len(expected) == 2
    for g, e in zip(got, expected):
        assert isinstance(g, st.Tensor) and g.dtype == e.dtype
        np.testing.assert_array_equal(to_numpy(g), e)


@pytest.mark.parametrize("call, torch_call", [
    (np.sort, lambda t: torch.sort(t, dim=-1, stable=True).values),
    (lambda a: np.sort(a, axis=0), lambda t: torch.sort(t, dim=0, stable=True).values),
    (lambda a: np.sort(a, axis=None), lambda t: torch.sort(t.reshape(-1), stable=True).values),
    (np.diag, torch.diag), (lambda a: np.diag(a, 1), lambda t: torch.diag(t, 1)),
    (lambda a: np.diag(a[0]), lambda t: torch.diag(t[0])), (lambda a: np.diag(a[1], -2), lambda t: torch.diag(t[1], -2)),
], ids=["sort", "sort-axis0", "sort-flat", "diag-of-matrix", "diag-offset", "diag-make", "diag-make-below"])
def test_sort_and_diag_keep_the_graph_with_torchs_gradients(call, torch_call):
    a = np.array([[3.0, 1.0, 2.0], [2.0, 4.0, -1.0], [0.5, 0.0, 7.0]])
    x, tx = st.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = call(x), torch_call(tx)
    assert isinstance(y, st.Tensor) and y.requires_grad
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    u = np.random.default_rng(0).standard_normal(tuple(ty.shape))
    y.backward(st.tensor(u))
    ty.backward(torch.tensor(u))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    np.testing.assert_array_equal(np.argsort(x, axis=0).numpy(), np.argsort(a, axis=0, kind="stable"))


def test_arguments_without_a_tensor_meaning_are_named():
    t = st.tensor(np.arange(6.0).reshape(2, 3))
    with pytest.raises(TypeError, match=r"numpy\.sum: argument\(s\) where"):
        np.sum(t, where=t > 1)
    with pytest.raises(TypeError, match=r"numpy\.max: argument\(s\) initial"):
        np.max(t, initial=0.0)
    with pytest.raises(TypeError, match="order='F'"):
        np.reshape(t, (3, 2), order="F")
    with pytest.raises(TypeError, match="casting"):
        np.add(t.requires_grad_(), t, casting="unsafe")


def test_out_keeps_only_values():
    x = st.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = st.zeros(2, dtype=st.float32)
    assert np.sum(x, axis=0, out=out) is out
    np.testing.assert_array_equal(out.numpy(), [4.0, 6.0])
    into = st.zeros((2, 2), dtype=st.float32)
    assert np.multiply(x, 2.0, out=(into,)) is into
    np.testing.assert_array_equal(into.numpy(), [[2.0, 4.0], [6.0, 8.0]])
    with pytest.raises(ValueError, match=r"out= has shape \(3,\), the result has shape \(2,\)"):
        np.sum(x, axis=0, out=st.zeros(3))
    with pytest.raises(RuntimeError, match="requires grad"):
        np.sum(x.requires_grad_(), axis=0, out=st.zeros(2))


def test_dtype_computes_in_that_type(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    t = st.tensor(a, requires_grad=True)
    for call in (lambda x: np.sum(x, axis=1, dtype=np.float64), lambda x: np.mean(x, dtype=np.float64),
                 lambda x: np.divide(x, 3.0, dtype=np.float64), lambda x: np.concatenate([x, x], dtype=np.float64)):
        y, expected = call(t), call(a)
        assert y.dtype == expected.dtype == np.float64
        np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)
    np.sum(t, dtype=np.float64).backward()
    assert t.grad.dtype == np.float32 and np.all(t.grad.numpy() == 1)
    counts = np.sum(st.tensor([True, False, True]))
    assert counts.dtype == np.sum(np.array([True, False, True])).dtype and counts.item() == 2


def test_asarray_is_the_way_out_to_a_plain_array():
    t = st.tensor([[1.0, 2.0]], dtype=st.float64, requires_grad=True)
    plain = np.asarray(t)
    assert type(plain) is np.ndarray and np.shares_memory(plain, t.data)
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    copied = np.array(t)
    assert type(copied) is np.ndarray and not np.shares_memory(copied, t.data)
    assert np.shares_memory(np.asarray(t, copy=False), t.data)
    with pytest.raises(ValueError, match="without a copy"):
        np.asarray(t, dtype=np.float32, copy=False)


def test_queries_answer_with_plain_values():
    t = st.zeros((2, 3), dtype=st.float32)
    assert np.shape(t) == (2, 3) and np.ndim(t) == 2 and np.size(t) == 6 and np.size(t, 1) == 3
    assert np.result_type(t, np.float64) == np.float64 and np.result_type(t, 1.0) == np.float32
    assert np.allclose(t, 0) is True or np.allclose(t, 0) == np.True_
    assert not np.array_equal(t, st.ones((2, 3)))


def test_new_arrays_like_a_tensor_are_tensors():
    t = st.tensor([[1.0, 2.0, 3.0]], dtype=st.float64)
    for made, value in [(np.zeros_like(t), 0.0), (np.ones_like(t), 1.0), (np.full_like(t, 7.0), 7.0)]:
        assert type(made) is st.Tensor and made.shape == t.shape and made.dtype == np.float64
        assert np.all(made.numpy() == value)
    assert np.empty_like(t, dtype=np.int64, shape=(4,)).shape == (4,)
    assert np.full_like(t, 2, dtype=np.int32).dtype == np.int32
    like = np.asarray([1, 2], like=t)  # NEP 35: the array module of `like` makes the array
    assert type(like) is st.Tensor and like.dtype == np.int64
    empty = np.array([], like=t, ndmin=2, dtype=np.float32)
    assert type(empty) is st.Tensor and empty.shape == (1, 0) and empty.dtype == np.float32
    converted = np.astype(t, np.float32)
    assert type(converted) is st.Tensor and converted.dtype == np.float32


def test_another_array_type_in_the_call_is_left_to_it():
    """A Dask array among the arguments: the tensor declines, so Dask's own implementation runs."""
    da = pytest.importorskip("dask.array")
    t = st.tensor(np.arange(4.0))
    lazy = da.from_array(np.ones(4), chunks=2)
    # Dask imported just now (this test alone) is told about tensors on the first call; done here, so the direct
    # calls below see the registered state they test, whatever ran before
    sys.modules["sparktensor.numpy_protocols"].register_with_dask()
    assert st.Tensor.__array_ufunc__(t, np.add, "__call__", t, lazy) is NotImplemented
    assert st.Tensor.__array_function__(t, np.concatenate, (st.Tensor, da.Array), ([t, lazy],), {}) is NotImplemented
    for result in (np.add(lazy, t), t + lazy, lazy + t):  # NEP 13: the Dask array, above tensors, answers
        assert isinstance(result, da.Array)
        np.testing.assert_array_equal(np.asarray(result.compute(scheduler="synchronous")), np.arange(4.0) + 1)
    assert isinstance(t < lazy, da.Array) and isinstance(t @ lazy, da.Array)
