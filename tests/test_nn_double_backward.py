"""Second derivatives of the nn functional ops: ``gradgradcheck`` in float64, second derivatives beside PyTorch's
(the gradient taken with ``create_graph=True``, then the gradient of a function of it), a WGAN-GP gradient penalty
on a small conv net and a Hessian-vector product of an MLP's cross entropy, both with PyTorch's weights."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import sparktensor as st
import sparktensor.nn.functional as F
from backends import to_numpy


def _t(a, device, requires_grad=False):
    return st.tensor(a, device=device, requires_grad=requires_grad)


def _probabilities(rng, shape):
    p = rng.random(shape) + 0.1
    return p / p.sum(axis=1, keepdims=True)


# Each case: (name, function of (F, *floats, *constants), float inputs, constant inputs); the same code runs with
# sparktensor's and PyTorch's functional modules. Inputs stay away from kinks (|x| > 0.05 where it matters).
def _cases():
    r = np.random.default_rng(7)

    def away(shape, scale=1.0):
        x = r.standard_normal(shape) * scale
        return x + np.sign(x) * 0.05  # distinct values, none within 0.05 of zero

    x = away((3, 5))
    image = away((2, 4, 7, 6))
    labels = np.array([1, 0, 4, 2])
    ignored = np.array([1, -100, 4, 2])
    cases = [
        ("leaky_relu", lambda F, x: F.leaky_relu(x, 0.1) ** 2, [x], []),
        ("elu", lambda F, x: F.elu(x, 1.3), [x], []),
        ("gelu", lambda F, x: F.gelu(x), [x], []),
        ("gelu_tanh", lambda F, x: F.gelu(x, approximate="tanh"), [x], []),
        ("silu", lambda F, x: F.silu(x), [x], []),
        ("mish", lambda F, x: F.mish(x), [x], []),
        ("hardswish", lambda F, x: F.hardswish(x), [away((3, 5), 2.5)], []),
        ("relu", lambda F, x: F.relu(x) ** 2, [x], []),
        ("softmax", lambda F, x: F.softmax(x, 1), [x], []),
        ("log_softmax", lambda F, x: F.log_softmax(x, 1), [x], []),
        ("linear", lambda F, x, w, b: F.linear(x, w, b), [away((2, 3, 5)), r.standard_normal((4, 5)),
                                                          r.standard_normal(4)], []),
        ("conv2d", lambda F, x, w, b: F.conv2d(x, w, b), [image, r.standard_normal((3, 4, 3, 2)),
                                                       r.standard_normal(3)], []),
        ("conv2d_strided_padded", lambda F, x, w: F.conv2d(x, w, None, 2, 1) ** 2,
         [image, r.standard_normal((3, 4, 3, 3))], []),
        ("conv2d_dilated_grouped", lambda F, x, w, b: F.conv2d(x, w, b, 1, 2, 2, 2),
         [image, r.standard_normal((6, 2, 3, 2)), r.standard_normal(6)], []),
        ("conv1d", lambda F, x, w, b: F.conv1d(x, w, b, 2, 1, 1, 2), [away((2, 4, 9)), r.standard_normal((6, 2, 3)),
                                                                     r.standard_normal(6)], []),
        ("conv_transpose2d", lambda F, x, w: F.conv_transpose2d(x, w, stride=2, padding=1),
         [away((2, 3, 4, 4)), r.standard_normal((3, 2, 3, 3))], []),
        ("conv3d", lambda F, x, w, b: F.conv3d(x, w, b, (1, 2, 1), 1) ** 2,
         [away((1, 2, 4, 5, 4)), r.standard_normal((3, 2, 2, 3, 2)), r.standard_normal(3)], []),
        ("conv_transpose1d", lambda F, x, w, b: F.conv_transpose1d(x, w, b, 2, 1) ** 2,
         [away((2, 3, 5)), r.standard_normal((3, 2, 3)), r.standard_normal(2)], []),
        ("max_pool3d", lambda F, x: F.max_pool3d(x, 2, 1) ** 2, [away((1, 2, 4, 5, 4))], []),
        ("avg_pool3d", lambda F, x: F.avg_pool3d(x, 2) ** 2, [away((1, 2, 4, 5, 4))], []),
        ("adaptive_avg_pool3d", lambda F, x: F.adaptive_avg_pool3d(x, (3, 2, 3)) ** 2, [away((1, 2, 4, 5, 4))], []),
        ("interpolate_nearest", lambda F, x: F.interpolate(x, scale_factor=2) ** 2, [image], []),
        ("interpolate_bilinear", lambda F, x: F.interpolate(x, size=(9, 4), mode="bilinear") ** 2, [image], []),
        ("pixel_shuffle", lambda F, x: F.pixel_shuffle(x, 2) ** 2, [away((2, 8, 3, 2))], []),
        ("max_pool2d", lambda F, x: F.max_pool2d(x, 2) ** 2, [image], []),
        ("max_pool2d_overlapping", lambda F, x: F.max_pool2d(x, 3, 2, 1, 1, True) ** 2, [image], []),
        ("avg_pool2d", lambda F, x: F.avg_pool2d(x, 3, 2, 1, False, False) ** 2, [image], []),
        ("adaptive_avg_pool2d", lambda F, x: F.adaptive_avg_pool2d(x, (3, 4)) ** 2, [image], []),
        ("layer_norm", lambda F, x, w, b: F.layer_norm(x, (3, 5), w, b), [away((4, 3, 5)), r.standard_normal((3, 5)),
                                                                      r.standard_normal((3, 5))], []),
        ("batch_norm_train", lambda F, x, w, b: F.batch_norm(x, None, None, w, b, True),
         [away((4, 3, 5)), r.standard_normal(3), r.standard_normal(3)], []),
        ("batch_norm_eval", lambda F, x, w, b, m, v: F.batch_norm(x, m, v, w, b, False) ** 2,
         [away((4, 3, 5)), r.standard_normal(3), r.standard_normal(3)], [r.standard_normal(3), r.random(3) + 0.5]),
        ("group_norm", lambda F, x, w, b: F.group_norm(x, 2, w, b), [away((3, 4, 5)), r.standard_normal(4),
                                                                   r.standard_normal(4)], []),
        ("rms_norm", lambda F, x, w: F.rms_norm(x, (5,), w), [away((4, 3, 5)), r.standard_normal(5)], []),
        ("instance_norm", lambda F, x, w, b: F.instance_norm(x, weight=w, bias=b), [away((3, 4, 5)),
                                                                                 r.standard_normal(4),
                                                                                 r.standard_normal(4)], []),
        ("normalize", lambda F, x: F.normalize(x, dim=1), [x], []),
        ("cosine_similarity", lambda F, x, y: F.cosine_similarity(x, y), [x, r.standard_normal((3, 5))], []),
        ("pairwise_distance", lambda F, x, y: F.pairwise_distance(x, y), [x, r.standard_normal((3, 5))], []),
        ("prelu", lambda F, x, w: F.prelu(x, w) ** 2, [away((3, 4, 2)), r.random(4)], []),
        ("embedding", lambda F, w, i: F.embedding(i, w, padding_idx=2) ** 2, [r.standard_normal((5, 3))],
         [np.array([[0, 2, 2], [3, 0, 1]])]),
        ("unfold", lambda F, x: F.unfold(x, (2, 3), padding=1, stride=(2, 1)) ** 2, [image], []),
        ("fold", lambda F, c: F.fold(c, (5, 4), (2, 2)) ** 2, [away((2, 12, 12))], []),
        ("nll_loss", lambda F, x, y: F.nll_loss(x, y), [away((4, 5))], [labels]),
        ("cross_entropy", lambda F, x, y: F.cross_entropy(x, y), [away((4, 5))], [labels]),
        ("cross_entropy_weighted_smoothed", lambda F, x, y, w: F.cross_entropy(x, y, w, label_smoothing=0.2),
         [away((4, 5))], [ignored, r.random(5) + 0.5]),
        ("cross_entropy_nd_sum", lambda F, x, y: F.cross_entropy(x, y, reduction="sum"), [away((2, 5, 3))],
         [r.integers(0, 5, (2, 3))]),
        ("cross_entropy_probabilities", lambda F, x, p: F.cross_entropy(x, p), [away((4, 5))],
         [_probabilities(r, (4, 5))]),
        ("mse_loss", lambda F, x, y: F.mse_loss(x, y), [x], [r.standard_normal((3, 5))]),
        ("huber_loss", lambda F, x, y: F.huber_loss(x, y, delta=0.7), [x], [r.standard_normal((3, 5))]),
        ("smooth_l1_loss", lambda F, x, y: F.smooth_l1_loss(x, y, beta=0.5), [x], [r.standard_normal((3, 5))]),
        ("binary_cross_entropy", lambda F, p, y: F.binary_cross_entropy(p, y), [r.random((3, 5)) * 0.8 + 0.1],
         [r.random((3, 5))]),
        ("binary_cross_entropy_with_logits", lambda F, x, y, w: F.binary_cross_entropy_with_logits(x, y,
                                                                                                  pos_weight=w),
         [x], [r.random((3, 5)), r.random(5) + 0.5]),
        ("kl_div", lambda F, x, p: F.kl_div(F.log_softmax(x, 1), p, reduction="batchmean"), [x],
         [_probabilities(r, (3, 5))]),
        ("kl_div_log_target", lambda F, x, q: F.kl_div(x, q, reduction="sum", log_target=True), [x],
         [np.log(_probabilities(r, (3, 5)))]),
    ]
    return [pytest.param(*case[1:], id=case[0]) for case in cases]


CASES = _cases()


def _st_inputs(floats, constants, device):
    xs = [_t(a, device, requires_grad=True) for a in floats]
    return xs, [_t(c, device) for c in constants]


def _torch_inputs(floats, constants):
    return [torch.tensor(a, requires_grad=True) for a in floats], [torch.tensor(c) for c in constants]


@pytest.mark.parametrize("fn, floats, constants", CASES)
def test_gradgradcheck(device, fn, floats, constants):
    xs, cs = _st_inputs(floats, constants, device)
    assert st.autograd.gradgradcheck(lambda *xs: fn(F, *xs, *cs), xs)


@pytest.mark.parametrize("fn, floats, constants", CASES)
def test_second_derivatives_match_torch(device, fn, floats, constants):
    """The gradient of ``<grad, v> + |grad|^2`` with respect to the inputs and the output gradient, as PyTorch's."""
    xs, cs = _st_inputs(floats, constants, device)
    txs, tcs = _torch_inputs(floats, constants)
    y, ty = fn(F, *xs, *cs), fn(TF, *txs, *tcs)
    rng = np.random.default_rng(3)
    gy0 = rng.standard_normal(ty.shape)
    gy, tgy = _t(gy0, device, requires_grad=True), torch.tensor(gy0, requires_grad=True)
    gs = st.autograd.grad(y, xs, gy, create_graph=True)
    tgs = torch.autograd.grad(ty, txs, tgy, create_graph=True)
    for g, tg in zip(gs, tgs):
        np.testing.assert_allclose(to_numpy(g), tg.detach().numpy(), rtol=1e-7, atol=1e-9)
    vs = [rng.standard_normal(tg.shape) for tg in tgs]
    s = sum(((g * _t(v, device)).sum() + (g * g).sum() for g, v in zip(gs, vs)), _t(0.0, device))
    ts = sum((tg * torch.tensor(v)).sum() + (tg * tg).sum() for tg, v in zip(tgs, vs))
    seconds = st.autograd.grad(s, xs + [gy], allow_unused=True)
    tseconds = torch.autograd.grad(ts, txs + [tgy], allow_unused=True)
    for i, (h, th) in enumerate(zip(seconds, tseconds)):
        if h is None and th is None:
            continue  # the gradient does not depend on this input (a bias, say): no second derivative either
        # an unused input's second derivative is None or zeros, depending on the library
        expected = np.zeros(h.shape) if th is None else th.numpy()
        got = np.zeros(expected.shape) if h is None else to_numpy(h)
        np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-9, err_msg=f"second derivative {i}")


