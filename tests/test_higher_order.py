"""Higher-order autodiff: ``create_graph=True``, ``gradgradcheck`` and ``st.autograd.functional``, each beside
PyTorch on the same function and values."""
import numpy as np
import pytest
import torch

import sparktensor as st
from backends import to_numpy

F = st.autograd.functional
TF = torch.autograd.functional


def _pair(values, device="cpu", requires_grad=False):
    x = st.tensor(values, dtype=st.float64, device=device, requires_grad=requires_grad)
    tx = torch.tensor(values, dtype=torch.float64, requires_grad=requires_grad)
    return x, tx


def cubic_exp(a):
    return (a * a * a + a.exp() * a).sum()


def test_grad_of_grad_matches_torch(device):
    x, tx = _pair([0.5, -1.2, 2.0], device, requires_grad=True)
    g, = st.autograd.grad(cubic_exp(x), x, create_graph=True)
    tg, = torch.autograd.grad(cubic_exp(tx), tx, create_graph=True)
    assert g.requires_grad and g.grad_fn is not None
    np.testing.assert_allclose(to_numpy(g), tg.detach().numpy())
    h, = st.autograd.grad((g * g).sum(), x)
    th, = torch.autograd.grad((tg * tg).sum(), tx)
    np.testing.assert_allclose(to_numpy(h), th.numpy())


def test_third_derivative(device):
    x, tx = _pair([0.7, -0.4], device, requires_grad=True)
    d = (x * x * x * x).sum()
    td = (tx * tx * tx * tx).sum()
    for _ in range(3):
        d, = st.autograd.grad(d.sum(), x, create_graph=True)
        td, = torch.autograd.grad(td.sum(), tx, create_graph=True)
    np.testing.assert_allclose(to_numpy(d), td.detach().numpy())  # 24 x


def test_backward_create_graph_leaves_a_differentiable_grad(device):
    x, tx = _pair([0.3, 1.1, -2.0], device, requires_grad=True)
    cubic_exp(x).backward(create_graph=True)
    cubic_exp(tx).backward(create_graph=True)
    assert x.grad.requires_grad
    penalty, tpenalty = (x.grad * x.grad).sum(), (tx.grad * tx.grad).sum()
    x.grad, tx.grad = None, None
    penalty.backward()
    tpenalty.backward()
    np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy())


def test_backward_inputs_accumulates_only_into_them(device):
    x, tx = _pair([0.3, 1.1], device, requires_grad=True)
    w, tw = _pair([2.0, -1.0], device, requires_grad=True)
    (x * w).sum().backward(inputs=[x])
    (tx * tw).sum().backward(inputs=[tx])
    np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy())
    assert w.grad is None and tw.grad is None


def test_gradient_penalty_through_a_linear_layer_matches_torch():
    rng = np.random.default_rng(0)
    x0, w0 = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    x, tx = st.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    w, tw = st.tensor(w0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    out, tout = ((x @ w).tanh()).sum(), ((tx @ tw).tanh()).sum()
    gx, = st.autograd.grad(out, x, create_graph=True)
    tgx, = torch.autograd.grad(tout, tx, create_graph=True)
    penalty = ((gx * gx).sum(axis=1) - 1.0) ** 2
    tpenalty = ((tgx * tgx).sum(dim=1) - 1.0) ** 2
    penalty.sum().backward()
    tpenalty.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-10)


def test_hooks_see_and_replace_recorded_gradients(device):
    x, tx = _pair([0.5, 2.0], device, requires_grad=True)
    for t in (x, tx):
        t.register_hook(lambda g: g * 3)
    g, = st.autograd.grad((x * x).sum(), x, create_graph=True)
    tg, = torch.autograd.grad((tx * tx).sum(), tx, create_graph=True)
    np.testing.assert_allclose(to_numpy(g), tg.detach().numpy())


def test_gradgradcheck_passes_and_catches_a_wrong_second_derivative():
    x = st.tensor([0.5, -1.2, 2.0], dtype=st.float64, requires_grad=True)
    assert st.autograd.gradgradcheck(lambda a: a.exp() * a * a, (x,))

    class WrongDoubleBackward(st.autograd.Function):
        """Right first derivative (3 a^2 g), but computed from a constant copy of a: its own gradient is wrong."""
        @staticmethod
        def forward(ctx, a):
            ctx.a = a.copy()
            return a * a * a

        @staticmethod
        def backward(ctx, g):
            return g * 3 * ctx.a * ctx.a

    assert st.autograd.gradcheck(WrongDoubleBackward.apply, (x,))
    assert st.autograd.gradgradcheck(WrongDoubleBackward.apply, (x,), raise_exception=False) is False


