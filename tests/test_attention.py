"""scaled_dot_product_attention and MultiheadAttention against PyTorch, gradchecks, and the tiled memory bound."""
import itertools
import tracemalloc

import numpy as np
import pytest
import torch

import sparktensor as st
import sparktensor.nn as nn
import sparktensor.nn.functional as F
from sparktensor.nn.functional import attention as A
from backends import to_numpy


@pytest.fixture(params=[None, (3, 4)], ids=["one-tile", "small-tiles"])
def tiles(request, monkeypatch):
    """Run once with the default tiles and once with tiles smaller than the sequences, so the online
    softmax crosses several key tiles and the backward several query tiles."""
    if request.param is not None:
        monkeypatch.setattr(A, "QUERY_BLOCK", request.param[0])
        monkeypatch.setattr(A, "KEY_BLOCK", request.param[1])
    return request.param


def _mask(kind, rng, lead, length, source):
    if kind == "bool":
        m = rng.random((length, source)) > 0.4
        m[:, 0] = True
        return m
    if kind == "bool-broadcast":  # one mask per batch entry, shared by the heads and the queries
        m = rng.random(lead[:1] + (1, 1, source)) > 0.4
        m[..., 0] = True
        return m
    if kind == "float":
        return rng.standard_normal(lead + (length, source))
    if kind == "float-inf":
        m = rng.standard_normal((length, source))
        m[rng.random((length, source)) > 0.6] = -np.inf
        m[:, -1] = 0.0
        return m
    return None


@pytest.mark.parametrize("kind", [None, "bool", "bool-broadcast", "float", "float-inf", "causal"])
@pytest.mark.parametrize("length, source", [(7, 7), (5, 9), (9, 5)])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_sdpa_matches_torch(device, tiles, kind, length, source, dtype, tol):
    rng = np.random.default_rng(0)
    lead = (2, 3)
    q, k = rng.standard_normal(lead + (length, 4)), rng.standard_normal(lead + (source, 4))
    v = rng.standard_normal(lead + (source, 6))
    mask = _mask(kind, rng, lead, length, source)
    mask_grad = kind == "float"
    ours = [st.tensor(a.astype(dtype), device=device, requires_grad=True) for a in (q, k, v)]
    theirs = [torch.tensor(a.astype(dtype), requires_grad=True) for a in (q, k, v)]
    om = None if mask is None else st.tensor(mask.astype(dtype) if mask.dtype != bool else mask, device=device,
                                             requires_grad=mask_grad)
    tm = None if mask is None else torch.tensor(mask.astype(dtype) if mask.dtype != bool else mask,
                                                requires_grad=mask_grad)
    y = F.scaled_dot_product_attention(*ours, attn_mask=om, is_causal=kind == "causal", scale=0.7)
    yt = torch.nn.functional.scaled_dot_product_attention(*theirs, attn_mask=tm, is_causal=kind == "causal",
                                                          scale=0.7)
    np.testing.assert_allclose(to_numpy(y), yt.detach().numpy(), rtol=tol, atol=tol)
    g = rng.standard_normal(yt.shape).astype(dtype)
    y.backward(st.tensor(g, device=device))
    yt.backward(torch.tensor(g))
    for name, a, b in zip("qkv", ours, theirs):
        np.testing.assert_allclose(to_numpy(a.grad), b.grad.numpy(), rtol=tol, atol=tol, err_msg=name)
    if mask_grad:
        np.testing.assert_allclose(to_numpy(om.grad), tm.grad.numpy(), rtol=tol, atol=tol)


