"""dist.shard on whole models: outputs and gradients equal the ordinary model's, gather gives it back, 1/M memory."""
import numpy as np
import pytest

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn as nn
import sparktensor.nn.functional as F
from sparktensor.dist.comm import run_threads
from sparktensor.dist.sharding import (ChannelParallelConv, ColumnParallelLinear, ParallelLSTM, parallel_cross_entropy,
                                    RowParallelLinear, VocabParallelEmbedding, split_parameters)
from sparktensor.models import CharLSTM, LSTMClassifier
from shard_helpers import directional_derivative, held_bytes, reference, run_sharded


def _mlp():
    st.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 10), nn.Tanh(),
                         nn.Linear(10, 9), nn.GELU(), nn.Linear(9, 5)).double()


def _cnn():
    st.manual_seed(2)
    return nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 5, 3), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(5 * 1 * 1, 7), nn.ReLU(), nn.Linear(7, 4)).double()


def _lstm():
    st.manual_seed(3)
    return LSTMClassifier(3, 4, hidden=10, layers=2).double()


def _char_lstm():
    st.manual_seed(4)
    return CharLSTM(13, embed=6, hidden=9, layers=2).double()


def _batch(kind, rng):
    if kind == "mlp":
        return rng.standard_normal((6, 3, 4)), rng.integers(0, 5, 6)
    if kind == "cnn":
        return rng.standard_normal((3, 2, 8, 8)), rng.integers(0, 4, 3)
    if kind == "lstm":
        x = rng.standard_normal((4, 7, 3))
        x[1, 5:] = 0  # a shorter series, zero-padded
        return x, rng.integers(0, 4, 4)
    return rng.integers(0, 13, (3, 8)), rng.integers(0, 13, (3, 8))


MODELS = {"mlp": _mlp, "cnn": _cnn, "lstm": _lstm, "char_lstm": _char_lstm}


@pytest.mark.parametrize("world_size", [2, 4])
@pytest.mark.parametrize("kind", list(MODELS))
def test_sharded_outputs_and_gradients_equal_the_ordinary_model(kind, world_size, rng):
    model = MODELS[kind]()
    x, y = _batch(kind, rng)
    expected_out, expected_grads = reference(model, x, y, F.cross_entropy)
    outputs, shares, grads = run_sharded(model, x, y, F.cross_entropy, world_size)
    for rank, out in enumerate(outputs):
        np.testing.assert_allclose(out, expected_out, rtol=0, atol=1e-10, err_msg=f"output of rank {rank}")
    assert list(grads) == list(expected_grads)
    for name, g in expected_grads.items():
        assert grads[name].shape == g.shape
        np.testing.assert_allclose(grads[name], g, rtol=0, atol=1e-10, err_msg=name)
    # the shares are smaller than the model, and gather() joins them back into it
    assert sum(p.size for p in shares[0].parameters()) < sum(p.size for p in model.parameters())
    whole = dist.gather(shares)
    assert type(whole) is type(model)
    for (name, p), (name2, q) in zip(whole.named_parameters(), model.named_parameters()):
        assert name == name2
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=name)


@pytest.mark.parametrize("kind", list(MODELS))
def test_directional_derivative_matches_central_differences_across_ranks(kind, rng):
    model = MODELS[kind]()
    model.eval()
    x, y = _batch(kind, rng)
    results = run_threads(directional_derivative, 2, model, x, y, F.cross_entropy)
    (analytic, numeric), other = results
    assert other == (analytic, numeric)
    assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-8)


def test_an_mlp_becomes_column_row_pairs_and_an_odd_last_linear_gathers():
    def fn(comm):
        return dist.shard(_mlp(), comm)
    sharded = run_threads(fn, 2)[0]
    kinds = [type(m) for m in sharded]
    assert kinds == [nn.Flatten, ColumnParallelLinear, nn.ReLU, RowParallelLinear, nn.Tanh, ColumnParallelLinear,
                     nn.GELU, RowParallelLinear]
    assert not sharded[1].gather_output and sharded[3].weight.shape == (10, 8)

    def odd(comm):
        st.manual_seed(0)
        return dist.shard(nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 3)), comm)
    layers = list(run_threads(odd, 2)[1])
    assert [type(m) for m in layers] == [ColumnParallelLinear, nn.ReLU, RowParallelLinear, nn.ReLU,
                                         ColumnParallelLinear]
    assert layers[-1].gather_output and layers[-1].weight.shape == (1, 6)