def _third_derivatives(lib, F, fn, xs, cs):
    """The gradient of ``sum(g2**3)``, g2 that of ``sum(g1**2)``, g1 that of ``sum(fn**2)``; zeros where unused."""
    y = fn(F, *xs, *cs)
    g1 = lib.autograd.grad((y * y).sum(), xs, create_graph=True)
    g2 = lib.autograd.grad(sum((g * g).sum() for g in g1), xs, create_graph=True, allow_unused=True)
    g3 = lib.autograd.grad(sum((g * g * g).sum() for g in g2 if g is not None), xs, allow_unused=True)
    return [np.zeros(x.shape) if g is None else to_numpy(g) if lib is st else g.numpy() for g, x in zip(g3, xs)]


# PyTorch's own layer_norm, batch_norm and instance_norm double backwards are not differentiated exactly (their
# third derivatives differ from those of the same normalization written out in torch ops); those are compared with
# that below
WRITTEN_OUT = ("layer_norm", "batch_norm_train", "instance_norm")
THIRD_ORDER_CASES = [c for c in CASES if c.id not in WRITTEN_OUT]


@pytest.mark.parametrize("fn, floats, constants", THIRD_ORDER_CASES)
def test_third_derivatives_match_torch(device, fn, floats, constants):
    ours = _third_derivatives(st, F, fn, *_st_inputs(floats, constants, device))
    theirs = _third_derivatives(torch, TF, fn, *_torch_inputs(floats, constants))
    for h, th in zip(ours, theirs):
        np.testing.assert_allclose(h, th, rtol=1e-6, atol=1e-8 * max(1.0, np.abs(th).max()))