def test_sdpa_default_scale_and_fully_masked_rows_match_torch(device, tiles):
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((2, 6, 5)) for _ in range(3))
    mask = rng.random((6, 6)) > 0.3
    mask[2] = False  # query 2 may attend to nothing: PyTorch gives zeros and no gradient
    ours = [st.tensor(a, device=device, requires_grad=True) for a in (q, k, v)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    y = F.scaled_dot_product_attention(*ours, attn_mask=st.tensor(mask, device=device))
    yt = torch.nn.functional.scaled_dot_product_attention(*theirs, attn_mask=torch.tensor(mask))
    np.testing.assert_allclose(to_numpy(y), yt.detach().numpy(), atol=1e-12)
    assert not np.isnan(to_numpy(y)).any() and np.all(to_numpy(y)[:, 2] == 0)
    (y * y).sum().backward()
    (yt * yt).sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(to_numpy(a.grad), b.grad.numpy(), atol=1e-12)
    assert np.all(to_numpy(ours[0].grad)[:, 2] == 0)


@pytest.mark.parametrize("kind", [None, "bool", "float", "causal"])
def test_sdpa_gradcheck(device, tiles, kind):
    rng = np.random.default_rng(2)
    q, k, v = (st.tensor(rng.standard_normal((2, n, 3)), device=device, requires_grad=True)
               for n in (6, 7, 7))
    inputs = [q, k, v]
    mask = _mask(kind if kind != "float" else "float", rng, (2,), 6, 7)
    if kind == "float":
        inputs.append(st.tensor(mask, device=device, requires_grad=True))
        fn = lambda a, b, c, m: F.scaled_dot_product_attention(a, b, c, attn_mask=m)  # noqa: E731
    else:
        m = None if mask is None else st.tensor(mask, device=device)
        fn = lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=m,  # noqa: E731
                                                            is_causal=kind == "causal")
    assert st.autograd.gradcheck(fn, inputs)


def test_sdpa_dropout_gradcheck_and_statistics(device, tiles):
    rng = np.random.default_rng(3)
    q, k, v = (st.tensor(rng.standard_normal((2, 6, 3)), device=device, requires_grad=True) for _ in range(3))

    def attend(a, b, c):
        st.manual_seed(7)  # the same dropout mask on every call, and regenerated the same in backward
        return F.scaled_dot_product_attention(a, b, c, dropout_p=0.3)
    assert st.autograd.gradcheck(attend, [q, k, v])
    no_drop = F.scaled_dot_product_attention(q, k, v)
    assert not np.allclose(to_numpy(attend(q, k, v)), to_numpy(no_drop))
    np.testing.assert_array_equal(to_numpy(attend(q, k, v)), to_numpy(attend(q, k, v)))
    # equal scores: every weight is 1/S, dropped with probability p and else scaled by 1/(1-p)
    zeros, ones = st.zeros(1, 200, 4, device=device), st.ones(1, 200, 1, device=device)
    y = to_numpy(F.scaled_dot_product_attention(zeros, zeros, ones, dropout_p=0.25))
    assert abs(y.mean() - 1) < 0.02 and y.std() > 0.01
    assert np.all(to_numpy(F.scaled_dot_product_attention(q, k, v, dropout_p=1.0)) == 0)


def test_sdpa_memory_stays_far_below_the_score_matrix():
    length = 4096
    q, k, v = (st.randn(1, length, 16, dtype=st.float64, requires_grad=True) for _ in range(3))
    tracemalloc.start()
    try:
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        (y * y).sum().backward()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    scores = length * length * 8  # one float64 L x L matrix: 128 MiB
    assert peak < scores / 10, f"peak {peak / 2**20:.1f} MiB against {scores / 2**20:.0f} MiB of scores"
    assert q.grad.shape == (1, length, 16) and np.isfinite(q.grad.numpy()).all()


def test_sdpa_errors_name_the_shapes(device):
    q = st.ones(2, 5, 4, device=device)
    with pytest.raises(ValueError, match=r"\(2, 5, 4\), \(2, 5, 3\)"):
        F.scaled_dot_product_attention(q, st.ones(2, 5, 3, device=device), q)
    with pytest.raises(ValueError, match=r"attn_mask of shape \(4, 4\).*\(2, 5, 5\)"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=st.ones(4, 4, dtype=st.bool, device=device))
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=st.ones(5, 5, dtype=st.bool, device=device),
                                       is_causal=True)


# ----- MultiheadAttention -----

E, H, N = 8, 2, 3


def _inputs(rng, shape_of, length, source, kdim, vdim, self_attention):
    q = rng.standard_normal(shape_of(length, E))
    if self_attention:
        return q, q, q
    return q, rng.standard_normal(shape_of(source, kdim)), rng.standard_normal(shape_of(source, vdim))


def _mha_masks(rng, kind, padding, length, source, heads_lead):
    am = None
    if kind == "bool":
        am = rng.random((length, source)) < 0.3
    elif kind == "float":
        am = rng.standard_normal((length, source))
    elif kind == "bool-per-head":
        am = rng.random((heads_lead, length, source)) < 0.3
    elif kind == "causal":
        am = ~np.tri(length, source, dtype=bool)
    if am is not None:
        am[..., 0] = False  # every query keeps one key
    kp = None
    if padding:
        kp = rng.random((N, source)) < 0.3
        kp[:, 0] = False
    return am, kp