def test_a_cnn_gathers_channels_only_where_a_layer_needs_all_of_them():
    sharded = run_threads(lambda comm: dist.shard(_cnn(), comm), 2)[1]
    kinds = [type(m).__name__ for m in sharded]
    assert kinds == ["ChannelParallelConv", "ReLU", "MaxPool2d", "GatherActivation", "ChannelParallelConv", "ReLU",
                     "AvgPool2d", "Flatten", "RowParallelLinear", "ReLU", "ColumnParallelLinear"]
    assert sharded[3].axis == 1
    assert isinstance(sharded[4], ChannelParallelConv) and sharded[4].weight.shape == (2, 6, 3, 3)  # channels 3:5
    assert sharded[8].unit == 1 and sharded[8].weight.shape == (7, 2)


def test_recurrent_models_get_split_embedding_lstm_and_head():
    lstm_share = run_threads(lambda comm: dist.shard(_lstm(), comm), 4)[3]
    assert isinstance(lstm_share.lstm, ParallelLSTM) and isinstance(lstm_share.head, ColumnParallelLinear)
    # 10 hidden units over 4 ranks: 3, 3, 2, 2; each gate keeps its own rows
    assert lstm_share.lstm.weight_ih_l0.shape == (4 * 2, 3) and lstm_share.lstm.weight_hh_l0.shape == (4 * 2, 10)
    char_share = run_threads(lambda comm: dist.shard(_char_lstm(), comm), 2)[0]
    assert isinstance(char_share.embed, VocabParallelEmbedding) and char_share.embed.weight.shape == (7, 6)


def test_layers_that_cannot_be_split_stay_replicated():
    st.manual_seed(5)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3, groups=2),
                          nn.Flatten(), nn.LayerNorm(16), nn.Linear(16, 3)).double()
    model.eval()
    x = np.random.default_rng(0).standard_normal((2, 1, 6, 6))
    expected, grads = reference(model, x, np.array([0, 2]), F.cross_entropy)
    outputs, shares, got = run_sharded(model, x, np.array([0, 2]), F.cross_entropy, 2)
    share = shares[0]
    assert [type(m).__name__ for m in share] == ["ChannelParallelConv", "GatherActivation", "BatchNorm2d", "ReLU",
                                                 "Conv2d", "Flatten", "LayerNorm", "ColumnParallelLinear"]
    assert share[2].weight.shape == (4,) and share[4].weight.shape == (4, 2, 3, 3)  # whole copies
    np.testing.assert_allclose(outputs[1], expected, atol=1e-10)
    for name, g in grads.items():
        np.testing.assert_allclose(got[name], g, atol=1e-10, err_msg=name)
    # buffers (batch-norm statistics) come back with gather too
    state = dist.gather(shares, state_dict=True)
    assert list(state) == list(model.state_dict())
    np.testing.assert_array_equal(state["1.running_var"], model.state_dict()["1.running_var"].numpy())


@pytest.mark.parametrize("kind", list(MODELS))
def test_a_group_of_one_rank_keeps_every_layer_as_it_is(kind, rng):
    """Nothing to split: the copy has the ordinary layers (their own fast paths, no collectives), its own
    parameters, and the ordinary model's outputs and gradients; gather gives the model back."""
    model = MODELS[kind]()
    x, y = _batch(kind, rng)
    expected_out, expected_grads = reference(model, x, y, F.cross_entropy)
    outputs, shares, grads = run_sharded(model, x, y, F.cross_entropy, 1)
    share = shares[0]
    assert [type(m) for _, m in share.named_modules()] == [type(m) for _, m in model.named_modules()]
    assert not split_parameters(share)
    assert all(a is not b for a, b in zip(share.parameters(), model.parameters()))
    np.testing.assert_allclose(outputs[0], expected_out, atol=1e-12)
    for name, g in expected_grads.items():
        np.testing.assert_allclose(grads[name], g, atol=1e-12, err_msg=name)
    state = dist.gather(shares, state_dict=True)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(state[key], value.numpy(), err_msg=key)


