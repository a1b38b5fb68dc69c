"""PyTorch's autograd options: gradcheck's keyword arguments, ctx.mark_non_differentiable,
ctx.set_materialize_grads and inference_mode, each beside PyTorch's behaviour on the same function."""
import numpy as np
import pytest
import torch

import sparktensor as st
from backends import to_numpy


class WrongGrad(st.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * x

    @staticmethod
    def backward(ctx, gy):
        return gy  # should be 2 x gy


class TorchWrongGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * x

    @staticmethod
    def backward(ctx, gy):
        return gy


def test_gradcheck_raise_exception_false_returns_false_as_torch(device):
    x = st.tensor([0.3, 1.7], dtype=st.float64, device=device, requires_grad=True)
    tx = torch.tensor([0.3, 1.7], dtype=torch.float64, requires_grad=True)
    assert st.autograd.gradcheck(WrongGrad.apply, (x,), raise_exception=False) is False
    assert torch.autograd.gradcheck(TorchWrongGrad.apply, (tx,), raise_exception=False) is False
    with pytest.raises(st.autograd.GradcheckError):
        st.autograd.gradcheck(WrongGrad.apply, (x,))
    good = lambda t: t * t  # noqa: E731
    assert st.autograd.gradcheck(good, (x,), eps=1e-6, atol=1e-5, rtol=1e-3, nondet_tol=0.0, fast_mode=True,
                                 check_undefined_grad=True, check_grad_dtypes=False)
    with pytest.raises(ValueError, match="check_forward_ad"):
        st.autograd.gradcheck(good, (x,), check_forward_ad=True)


class SortWithIndex(st.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        index = x.argsort()
        ranks = index.astype(x.dtype)  # a float output, which would otherwise require grad
        ctx.mark_non_differentiable(ranks)
        ctx.index = index
        return x[index], ranks

    @staticmethod
    def backward(ctx, gy, gindex):
        ctx.seen = gindex
        gx = np.zeros_like(gy)
        gx[ctx.index] = gy
        return gx


class TorchSortWithIndex(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        index = x.argsort()
        ranks = index.double()
        ctx.mark_non_differentiable(ranks)
        ctx.save_for_backward(index)
        return x[index], ranks

    @staticmethod
    def backward(ctx, gy, gindex):
        index, = ctx.saved_tensors
        gx = torch.zeros_like(gy)
        gx[index] = gy
        return gx


def test_mark_non_differentiable_as_torch():
    values = [3.0, 1.0, 2.0]
    x = st.tensor(values, dtype=st.float64, requires_grad=True)
    tx = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    (y, index), (ty, tindex) = SortWithIndex.apply(x), TorchSortWithIndex.apply(tx)
    assert y.requires_grad and ty.requires_grad
    assert index.requires_grad is tindex.requires_grad is False
    (y * st.tensor([1.0, 2.0, 3.0], dtype=st.float64)).sum().backward()
    (ty * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), tx.grad.numpy())


class TwoOutputs(st.autograd.Function):
    materialize = True

    @staticmethod
    def forward(ctx, x):
        ctx.set_materialize_grads(TwoOutputs.materialize)
        return x * 2, x * 3

    @staticmethod
    def backward(ctx, ga, gb):
        TwoOutputs.got = gb
        return ga * 2 + (0 if gb is None else gb * 3)


class TorchTwoOutputs(torch.autograd.Function):
    materialize = True

    @staticmethod
    def forward(ctx, x):
        ctx.set_materialize_grads(TorchTwoOutputs.materialize)
        return x * 2, x * 3

    @staticmethod
    def backward(ctx, ga, gb):
        TorchTwoOutputs.got = gb
        return ga * 2 + (0 if gb is None else gb * 3)


@pytest.mark.parametrize("materialize", [True, False])
def test_set_materialize_grads_as_torch(materialize):
    TwoOutputs.materialize = TorchTwoOutputs.materialize = materialize
    x, tx = st.tensor([1.0, 2.0], requires_grad=True), torch.tensor([1.0, 2.0], requires_grad=True)
    TwoOutputs.apply(x)[0].sum().backward()
    TorchTwoOutputs.apply(tx)[0].sum().backward()
    assert (TwoOutputs.got is None) == (TorchTwoOutputs.got is None) == (not materialize)
    if materialize:
        np.testing.assert_array_equal(to_numpy(TwoOutputs.got), TorchTwoOutputs.got.numpy())
    np.testing.assert_array_equal(to_numpy(x.grad), tx.grad.numpy())


def test_inference_mode_as_torch(device):
    w, tw = st.ones(2, device=device, requires_grad=True), torch.ones(2, requires_grad=True)
    with st.inference_mode():
        y = w * 2
    with torch.inference_mode():
        ty = tw * 2
    assert y.requires_grad is ty.requires_grad is False
    with st.inference_mode(False):
        assert (w * 2).requires_grad

    @st.inference_mode()
    def predict(t):
        return t * 3

    assert not predict(w).requires_grad and st.is_grad_enabled()