def compare_mha(device, kwargs, batch_first=False, need_weights=True, average=True, kind=None, padding=False,
                self_attention=True, unbatched=False, is_causal=False, tol=1e-11):
    """Load PyTorch's weights into ours, run both, and compare outputs, weights and every gradient."""
    torch.manual_seed(0)
    length, source = 5, (5 if self_attention else 6)
    theirs = torch.nn.MultiheadAttention(E, H, batch_first=batch_first, dtype=torch.float64, **kwargs)
    ours = nn.MultiheadAttention(E, H, batch_first=batch_first, dtype=st.float64, **kwargs).to(device)
    if kwargs.get("bias", True):
        with torch.no_grad():
            theirs.in_proj_bias.uniform_(-0.5, 0.5)
            theirs.out_proj.bias.uniform_(-0.5, 0.5)
    ours.load_state_dict({key: t.detach().numpy() for key, t in theirs.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(4)

    def shape_of(n, d):
        return (n, d) if unbatched else ((N, n, d) if batch_first else (n, N, d))
    arrays = _inputs(rng, shape_of, length, source, kwargs.get("kdim", E), kwargs.get("vdim", E), self_attention)
    am, kp = _mha_masks(rng, kind, padding, length, source, H if unbatched else N * H)
    if unbatched and kp is not None:
        kp = kp[0]
    if self_attention:
        ours_in = [st.tensor(arrays[0], device=device, requires_grad=True)] * 3
        theirs_in = [torch.tensor(arrays[0], requires_grad=True)] * 3
    else:
        ours_in = [st.tensor(a, device=device, requires_grad=True) for a in arrays]
        theirs_in = [torch.tensor(a, requires_grad=True) for a in arrays]

    def mask(m, tensor):
        return None if m is None else tensor(m)
    y, w = ours(*ours_in, key_padding_mask=mask(kp, lambda m: st.tensor(m, device=device)),
                need_weights=need_weights, attn_mask=mask(am, lambda m: st.tensor(m, device=device)),
                average_attn_weights=average, is_causal=is_causal)
    # PyTorch needs the causal mask itself even with is_causal=True; ours builds it when none is given
    t_am = ~np.tri(length, source, dtype=bool) if is_causal and am is None else am
    yt, wt = theirs(*theirs_in, key_padding_mask=mask(kp, torch.tensor), need_weights=need_weights,
                    attn_mask=mask(t_am, torch.tensor), average_attn_weights=average, is_causal=is_causal)
    np.testing.assert_allclose(to_numpy(y), yt.detach().numpy(), rtol=tol, atol=tol)
    assert (w is None) == (wt is None)
    cot = np.cos(np.arange(yt.numel())).reshape(yt.shape)
    loss, loss_t = (y * st.tensor(cot, device=device)).sum(), (yt * torch.tensor(cot)).sum()
    if w is not None:
        np.testing.assert_allclose(to_numpy(w), wt.detach().numpy(), rtol=tol, atol=tol)
        loss, loss_t = loss + (w * w).sum(), loss_t + (wt * wt).sum()
    loss.backward()
    loss_t.backward()
    for name, a, b in zip("qkv", ours_in, theirs_in):
        np.testing.assert_allclose(to_numpy(a.grad), b.grad.numpy(), rtol=tol, atol=tol, err_msg=name)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), theirs_params[name].grad.numpy(), rtol=tol, atol=tol,
                                   err_msg=name)


@pytest.mark.parametrize("batch_first, need_weights, average, kind, padding", [
    c for c in itertools.product([False, True], [True, False], [True, False],
                                 [None, "bool", "float", "bool-per-head", "causal"], [False, True])
    if c[1] or c[2]])  # average_attn_weights only matters with need_weights
def test_multihead_attention_matches_torch(device, batch_first, need_weights, average, kind, padding):
    compare_mha(device, {}, batch_first, need_weights, average, kind, padding)


@pytest.mark.parametrize("kwargs", [dict(kdim=5, vdim=7), dict(add_bias_kv=True), dict(add_zero_attn=True),
                                    dict(bias=False), dict(add_bias_kv=True, add_zero_attn=True)],
                         ids=lambda kw: ",".join(kw))