class _WrittenOut:
    """PyTorch's layer_norm, batch_norm (training) and instance_norm written out in torch ops."""

    @staticmethod
    def layer_norm(x, shape, w, b):
        axes = tuple(range(x.ndim - len(shape), x.ndim))
        centered = x - x.mean(axes, keepdim=True)
        return centered / torch.sqrt((centered * centered).mean(axes, keepdim=True) + 1e-5) * w + b

    @staticmethod
    def batch_norm(x, mean, var, w, b, training):
        centered = x - x.mean((0, 2), keepdim=True)
        xhat = centered / torch.sqrt((centered * centered).mean((0, 2), keepdim=True) + 1e-5)
        return xhat * w[:, None] + b[:, None]

    @staticmethod
    def instance_norm(x, weight, bias):
        centered = x - x.mean(2, keepdim=True)
        xhat = centered / torch.sqrt((centered * centered).mean(2, keepdim=True) + 1e-5)
        return xhat * weight[:, None] + bias[:, None]


@pytest.mark.parametrize("fn, floats, constants", [c for c in CASES if c.id in WRITTEN_OUT])
def test_normalization_third_derivatives_match_torch_written_out(device, fn, floats, constants):
    ours = _third_derivatives(st, F, fn, *_st_inputs(floats, constants, device))
    theirs = _third_derivatives(torch, _WrittenOut, fn, *_torch_inputs(floats, constants))
    for h, th in zip(ours, theirs):
        np.testing.assert_allclose(h, th, rtol=1e-6, atol=1e-8 * max(1.0, np.abs(th).max()))


