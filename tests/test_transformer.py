"""Transformer layers and stacks against PyTorch with the same weights (eval mode, so dropout is off)."""
import numpy as np
import pytest
import torch

import sparktensor as st
import sparktensor.nn as nn
from backends import to_numpy

D, HEADS, FF, N, L, S = 8, 2, 12, 3, 5, 6


def paired(ours, theirs, device):
    """Give PyTorch's layer random weights (LayerNorms included), load them into ours, eval both."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in theirs.parameters():
            p.add_(torch.rand_like(p) - 0.5)
    ours.to(device)
    ours.load_state_dict({key: t.detach().numpy() for key, t in theirs.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.eval()
    theirs.eval()
    return ours, theirs


def check(ours, theirs, ours_inputs, theirs_inputs, ours_kw, theirs_kw, tol=1e-10):
    """Outputs, input gradients and parameter gradients equal."""
    y, yt = ours(*ours_inputs, **ours_kw), theirs(*theirs_inputs, **theirs_kw)
    np.testing.assert_allclose(to_numpy(y), yt.detach().numpy(), rtol=tol, atol=tol)
    g = np.random.default_rng(9).standard_normal(yt.shape)
    y.backward(st.tensor(g, device=ours_inputs[0].device))
    yt.backward(torch.tensor(g))
    for a, b in zip(ours_inputs, theirs_inputs):
        np.testing.assert_allclose(to_numpy(a.grad), b.grad.numpy(), rtol=tol, atol=tol)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), theirs_params[name].grad.numpy(), rtol=tol, atol=tol,
                                   err_msg=name)


def sequences(device, batch_first, *lengths, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((N, n, D) if batch_first else (n, N, D)) for n in lengths]
    return ([st.tensor(a, device=device, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


def masks(device, length, source, seed=1):
    """A boolean causal attention mask and a key padding mask, for ours and for PyTorch."""
    causal = ~np.tri(length, source, dtype=bool)
    padding = np.random.default_rng(seed).random((N, source)) < 0.3
    padding[:, 0] = False
    return ((st.tensor(causal, device=device), st.tensor(padding, device=device)),
            (torch.tensor(causal), torch.tensor(padding)))


ARCH = [pytest.param(norm_first, activation, batch_first, id=f"{'pre' if norm_first else 'post'}-{activation}-"
                     f"{'NLE' if batch_first else 'LNE'}")
        for norm_first in (False, True) for activation in ("relu", "gelu") for batch_first in (False, True)]


@pytest.mark.parametrize("norm_first, activation, batch_first", ARCH)
@pytest.mark.parametrize("with_masks", [False, True])
def test_encoder_layer_matches_torch(device, norm_first, activation, batch_first, with_masks):
    kw = dict(dim_feedforward=FF, activation=activation, batch_first=batch_first, norm_first=norm_first)
    ours, theirs = paired(nn.TransformerEncoderLayer(D, HEADS, dtype=st.float64, **kw),
                          torch.nn.TransformerEncoderLayer(D, HEADS, dtype=torch.float64, **kw), device)
    xs, xts = sequences(device, batch_first, L)
    (m, kp), (mt, kpt) = masks(device, L, L) if with_masks else ((None, None), (None, None))
    check(ours, theirs, xs, xts, dict(src_mask=m, src_key_padding_mask=kp),
          dict(src_mask=mt, src_key_padding_mask=kpt))


@pytest.mark.parametrize("norm_first, activation, batch_first", ARCH)
@pytest.mark.parametrize("with_masks", [False, True])
def test_decoder_layer_matches_torch(device, norm_first, activation, batch_first, with_masks):
    kw = dict(dim_feedforward=FF, activation=activation, batch_first=batch_first, norm_first=norm_first)
    ours, theirs = paired(nn.TransformerDecoderLayer(D, HEADS, dtype=st.float64, **kw),
                          torch.nn.TransformerDecoderLayer(D, HEADS, dtype=torch.float64, **kw), device)
    xs, xts = sequences(device, batch_first, L, S)
    ours_kw, theirs_kw = {}, {}
    if with_masks:
        (m, kp), (mt, kpt) = masks(device, L, L)
        (_, mkp), (_, mkpt) = masks(device, L, S, seed=2)
        ours_kw = dict(tgt_mask=m, tgt_key_padding_mask=kp, memory_key_padding_mask=mkp)
        theirs_kw = dict(tgt_mask=mt, tgt_key_padding_mask=kpt, memory_key_padding_mask=mkpt)
    check(ours, theirs, xs, xts, ours_kw, theirs_kw)


@pytest.mark.parametrize("final_norm", [False, True])
def test_encoder_stack_matches_torch(device, final_norm):
    def build(lib, dtype):
        layer = lib.nn.TransformerEncoderLayer(D, HEADS, FF, batch_first=True, dtype=dtype)
        norm = lib.nn.LayerNorm(D, dtype=dtype) if final_norm else None
        return lib.nn.TransformerEncoder(layer, 2, norm=norm, enable_nested_tensor=False)
    ours, theirs = paired(build(st, st.float64), build(torch, torch.float64), device)
    assert any(k.startswith("layers.1.self_attn.in_proj_weight") for k in ours.state_dict())
    xs, xts = sequences(device, True, L)
    (m, kp), (mt, kpt) = masks(device, L, L)
    check(ours, theirs, xs, xts, dict(mask=m, src_key_padding_mask=kp), dict(mask=mt, src_key_padding_mask=kpt))


def test_encoder_copies_are_independent():
    layer = nn.TransformerEncoderLayer(D, HEADS, FF)
    stack = nn.TransformerEncoder(layer, 2)
    w0, w1 = stack.layers[0].linear1.weight, stack.layers[1].linear1.weight
    assert w0 is not w1 and w0 is not layer.linear1.weight
    np.testing.assert_array_equal(w0.numpy(), w1.numpy())


def test_transformer_matches_torch(device):
    kw = dict(d_model=D, nhead=HEADS, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=FF,
              batch_first=True)
    ours, theirs = paired(nn.Transformer(dtype=st.float64, **kw), torch.nn.Transformer(dtype=torch.float64, **kw),
                          device)
    xs, xts = sequences(device, True, S, L)
    mask = nn.Transformer.generate_square_subsequent_mask(L, device=device, dtype=st.float64)
    mask_t = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64)
    np.testing.assert_array_equal(to_numpy(mask), mask_t.numpy())
    check(ours, theirs, xs, xts, dict(tgt_mask=mask), dict(tgt_mask=mask_t))


def test_transformer_default_init_is_xavier():
    st.manual_seed(0)
    model = nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32)
    w = model.encoder.layers[0].linear1.weight.numpy()
    bound = np.sqrt(6 / (16 + 32))
    assert 0.9 * bound < np.abs(w).max() <= bound


def test_encoder_layer_is_causal_without_mask_equals_explicit_mask(device):
    st.manual_seed(0)
    layer = nn.TransformerEncoderLayer(D, HEADS, FF, batch_first=True).to(device, st.float64).eval()
    x = st.randn(N, L, D, dtype=st.float64, device=device)
    mask = st.tensor(~np.tri(L, L, dtype=bool), device=device)
    np.testing.assert_allclose(to_numpy(layer(x, is_causal=True)), to_numpy(layer(x, src_mask=mask)), atol=1e-12)


def test_dropout_is_active_in_training_only(device):
    st.manual_seed(0)
    layer = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.3, batch_first=True).to(device)
    x = st.randn(N, L, D, device=device)
    assert not np.allclose(to_numpy(layer(x)), to_numpy(layer(x)))
    layer.eval()
    np.testing.assert_array_equal(to_numpy(layer(x)), to_numpy(layer(x)))


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_and_decoder_layer_gradcheck(device, norm_first):
    st.manual_seed(0)
    enc = nn.TransformerEncoderLayer(D, HEADS, FF, activation="gelu", batch_first=True, norm_first=norm_first)
    dec = nn.TransformerDecoderLayer(D, HEADS, FF, batch_first=True, norm_first=norm_first)
    enc.to(device, st.float64).eval()
    dec.to(device, st.float64).eval()
    x = st.randn(2, 4, D, dtype=st.float64, device=device, requires_grad=True)
    memory = st.randn(2, 3, D, dtype=st.float64, device=device, requires_grad=True)
    assert st.autograd.gradcheck(lambda a: enc(a, is_causal=True), [x])
    assert st.autograd.gradcheck(lambda a, m: dec(a, m, tgt_is_causal=True), [x, memory])


def test_bad_activation_is_named():
    with pytest.raises(ValueError, match="'relu', 'gelu' or a callable, not 'swish'"):
        nn.TransformerEncoderLayer(D, HEADS, activation="swish")
