"""Model-parallel attention and Transformer layers: dist.shard splits heads and the feed-forward pair; outputs
and gradients at M = 2 and 4 equal the ordinary model's in float64."""
import numpy as np
import pytest

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn as nn
from sparktensor.dist.comm import run_threads
from sparktensor.dist.sharding import ColumnParallelLinear, RowParallelLinear, split_parameters
from sparktensor.dist.sharding.attention import ParallelMultiheadAttention

TOL = 1e-10


def dense_run(model, inputs, kwargs, loss):
    xs = [st.tensor(a, requires_grad=True) for a in inputs]
    out = model(*xs, **kwargs)
    loss(out).backward()
    return out, [x.grad.numpy() for x in xs], {k: p.grad.numpy() for k, p in model.named_parameters()}


def sharded_runs(model, inputs, kwargs, loss, world_size):
    def rank_main(comm):
        sharded = dist.shard(model, comm)
        xs = [st.tensor(a, requires_grad=True) for a in inputs]
        out = sharded(*xs, **kwargs)
        loss(out).backward()
        grads = {k: p.grad.numpy() for k, p in sharded.named_parameters()}
        return sharded, out, [x.grad.numpy() for x in xs], grads
    return run_threads(rank_main, world_size)


def assert_matches(model, inputs, kwargs, loss, world_size, outputs=lambda o: [o]):
    """Every rank's outputs and input gradients equal the ordinary model's; the ranks' parameter gradients,
    joined as ``gather`` joins the parameters, equal its parameter gradients."""
    out, gxs, grads = dense_run(model, inputs, kwargs, loss)
    ranks = sharded_runs(model, inputs, kwargs, loss, world_size)
    for sharded, rank_out, rank_gxs, _ in ranks:
        for a, b in zip(outputs(rank_out), outputs(out)):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=TOL, atol=TOL)
        for a, b in zip(rank_gxs, gxs):
            np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL)
    splits = split_parameters(ranks[0][0])
    for key, g in grads.items():
        shares = [r[3][key] for r in ranks]
        joined = splits[key].join(shares) if key in splits else shares[0]
        np.testing.assert_allclose(joined, g, rtol=TOL, atol=TOL, err_msg=key)
    return ranks


def causal_and_padding(rng, length, batch):
    padding = rng.random((batch, length)) < 0.3
    padding[:, 0] = False
    return st.tensor(~np.tri(length, length, dtype=bool)), st.tensor(padding)


@pytest.mark.parametrize("world_size", [2, 4])
@pytest.mark.parametrize("need_weights, average", [(False, True), (True, True), (True, False)])
def test_sharded_multihead_attention_equals_the_ordinary_layer(world_size, need_weights, average):
    st.manual_seed(0)
    layer = nn.MultiheadAttention(12, 6, batch_first=True).to(dtype=st.float64)  # 6 heads over 4 ranks: 2,2,1,1
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 12))
    mask, padding = causal_and_padding(rng, 5, 3)
    kwargs = dict(attn_mask=mask, key_padding_mask=padding, need_weights=need_weights,
                  average_attn_weights=average)

    def loss(out):
        y, w = out
        return (y * y).sum() + ((w * w).sum() if w is not None else 0)
    ranks = assert_matches(_SelfAttention(layer, kwargs), [x], {}, loss, world_size,
                           outputs=lambda o: [t for t in o if t is not None])
    assert all(isinstance(r[0].attention, ParallelMultiheadAttention) for r in ranks)
    heads = [r[0].attention.stop - r[0].attention.start for r in ranks]
    assert heads == ([3, 3] if world_size == 2 else [2, 2, 1, 1])
    assert [r[0].attention.in_proj_weight.shape[0] for r in ranks] == [3 * 2 * h for h in heads]


class _SelfAttention(nn.Module):
    """A module whose forward calls self-attention with fixed keyword arguments (so shard sees the layer)."""

    def __init__(self, attention, kwargs):
        super().__init__()
        self.attention, self.kwargs = attention, kwargs

    def forward(self, x):
        return self.attention(x, x, x, **self.kwargs)


def test_sharded_cross_attention_equals_the_ordinary_layer():
    st.manual_seed(1)
    layer = nn.MultiheadAttention(8, 4).to(dtype=st.float64)
    rng = np.random.default_rng(1)
    q, kv = rng.standard_normal((5, 2, 8)), rng.standard_normal((7, 2, 8))
    assert_matches(layer, [q, kv, kv], dict(need_weights=False), lambda o: (o[0] * o[0]).sum(), 2,
                   outputs=lambda o: [o[0]])


@pytest.mark.parametrize("world_size", [2, 4])
@pytest.mark.parametrize("norm_first, activation", [(False, "relu"), (True, "gelu")])
def test_sharded_transformer_encoder_equals_the_ordinary_model(world_size, norm_first, activation):
    st.manual_seed(2)
    layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=24, dropout=0.1, activation=activation,
                                       batch_first=True, norm_first=norm_first)
    model = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(16)).to(dtype=st.float64).eval()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 6, 16))
    mask, padding = causal_and_padding(rng, 6, 3)
    ranks = assert_matches(model, [x], dict(mask=mask, src_key_padding_mask=padding),
                           lambda y: (y * y.sin()).sum(), world_size)
    share = ranks[0][0].layers[0]
    assert isinstance(share.self_attn, ParallelMultiheadAttention)
    assert isinstance(share.linear1, ColumnParallelLinear) and isinstance(share.linear2, RowParallelLinear)
    assert share.linear1.weight.shape == (24 // world_size, 16) and share.linear2.weight.shape == (16, 24 // world_size)
    # the shares join back into the ordinary model, bit for bit
    whole = dist.gather([r[0] for r in ranks])
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(whole.state_dict()[key].numpy(), value.numpy(), err_msg=key)


def test_sharded_transformer_decoder_layer_equals_the_ordinary_layer():
    st.manual_seed(3)
    layer = nn.TransformerDecoderLayer(8, 2, dim_feedforward=12, batch_first=True).to(dtype=st.float64).eval()
    rng = np.random.default_rng(3)
    tgt, memory = rng.standard_normal((2, 5, 8)), rng.standard_normal((2, 4, 8))
    assert_matches(layer, [tgt, memory], dict(tgt_is_causal=True), lambda y: (y * y).sum(), 2)


def test_attention_with_extra_keys_stays_replicated():
    layer = nn.MultiheadAttention(8, 2, add_bias_kv=True)
    shares = run_threads(lambda comm: dist.shard(layer, comm), 2)
    assert not isinstance(shares[0], ParallelMultiheadAttention)
    np.testing.assert_array_equal(shares[1].in_proj_weight.numpy(), layer.in_proj_weight.numpy())


def test_deferred_transformer_layer_shards_to_the_ordinary_layer_s_bits():
    st.manual_seed(4)
    ordinary = nn.TransformerEncoderLayer(8, 2, dim_feedforward=12, batch_first=True)
    st.manual_seed(4)
    with dist.deferred_init():
        deferred = nn.TransformerEncoderLayer(8, 2, dim_feedforward=12, batch_first=True)
    shares = run_threads(lambda comm: dist.shard(deferred, comm), 2)
    whole = dist.gather(shares)
    for key, value in ordinary.state_dict().items():
        np.testing.assert_array_equal(whole.state_dict()[key].numpy(), value.numpy(), err_msg=key)
