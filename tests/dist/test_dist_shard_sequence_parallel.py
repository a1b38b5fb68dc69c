"""Sequence parallelism in sharded Transformer encoders: residuals and layer norms on each rank's rows, the
products at its edges with their collectives overlapped (``sequence_ops.py``), and the background collectives
they use. Values and gradients in float64 against the ordinary model and NumPy."""
import numpy as np
import pytest

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn as nn
from sparktensor.dist.comm import run_threads
from sparktensor.dist.sharding import background, sequence_ops, split_parameters
from sparktensor.dist.sharding.background import start_collective
from sparktensor.dist.sharding.sequence_ops import gathered_linear, scattered_linear
from sparktensor.dist.sharding.split import bounds
from sparktensor.dist.sharding.transformer import ParallelTransformerEncoder, ParallelTransformerEncoderLayer

TOL = 1e-10


@pytest.fixture
def small_blocks(monkeypatch, small_arrays_in_background):
    """Blocks of a few rows, so that the scattered products of these small tests go in several blocks."""
    monkeypatch.setattr(sequence_ops, "BLOCK_BYTES", 1)


@pytest.fixture
def small_arrays_in_background(monkeypatch):
    """The small arrays of these tests sent on the background thread too (not at once, as small ones are)."""
    monkeypatch.setattr(background, "MIN_BYTES", 0)


def _run(model, x, world_size, loss=lambda y: (y * y.sin()).sum()):
    """Per rank: (share, output, input gradient, parameter gradients, bytes sent)."""
    def rank_main(comm):
        share = dist.shard(model, comm)
        xt = st.tensor(x, requires_grad=True)
        y = share(xt)
        loss(y).backward()
        return share, y.numpy(), xt.grad.numpy(), {k: p.grad.numpy() for k, p in share.named_parameters()}, \
            comm.bytes_sent
    return run_threads(rank_main, world_size)


def _assert_equals_dense(model, x, world_size):
    xt = st.tensor(x, requires_grad=True)
    y = model(xt)
    (y * y.sin()).sum().backward()
    grads = {k: p.grad.numpy() for k, p in model.named_parameters()}
    ranks = _run(model, x, world_size)
    splits = split_parameters(ranks[0][0])
    for share, out, gx, _, _ in ranks:
        np.testing.assert_allclose(out, y.numpy(), rtol=TOL, atol=TOL)
        np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=TOL, atol=TOL)
    for key, g in grads.items():
        if key in splits:
            np.testing.assert_allclose(splits[key].join([r[3][key] for r in ranks]), g, rtol=TOL, atol=TOL, err_msg=key)
        else:  # replicated: every rank's gradient is the whole one (summed over the ranks' rows)
            for r in ranks:
                np.testing.assert_allclose(r[3][key], g, rtol=TOL, atol=TOL, err_msg=key)
    return ranks


@pytest.mark.parametrize("world_size", [2, 3])
@pytest.mark.parametrize("batch_first, norm_first", [(True, False), (False, True), (False, False)])
def test_encoder_rows_split_equals_the_ordinary_model(small_blocks, world_size, batch_first, norm_first):
    st.manual_seed(5)
    layer = nn.TransformerEncoderLayer(12, 3, dim_feedforward=18, dropout=0.0, batch_first=batch_first,
                                       norm_first=norm_first)
    model = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(12)).to(dtype=st.float64)
    x = np.random.default_rng(5).standard_normal((6, 4, 12))  # 6 rows along the first axis: pieces 3,3 / 2,2,2
    ranks = _assert_equals_dense(model, x, world_size)
    assert type(ranks[0][0]) is ParallelTransformerEncoder
    assert all(type(layer) is ParallelTransformerEncoderLayer for layer in ranks[0][0].layers)


@pytest.mark.parametrize("shape", [(5, 3, 8), (7, 8)])  # uneven pieces; an unbatched (L, E) input
def test_lone_layer_rows_split_equals_the_ordinary_layer(small_blocks, shape):
    st.manual_seed(6)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=10, dropout=0.0).to(dtype=st.float64)
    ranks = _assert_equals_dense(layer, np.random.default_rng(6).standard_normal(shape), 2)
    assert type(ranks[0][0]) is ParallelTransformerEncoderLayer


def test_layers_without_biases_split_rows_too(small_blocks):
    st.manual_seed(12)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=12, dropout=0.0, batch_first=True, bias=False)
    model = nn.TransformerEncoder(layer, 3).to(dtype=st.float64)
    ranks = _assert_equals_dense(model, np.random.default_rng(12).standard_normal((4, 6, 8)), 2)
    assert ranks[0][0].layers[2].linear2.bias is None


def test_a_rank_without_rows_still_takes_part(small_blocks):
    st.manual_seed(7)
    layer = nn.TransformerEncoderLayer(8, 4, dim_feedforward=8, dropout=0.0, batch_first=True)
    model = nn.TransformerEncoder(layer, 2).to(dtype=st.float64)
    _assert_equals_dense(model, np.random.default_rng(7).standard_normal((3, 5, 8)), 4)  # pieces 1, 1, 1, 0


def test_sequence_parallel_sends_what_the_all_reduces_sent_plus_the_row_parameters():
    """Each all-reduce of the activations became a reduce-scatter and an all-gather, each sending half the
    buffer at M = 2: 4 L of them forward (the last all-gathers the output), 4 L - 1 backward (the output's
    gradient is whole on every rank), and one all-reduce of the row parameters' gradients."""
    st.manual_seed(8)
    layers, n, length, e = 2, 4, 6, 8
    layer = nn.TransformerEncoderLayer(e, 2, dim_feedforward=12, dropout=0.0, batch_first=True)
    model = nn.TransformerEncoder(layer, layers).to(dtype=st.float64)
    x = np.random.default_rng(8).standard_normal((n, length, e))
    sent = [r[4] for r in _run(model, x, 2)]
    activation = n * length * e * 8
    # the input requires grad here: the first layer's backward also all-reduces its attention input's gradient
    # (2 halves) and all-gathers its residual rows' gradient (1 half)
    expected = (8 * layers - 1 + 3) * activation / 2 + 2 * (1 / 2) * 6 * e * layers * 8
    assert sent == [expected, expected]