@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention_variants(device, kwargs, need_weights):
    compare_mha(device, kwargs, True, need_weights, kind="bool", padding=True, self_attention="kdim" not in kwargs)


@pytest.mark.parametrize("kind", [None, "bool", "bool-per-head"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention_unbatched(device, kind, need_weights):
    compare_mha(device, {}, False, need_weights, False, kind, padding=True, unbatched=True)


@pytest.mark.parametrize("need_weights, padding", [(False, False), (True, False), (False, True)])
def test_multihead_attention_is_causal_without_a_mask(device, need_weights, padding):
    compare_mha(device, {}, True, need_weights, kind=None, padding=padding, is_causal=True)


def test_multihead_attention_cross_attention_float32(device):
    compare_mha(device, {}, True, True, kind="float", padding=True, self_attention=False, tol=2e-5)


def test_multihead_attention_takes_masks_as_arrays_of_the_data_s_module(device):
    st.manual_seed(0)
    layer = nn.MultiheadAttention(E, H, batch_first=True).to(device, st.float64)
    x = st.randn(2, 4, E, dtype=st.float64, device=device)
    causal = st.tensor(np.tri(4, 4, dtype=bool) == 0, device=device)
    padding = st.tensor(np.array([[False] * 4, [False, False, True, True]]), device=device)
    expected = layer(x, x, x, attn_mask=causal, key_padding_mask=padding)[0]
    got = layer(x, x, x, attn_mask=causal.data, key_padding_mask=padding.data)[0]
    np.testing.assert_array_equal(to_numpy(got), to_numpy(expected))


def test_multihead_attention_gradcheck(device):
    st.manual_seed(0)
    layer = nn.MultiheadAttention(E, H, batch_first=True, add_bias_kv=True).to(device, st.float64)
    x = st.randn(2, 4, E, dtype=st.float64, device=device, requires_grad=True)
    memory = st.randn(2, 5, E, dtype=st.float64, device=device, requires_grad=True)
    mask = st.tensor(np.tri(4, 4, dtype=bool) == 0, device=device)
    assert st.autograd.gradcheck(lambda a: layer(a, a, a, attn_mask=mask, need_weights=False)[0], [x])
    assert st.autograd.gradcheck(lambda a, m: layer(a, m, m, average_attn_weights=False), [x, memory])


def test_multihead_attention_state_dict_round_trip_with_torch():
    ours = nn.MultiheadAttention(E, H, kdim=3, vdim=5, add_bias_kv=True)
    theirs = torch.nn.MultiheadAttention(E, H, kdim=3, vdim=5, add_bias_kv=True)
    theirs.load_state_dict({key: torch.tensor(v.numpy()) for key, v in ours.state_dict().items()})
    for key, v in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[key].numpy(), v.numpy(), err_msg=key)
    assert set(dict(ours.named_parameters())) == set(dict(theirs.named_parameters()))


def test_multihead_attention_default_init_is_pytorch_s():
    st.manual_seed(0)
    layer = nn.MultiheadAttention(64, 4)
    bound = np.sqrt(6 / (64 + 3 * 64))  # Xavier-uniform over the packed (3E, E) weight
    w = layer.in_proj_weight.numpy()
    assert 0.9 * bound < np.abs(w).max() <= bound
    assert np.all(layer.in_proj_bias.numpy() == 0) and np.all(layer.out_proj.bias.numpy() == 0)


def test_multihead_attention_dropout_only_in_training(device):
    st.manual_seed(1)
    layer = nn.MultiheadAttention(E, H, dropout=0.5, batch_first=True).to(device)
    x = st.randn(2, 6, E, device=device)
    a, b = layer(x, x, x)[0], layer(x, x, x)[0]
    assert not np.allclose(to_numpy(a), to_numpy(b))
    layer.eval()
    np.testing.assert_array_equal(to_numpy(layer(x, x, x)[0]), to_numpy(layer(x, x, x)[0]))


def test_multihead_attention_errors(device):
    with pytest.raises(ValueError, match=r"embed_dim \(10\).*num_heads \(4\)"):
        nn.MultiheadAttention(10, 4)
    layer = nn.MultiheadAttention(E, H).to(device)
    with pytest.raises(ValueError, match=r"query \(3, 5, 6\).*E = 8"):
        layer(st.ones(5, 3, 6, device=device), st.ones(5, 3, 6, device=device), st.ones(5, 3, 6, device=device))