def test_dropout_gradient_is_differentiable_with_its_mask_constant(device):
    x = _t(np.random.default_rng(0).standard_normal((4, 6)), device, requires_grad=True)

    def dropped(x):  # the same mask on every call: a fresh generator with one seed
        return F.dropout(x, 0.4, generator=st.Generator(5)) * x
    assert st.autograd.gradgradcheck(dropped, (x,))
    y = dropped(x)
    mask = to_numpy(y) / (to_numpy(x) ** 2)  # 0 or 1 / (1 - p)
    g, = st.autograd.grad(y.sum(), x, create_graph=True)
    h, = st.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(to_numpy(h), 2 * mask)


def _critic(F, x, params, activation, pool):
    """A small conv critic: conv2d, an activation, a pool, conv2d, flatten, linear."""
    w1, b1, w2, b2, w3, b3 = params
    act = {"relu": F.relu, "leaky_relu": lambda t: F.leaky_relu(t, 0.2), "gelu": F.gelu}[activation]
    h = act(F.conv2d(x, w1, b1, padding=1))
    h = F.max_pool2d(h, 2) if pool == "max" else F.avg_pool2d(h, 2)
    h = act(F.conv2d(h, w2, b2))
    return F.linear(h.reshape(x.shape[0], -1), w3, b3)