@pytest.mark.parametrize("world_size, length", [(2, 8), (3, 6), (2, 5)])
def test_gathered_and_scattered_products_equal_numpy(small_blocks, world_size, length):
    rng = np.random.default_rng(9)
    x, w1, b1 = rng.standard_normal((length, 3, 4)), rng.standard_normal((6, 4)), rng.standard_normal(6)
    w2 = rng.standard_normal((5, 6))
    gy = rng.standard_normal((length, 3, 5))
    w2_cols = [w2[:, slice(*bounds(6, r, world_size))] for r in range(world_size)]
    w1_rows = [slice(*bounds(6, r, world_size)) for r in range(world_size)]

    def rank_main(comm):
        rows = slice(*bounds(length, comm.rank, world_size))
        xt = st.tensor(x[rows], requires_grad=True)
        w1t = st.tensor(w1[w1_rows[comm.rank]], requires_grad=True)
        b1t = st.tensor(b1[w1_rows[comm.rank]], requires_grad=True)
        w2t = st.tensor(w2_cols[comm.rank], requires_grad=True)
        h = gathered_linear(xt, w1t, b1t, comm, length)
        y = scattered_linear(h, w2t, comm)
        (y * st.tensor(gy[rows])).sum().backward()
        return y.numpy(), xt.grad.numpy(), w1t.grad.numpy(), b1t.grad.numpy(), w2t.grad.numpy()

    ranks = run_threads(rank_main, world_size)
    h = x @ w1.T + b1
    y = h @ w2.T
    gh = gy @ w2
    for r, (yr, gx, gw1, gb1, gw2) in enumerate(ranks):
        rows, cols = slice(*bounds(length, r, world_size)), w1_rows[r]
        np.testing.assert_allclose(yr, y[rows], rtol=TOL, atol=TOL)
        np.testing.assert_allclose(gx, (gh @ w1)[rows], rtol=TOL, atol=TOL)
        np.testing.assert_allclose(gw1, np.einsum("nlo,nli->oi", gh, x)[cols], rtol=TOL, atol=TOL)
        np.testing.assert_allclose(gb1, gh.sum(axis=(0, 1))[cols], rtol=TOL, atol=TOL)
        np.testing.assert_allclose(gw2, np.einsum("nlo,nli->oi", gy, h)[:, cols], rtol=TOL, atol=TOL)


def test_gathered_linear_names_a_piece_of_the_wrong_size():
    def rank_main(comm):
        with pytest.raises(ValueError, match="piece of 6 over 2 ranks"):
            gathered_linear(st.tensor(np.zeros((2, 4))), st.tensor(np.zeros((3, 4))), None, comm, 6)
    run_threads(rank_main, 2)


def test_training_with_dropout_keeps_the_replicated_parameters_equal_on_every_rank(small_blocks):
    st.manual_seed(10)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=12, dropout=0.2, batch_first=True)
    model = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8)).to(dtype=st.float64)
    ranks = _run(model, np.random.default_rng(10).standard_normal((4, 5, 8)), 2)
    splits = split_parameters(ranks[0][0])
    replicated = [k for k in ranks[0][3] if k not in splits]
    assert "layers.0.norm1.weight" in replicated and "layers.1.linear2.bias" in replicated
    for key in replicated:
        np.testing.assert_array_equal(ranks[0][3][key], ranks[1][3][key], err_msg=key)
    assert all(np.isfinite(r[1]).all() for r in ranks)


def test_one_background_collective_at_a_time(small_arrays_in_background):
    def rank_main(comm):
        first = start_collective(comm, "all_reduce", np.ones(4))
        with pytest.raises(RuntimeError, match="already under way"):
            start_collective(comm, "all_reduce", np.ones(4))
        total = first.result()
        again = start_collective(comm, "all_gather", np.full(2, comm.rank), axis=0).result()
        return total, again
    for total, again in run_threads(rank_main, 2):
        np.testing.assert_array_equal(total, np.full(4, 2.0))
        np.testing.assert_array_equal(again, [0, 0, 1, 1])


def test_background_collectives_of_a_communicator_without_weak_references(small_arrays_in_background):
    class Plain:
        __slots__ = ("rank", "world_size")

        def __init__(self):
            self.rank, self.world_size = 0, 2

        def all_reduce(self, x):
            return x * 2

    pending = start_collective(Plain(), "all_reduce", np.ones(3))
    np.testing.assert_array_equal(pending.result(), np.full(3, 2.0))


def test_a_failed_background_collective_raises_on_the_caller(small_arrays_in_background):
    def rank_main(comm):
        with pytest.raises(ValueError, match="axis"):
            start_collective(comm, "all_gather", np.ones(2), axis=3).result()
        return start_collective(comm, "all_reduce", np.ones(2)).result()
    for total in run_threads(rank_main, 2):
        np.testing.assert_array_equal(total, [2.0, 2.0])


def test_small_arrays_are_sent_at_once_without_a_thread():
    def rank_main(comm):
        pending = start_collective(comm, "all_reduce", np.ones(4))
        second = start_collective(comm, "all_reduce", np.ones(4))  # the first is done: no error
        return type(pending).__name__, second.result()
    for kind, total in run_threads(rank_main, 2):
        assert kind != "PendingCollective"
        np.testing.assert_array_equal(total, np.full(4, 2.0))