def test_gather_on_every_rank_is_a_collective_giving_the_whole_model():
    model = _char_lstm()

    def fn(comm):
        sharded = dist.shard(model, comm)
        return dist.gather(sharded), dist.gather(sharded, state_dict=True)
    for whole, state in run_threads(fn, 3):
        assert isinstance(whole, CharLSTM)
        for key, value in model.state_dict().items():
            np.testing.assert_array_equal(whole.state_dict()[key].numpy(), value.numpy(), err_msg=key)
            np.testing.assert_array_equal(state[key], value.numpy(), err_msg=key)
    assert model.embed.weight.shape == (13, 6)  # shard left the ordinary model alone


def test_gather_names_what_is_wrong():
    shares = run_threads(lambda comm: dist.shard(_mlp(), comm), 2)
    with pytest.raises(ValueError, match="got 1 shares of a model split over 2 ranks"):
        dist.gather(shares[:1])
    with pytest.raises(ValueError, match="not made by shard"):
        dist.gather(_mlp())
    with pytest.raises(ValueError, match="expected a Communicator or a bound Mesh"):
        dist.shard(_mlp(), dist.Mesh(1, 2))


@pytest.mark.parametrize("world_size", [2, 4])
def test_each_rank_holds_about_one_mth_of_the_parameters_and_adam_state(world_size):
    st.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 128),
                          nn.ReLU(), nn.Linear(128, 10))
    x, y = np.random.default_rng(0).standard_normal((8, 64)).astype(np.float32), np.arange(8) % 10
    whole_optimizer = st.optim.Adam(model.parameters())
    F.cross_entropy(model(st.tensor(x)), st.tensor(y)).backward()
    whole_optimizer.step()
    whole = held_bytes(model, whole_optimizer)

    def fn(comm):
        sharded = dist.shard(model, comm)
        optimizer = st.optim.Adam(sharded.parameters())
        F.cross_entropy(sharded(st.tensor(x)), st.tensor(y)).backward()
        optimizer.step()
        return held_bytes(sharded), held_bytes(sharded, optimizer)
    for params, with_state in run_threads(fn, world_size):
        assert params <= 1.05 * held_bytes(model) / world_size  # only the row layers' biases are whole copies
        assert with_state <= 1.05 * whole / world_size
        assert with_state >= 0.95 * whole / world_size


@pytest.mark.parametrize("world_size", [2, 3])
def test_split_output_with_parallel_cross_entropy_equals_the_gathered_loss(world_size, rng):
    model = _mlp()[:6]  # Flatten and three Linear layers: the last one is unpaired
    x, y = _batch("mlp", rng)
    model.zero_grad()
    expected_loss = F.cross_entropy(model(st.tensor(x)), st.tensor(y))
    expected_loss.backward()

    def fn(comm):
        sharded = dist.shard(model, comm, split_output=True)
        logits = sharded(st.tensor(x))
        loss = parallel_cross_entropy(logits, st.tensor(y), comm)
        loss.backward()
        return float(loss.item()), logits.numpy(), sharded, {k: p.grad.numpy() for k, p in sharded.named_parameters()}
    ranks = run_threads(fn, world_size)
    assert isinstance(ranks[0][2][-1], ColumnParallelLinear) and not ranks[0][2][-1].gather_output
    np.testing.assert_allclose(np.concatenate([logits for _, logits, _, _ in ranks], axis=1),
                               model(st.tensor(x)).numpy(), atol=1e-12)
    splits = split_parameters(ranks[0][2])
    for loss, _, _, _ in ranks:
        assert loss == pytest.approx(float(expected_loss.item()), abs=1e-12)
    for name, p in model.named_parameters():
        pieces = [grads[name] for _, _, _, grads in ranks]
        joined = splits[name].join(pieces) if name in splits else pieces[0]
        np.testing.assert_allclose(joined, p.grad.numpy(), atol=1e-12, err_msg=name)


def test_split_output_needs_an_unpaired_last_linear():
    with pytest.raises(ValueError, match="split_output=True, but this chain's output is whole"):
        run_threads(lambda comm: dist.shard(_mlp(), comm, split_output=True), 2)


def test_parallel_cross_entropy_passes_gradcheck_and_names_bad_targets(rng):
    logits = st.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    target = st.tensor(np.array([0, 4, 2, 4]))

    def fn(comm):
        assert st.autograd.gradcheck(lambda z: parallel_cross_entropy(z, target, comm), [logits])
        with pytest.raises(IndexError, match="target 5 is out of range for 5 classes"):
            parallel_cross_entropy(logits, st.tensor(np.array([0, 5, 1, 1])), comm)
        return True
    assert run_threads(fn, 1) == [True]