@pytest.mark.parametrize("activation, pool", [("relu", "max"), ("leaky_relu", "avg"), ("gelu", "max")])
def test_wgan_gradient_penalty_on_a_conv_critic_matches_torch(device, activation, pool):
    rng = np.random.default_rng(11)
    shapes = [(4, 1, 3, 3), (4,), (3, 4, 3, 3), (3,), (1, 3 * 2 * 2), (1,)]
    weights = [rng.standard_normal(s) * 0.5 for s in shapes]
    real, fake, eps = rng.standard_normal((3, 1, 8, 8)), rng.standard_normal((3, 1, 8, 8)), rng.random((3, 1, 1, 1))

    def losses(lib, F, tensor):
        params = [tensor(w, True) for w in weights]
        x_hat = tensor(eps * real + (1 - eps) * fake, True)
        d_hat = _critic(F, x_hat, params, activation, pool)
        g, = lib.autograd.grad(d_hat.sum(), x_hat, create_graph=True)
        norms = ((g * g).reshape(3, -1).sum(1) + 1e-12) ** 0.5
        penalty = ((norms - 1) ** 2).mean()
        critic = _critic(F, tensor(fake), params, activation, pool).mean() - \
            _critic(F, tensor(real), params, activation, pool).mean()
        (critic + 10 * penalty).backward()
        return penalty, params

    penalty, params = losses(st, F, lambda a, g=False: _t(a, device, g))
    tpenalty, tparams = losses(torch, TF, lambda a, g=False: torch.tensor(a, requires_grad=g))
    assert tpenalty.item() > 1e-3  # the penalty is not trivially zero, so its gradient is tested
    np.testing.assert_allclose(float(penalty.item()), tpenalty.item(), rtol=1e-10)
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(to_numpy(p.grad), tp.grad.numpy(), rtol=1e-7, atol=1e-10)