class Square(st.autograd.Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a * a

    @staticmethod
    def backward(ctx, g):
        a, = ctx.saved_tensors
        return g * (2 * a).conj()  # conjugate Wirtinger


def test_gradcheck_handles_complex_inputs_by_pytorchs_convention():
    z = st.tensor([0.5 + 1j, -1.2 - 0.3j], dtype=st.complex128, requires_grad=True)

    class Unconjugated(Square):
        @staticmethod
        def backward(ctx, g):
            a, = ctx.saved_tensors
            return g * 2 * a

    assert st.autograd.gradcheck(Square.apply, (z,))
    assert st.autograd.gradcheck(Unconjugated.apply, (z,), raise_exception=False) is False


class OnceOnly(Square):
    once_differentiable = True


def test_once_differentiable_gives_a_first_gradient_and_refuses_the_second():
    x = st.tensor([1.5, -2.0], dtype=st.float64, requires_grad=True)
    g, = st.autograd.grad(OnceOnly.apply(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), [3.0, -4.0])
    with pytest.raises(RuntimeError, match="OnceOnly cannot be differentiated again"):
        st.autograd.grad(g.sum(), x)


def test_a_float_intermediate_saved_for_backward_is_refused_under_create_graph():
    class SavesIntermediate(st.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            twice = 2 * a
            ctx.save_for_backward(twice)
            return a * a

        @staticmethod
        def backward(ctx, g):
            twice, = ctx.saved_tensors
            return g * twice

    x = st.tensor([1.0, 2.0], dtype=st.float64, requires_grad=True)
    g, = st.autograd.grad(SavesIntermediate.apply(x).sum(), x)  # first order: fine
    np.testing.assert_allclose(g.numpy(), [2.0, 4.0])
    with pytest.raises(RuntimeError, match="SavesIntermediate saved a float array .* neither an input nor an output"):
        st.autograd.grad(SavesIntermediate.apply(x).sum(), x, create_graph=True)


# ----- st.autograd.functional against torch.autograd.functional -----
def _same(ours, theirs):
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _same(a, b)
    else:
        assert isinstance(ours, st.Tensor) and not ours.requires_grad
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


def two_in_two_out(a, b):
    return a * b.exp(), (a * a).sum() * b


def scalar_of_two(a, b):
    return (a.exp() * b * b).sum() + (a * a * a).sum()


X0, B0, V0, U0 = [0.3, -0.7, 1.2], [0.5, 0.1, -0.4], [1.0, -2.0, 0.5], [0.2, 0.3, -1.0]


@pytest.mark.parametrize("name", ["vjp", "jvp"])
def test_vjp_and_jvp_match_torch(name):
    (a, ta), (b, tb) = _pair(X0), _pair(B0)
    (v, tv), (u, tu) = _pair(V0), _pair(U0)
    vectors = ((v, u), (tv, tu))
    ours = getattr(F, name)(two_in_two_out, (a, b), vectors[0])
    theirs = getattr(TF, name)(two_in_two_out, (ta, tb), vectors[1])
    _same(ours, theirs)


@pytest.mark.parametrize("name", ["jacobian", "hessian"])
def test_jacobian_and_hessian_match_torch_for_one_and_several_inputs(name):
    (a, ta), (b, tb) = _pair(X0), _pair(B0)
    fn = {"jacobian": two_in_two_out, "hessian": scalar_of_two}[name]
    _same(getattr(F, name)(fn, (a, b)), getattr(TF, name)(fn, (ta, tb)))
    single = {"jacobian": lambda t: t * t.exp(), "hessian": cubic_exp}[name]
    _same(getattr(F, name)(single, a), getattr(TF, name)(single, ta))


@pytest.mark.parametrize("name", ["hvp", "vhp"])
def test_hessian_vector_products_match_torch(name):
    (a, ta), (b, tb) = _pair(X0), _pair(B0)
    (v, tv), (u, tu) = _pair(V0), _pair(U0)
    _same(getattr(F, name)(scalar_of_two, (a, b), (v, u)), getattr(TF, name)(scalar_of_two, (ta, tb), (tv, tu)))


def test_functional_create_graph_keeps_the_result_differentiable():
    a, ta = _pair(X0, requires_grad=True)
    v, tv = _pair(V0)
    _, hv = F.hvp(cubic_exp, a, v, create_graph=True)
    _, thv = TF.hvp(cubic_exp, ta, tv, create_graph=True)
    assert hv.requires_grad
    g, = st.autograd.grad(hv.sum(), a)
    tg, = torch.autograd.grad(thv.sum(), ta)
    np.testing.assert_allclose(g.numpy(), tg.numpy())


def test_functional_strict_and_shape_errors():
    a, _ = _pair(X0)
    with pytest.raises(RuntimeError, match="independent of input 1"):
        F.vjp(lambda x, y: x * 2, (a, a), a, strict=True)
    _, (ga, gb) = F.vjp(lambda x, y: x * 2, (a, a), a)
    np.testing.assert_allclose(gb.numpy(), 0.0)
    with pytest.raises(RuntimeError, match=r"vector 0 has shape \(2,\), expected \(3,\)"):
        F.vjp(lambda x: x * 2, a, st.ones(2, dtype=st.float64))
    with pytest.raises(RuntimeError, match="single-element"):
        F.vjp(lambda x: x * 2, a)


def test_a_plain_array_operand_is_a_constant_of_the_recorded_gradient():
    a0 = np.array([3.0, -1.0])
    x, tx = _pair([0.5, 2.0], requires_grad=True)
    g, = st.autograd.grad((x * a0 * x).sum() + st.atan2(x, a0).sum(), x, create_graph=True)
    tg, = torch.autograd.grad((tx * torch.tensor(a0) * tx).sum() + torch.atan2(tx, torch.tensor(a0)).sum(), tx,
                              create_graph=True)
    h, = st.autograd.grad((g * g).sum(), x)
    th, = torch.autograd.grad((tg * tg).sum(), tx)
    np.testing.assert_allclose(h.numpy(), th.numpy())