def test_hessian_vector_product_of_an_mlp_cross_entropy_matches_torch(device):
    rng = np.random.default_rng(5)
    x0, labels = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    weights = [rng.standard_normal(s) for s in ((5, 4), (5,), (3, 5), (3,))]
    vectors = [rng.standard_normal(w.shape) for w in weights]

    def hvp(lib, F, tensor):
        params = [tensor(w, True) for w in weights]
        h = F.gelu(F.linear(tensor(x0), params[0], params[1]))
        loss = F.cross_entropy(F.linear(F.layer_norm(h, (5,)), params[2], params[3]), tensor(labels))
        grads = lib.autograd.grad(loss, params, create_graph=True)
        dot = sum((g * tensor(v)).sum() for g, v in zip(grads, vectors))
        return lib.autograd.grad(dot, params)

    ours = hvp(st, F, lambda a, g=False: _t(a, device, g))
    theirs = hvp(torch, TF, lambda a, g=False: torch.tensor(a, requires_grad=g))
    assert max(float(np.abs(t.numpy()).max()) for t in theirs) > 1e-3
    for h, th in zip(ours, theirs):
        np.testing.assert_allclose(to_numpy(h), th.numpy(), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("layer, gates", [("lstm_layer", 4), ("gru_layer", 3), ("rnn_layer", 1)])
@pytest.mark.parametrize("reverse, lengths", [(False, None), (True, None), (False, [4, 2, 3]), (True, [4, 2, 3])])
def test_recurrent_layers_gradgradcheck(device, layer, gates, reverse, lengths):
    rng = np.random.default_rng(9)
    h = 3
    xs = [_t(rng.standard_normal(s), device, requires_grad=True) for s in ((4, 3, 2), (3, h), (gates * h, 2),
                                                                          (gates * h, h), (gates * h,))]
    c0 = _t(rng.standard_normal((3, h)), device, requires_grad=True)
    fn = getattr(F.rnn, layer)

    def outputs(x, h0, w_ih, w_hh, b_ih, *c):
        states = (h0, c[0]) if layer == "lstm_layer" else (h0,)
        return sum(((o * o).sum() for o in fn(x, *states, w_ih, w_hh, b_ih, None, reverse=reverse,
                                                lengths=lengths)), _t(0.0, device))
    assert st.autograd.gradgradcheck(outputs, xs + ([c0] if layer == "lstm_layer" else []))


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_hessian_vector_product_of_a_recurrent_classifier_matches_torch(device, kind):
    rng = np.random.default_rng(13)
    layer, tlayer = getattr(st.nn, kind)(3, 4), getattr(torch.nn, kind)(3, 4).double()
    weights = {n: rng.standard_normal(p.shape) * 0.5 for n, p in tlayer.named_parameters()}
    weights["head"] = rng.standard_normal((2, 4))
    x0, labels = rng.standard_normal((5, 3, 3)), rng.integers(0, 2, 3)
    vectors = {n: rng.standard_normal(w.shape) for n, w in weights.items()}

    def hvp(lib, F, module, tensor):
        with lib.no_grad():
            for n, p in module.named_parameters():
                p.copy_(tensor(weights[n]))
        params = dict(module.named_parameters(), head=tensor(weights["head"], True))
        loss = F.cross_entropy(F.linear(module(tensor(x0))[0][-1], params["head"]), tensor(labels))
        grads = lib.autograd.grad(loss, list(params.values()), create_graph=True)
        dot = sum((g * tensor(vectors[n])).sum() for g, n in zip(grads, params))
        return lib.autograd.grad(dot, list(params.values()))

    ours = hvp(st, F, layer.to(device).to(st.float64), lambda a, g=False: _t(a, device, g))
    theirs = hvp(torch, TF, tlayer, lambda a, g=False: torch.tensor(a, requires_grad=g))
    assert max(float(np.abs(t.numpy()).max()) for t in theirs) > 1e-3
    for h, th in zip(ours, theirs):
        np.testing.assert_allclose(to_numpy(h), th.numpy(), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("settings", [{}, {"is_causal": True}, {"mask": "bool"}, {"mask": "float"},
                                      {"dropout_p": 0.3, "is_causal": True}], ids=str)
@pytest.mark.parametrize("block", [256, 2])
def test_attention_gradgradcheck(device, monkeypatch, settings, block):
    """Whole-matrix and tiled attention, with a query that may attend to no key (zeros, as PyTorch's)."""
    monkeypatch.setattr(F.attention, "QUERY_BLOCK", block)
    monkeypatch.setattr(F.attention, "KEY_BLOCK", block)
    rng = np.random.default_rng(4)
    xs = [_t(rng.standard_normal(s), device, requires_grad=True) for s in ((2, 5, 3), (2, 4, 3), (2, 4, 2))]
    settings = dict(settings)
    kind = settings.pop("mask", None)
    if kind == "bool":
        allowed = rng.random((5, 4)) > 0.4
        allowed[1] = False
        settings["attn_mask"] = _t(allowed, device)
    elif kind == "float":
        xs.append(_t(rng.standard_normal((2, 5, 4)), device, requires_grad=True))

    def attend(q, k, v, *mask):
        st.manual_seed(8)  # the same dropout on every call
        return F.scaled_dot_product_attention(q, k, v, *mask, **settings)
    assert st.autograd.gradgradcheck(attend, xs)


def test_attention_second_derivatives_match_torch(device):
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal(s) for s in ((2, 5, 3), (2, 4, 3), (2, 4, 2))]
    mask = rng.random((5, 4)) > 0.3
    mask[:, 0] = True

    def second(lib, F, tensor):
        q, k, v = (tensor(a, True) for a in arrays)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=tensor(mask))
        gq, gk = lib.autograd.grad((y * y).sum(), [q, k], create_graph=True)
        return lib.autograd.grad((gq * gq).sum() + (gk * gk * gk).sum(), [q, k, v])

    ours = second(st, F, lambda a, g=False: _t(a, device, g))
    theirs = second(torch, TF, lambda a, g=False: torch.tensor(a, requires_grad=g))
    for h, th in zip(ours, theirs):
        np.testing.assert_allclose(to_numpy(h), th.numpy(), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("mode, padding_idx, weighted", [("sum", None, False), ("mean", 2, False),
                                                           ("max", None, False), ("max", 2, False),
                                                           ("sum", None, True)])
def test_embedding_bag_gradgradcheck(device, mode, padding_idx, weighted):
    """Bags of several rows, a repeated row, an empty bag; PyTorch's embedding_bag has no double backward."""
    rng = np.random.default_rng(12)
    xs = [_t(rng.standard_normal((6, 3)), device, requires_grad=True)]
    if weighted:
        xs.append(_t(rng.standard_normal(8), device, requires_grad=True))
    rows, offsets = _t(np.array([0, 2, 2, 5, 1, 3, 4, 0]), device), _t(np.array([0, 3, 3, 6]), device)

    def bags(w, *weights):
        return F.embedding_bag(rows, w, offsets, mode=mode, padding_idx=padding_idx,
                               per_sample_weights=weights[0] if weights else None) ** 2
    assert st.autograd.gradgradcheck(bags, xs)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_loss_gradgradcheck(device, reduction, zero_infinity):
    """Repeated labels, an empty target, a shorter input; with zero_infinity, a target its input cannot fit.
    PyTorch's ctc_loss has no double backward."""
    rng = np.random.default_rng(2)
    x = _t(rng.standard_normal((6, 4, 4)), device, requires_grad=True)
    targets, input_lengths, target_lengths = np.array([[1, 2, 2], [3, 3, 0], [1, 0, 0], [2, 2, 2]]), [6, 5, 4, 6], \
        [3, 2, 0, 3]
    if zero_infinity:
        input_lengths[3] = 4  # 2, blank, 2, blank, 2 needs five steps

    def loss(x):
        return F.ctc_loss(F.log_softmax(x, 2), _t(targets, device), input_lengths, target_lengths,
                          reduction=reduction, zero_infinity=zero_infinity)
    assert st.autograd.gradgradcheck(loss, (x,))


@pytest.mark.parametrize("make", [
    lambda x: F.conv2d(x, x[:2, :3, :2, :2]),
    lambda x: F.gelu(x),
    lambda x: F.layer_norm(x, (5,)),
    lambda x: F.dropout(x, 0.5),
], ids=["conv2d", "gelu", "layer_norm", "dropout"])
def test_intermediates_kept_for_the_fast_backward_are_released_by_it(device, make):
    x = _t(np.random.default_rng(0).standard_normal((3, 3, 4, 5)), device, requires_grad=True)
    y = make(x)
    assert y.grad_fn.intermediates  # the fast backward's arrays, held until it runs
    y.sum().backward(retain_graph=True)
    assert y.grad_fn.intermediates  # a retained graph keeps them for the next backward
    y.sum().backward()
    assert y.grad_fn.intermediates == ()
