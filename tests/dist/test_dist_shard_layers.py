"""The pieces of model parallelism: the four communication functions, Split, each sharded layer, and Mesh."""
import importlib
import pickle

import numpy as np
import pytest
import torch

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn as nn
from sparktensor.autograd import gradcheck
from sparktensor.dist.comm import run_threads
from sparktensor.dist.sharding import (ChannelParallelConv, ColumnParallelLinear, ParallelLSTM, RowParallelLinear, Split,
                                    VocabParallelEmbedding, bounds, copy_to_parallel, gather_from_parallel,
                                    reduce_from_parallel, scatter_to_parallel)


# ----- Split and bounds -----
def test_bounds_cut_as_array_split_does():
    for size, world in [(10, 3), (7, 4), (3, 4), (8, 2)]:
        expected = np.array_split(np.arange(size), world)
        for rank in range(world):
            start, stop = bounds(size, rank, world)
            np.testing.assert_array_equal(np.arange(size)[start:stop], expected[rank])


@pytest.mark.parametrize("split, shape", [(Split(0), (7, 3)), (Split(1, unit=4), (2, 12, 5)),
                                          (Split(0, groups=4), (4 * 5, 3)), (Split(-1, groups=2, unit=3), (2, 18))])
def test_split_pieces_join_back_and_gather_collectively(split, shape, rng):
    full = rng.standard_normal(shape)
    pieces = [split.take(full, rank, 3) for rank in range(3)]
    np.testing.assert_array_equal(split.join(pieces), full)
    gathered = run_threads(lambda comm: split.gather(split.take(full, comm.rank, 3), comm), 3)
    for whole in gathered:
        np.testing.assert_array_equal(whole, full)


def test_split_by_gates_keeps_each_rank_s_rows_of_every_gate():
    full = np.arange(4 * 6)[:, None]  # 4 gates of 6 units
    piece = Split(0, groups=4).take(full, 1, 2)
    assert piece[:, 0].tolist() == [3, 4, 5, 9, 10, 11, 15, 16, 17, 21, 22, 23]
    with pytest.raises(ValueError, match="does not hold 4 block"):
        Split(0, groups=4).take(np.zeros((6, 2)), 0, 2)


# ----- the four communication functions -----
def _exchange(op, world_size, shapes, replicated_input=False, replicated_gradient=False):
    """Run ``op`` on every rank with random inputs and cotangents; returns per rank (x, y, u, gx)."""
    def fn(comm):
        rank_rng = np.random.default_rng(0 if replicated_input else 10 + comm.rank)
        x = st.tensor(rank_rng.standard_normal(shapes(comm.rank)), requires_grad=True)
        y = op(x, comm)
        u = np.random.default_rng(1 if replicated_gradient else 20 + comm.rank).standard_normal(y.shape)
        y.backward(st.tensor(u))
        return x.numpy(), y.numpy(), u, x.grad.numpy()
    return run_threads(fn, world_size)


def test_copy_to_parallel_is_identity_forward_and_sums_gradients_backward():
    ranks = _exchange(copy_to_parallel, 3, lambda r: (2, 5), replicated_input=True)
    total = sum(u for _, _, u, _ in ranks)
    for x, y, u, gx in ranks:
        np.testing.assert_array_equal(y, x)
        np.testing.assert_allclose(gx, total, atol=1e-14)
    # adjoint: the input is one array read by every rank
    x = ranks[0][0]
    assert sum((y * u).sum() for _, y, u, _ in ranks) == pytest.approx((x * ranks[0][3]).sum())


def test_reduce_from_parallel_sums_forward_and_passes_gradients_backward():
    ranks = _exchange(reduce_from_parallel, 3, lambda r: (4,), replicated_gradient=True)
    total = sum(x for x, _, _, _ in ranks)
    for x, y, u, gx in ranks:
        np.testing.assert_allclose(y, total, atol=1e-14)
        np.testing.assert_array_equal(gx, u)
    y, u = ranks[0][1], ranks[0][2]
    assert (y * u).sum() == pytest.approx(sum((x * gx).sum() for x, _, _, gx in ranks))


def test_gather_from_parallel_concatenates_uneven_pieces_and_slices_gradients_back():
    sizes = [3, 3, 2]  # np.array_split of 8 over 3 ranks
    ranks = _exchange(lambda x, comm: gather_from_parallel(x, comm, axis=1), 3, lambda r: (2, sizes[r]),
                      replicated_gradient=True)
    whole = np.concatenate([x for x, _, _, _ in ranks], axis=1)
    for rank, (x, y, u, gx) in enumerate(ranks):
        np.testing.assert_array_equal(y, whole)
        np.testing.assert_array_equal(gx, np.array_split(u, 3, axis=1)[rank])
    y, u = ranks[0][1], ranks[0][2]
    assert (y * u).sum() == pytest.approx(sum((x * gx).sum() for x, _, _, gx in ranks))


def test_scatter_to_parallel_takes_own_slice_and_gathers_gradients_back():
    ranks = _exchange(lambda x, comm: scatter_to_parallel(x, comm, axis=-1), 3, lambda r: (2, 8),
                      replicated_input=True)
    gradient = np.concatenate([u for _, _, u, _ in ranks], axis=-1)
    for rank, (x, y, u, gx) in enumerate(ranks):
        np.testing.assert_array_equal(y, np.array_split(x, 3, axis=-1)[rank])
        np.testing.assert_array_equal(gx, gradient)


def test_gather_from_parallel_refuses_pieces_not_cut_as_array_split():
    def fn(comm):
        return gather_from_parallel(st.tensor(np.zeros((2, [1, 3][comm.rank]))), comm)
    with pytest.raises(Exception, match=r"rank \d holds \d entries along axis 1, but cutting the gathered 4"):
        run_threads(fn, 2)


# ----- each layer on one rank: a float64 gradient check of its own math -----
def _on_one_rank(fn):
    return run_threads(fn, 1)[0]


def _gradcheck_layer(layer, inputs):
    """Check the gradients of the layer's inputs and parameters (put in its parameter table as inputs)."""
    names = [name for name, p in layer._parameters.items() if p is not None]

    def f(*args):
        layer._parameters.update(zip(names, args[len(inputs):]))
        return layer(*args[:len(inputs)])
    params = [st.tensor(layer._parameters[name].data.copy(), requires_grad=True) for name in names]
    return gradcheck(f, list(inputs) + params)


def test_linear_layers_pass_gradcheck(rng):
    def fn(comm):
        st.manual_seed(0)
        column = ColumnParallelLinear(4, 3, comm, dtype="float64")
        row = RowParallelLinear(3, 2, comm, dtype="float64")
        x = st.tensor(rng.standard_normal((5, 4)), requires_grad=True)
        _gradcheck_layer(column, [x])
        _gradcheck_layer(row, [st.tensor(rng.standard_normal((5, 3)), requires_grad=True)])
        return column, row
    column, row = _on_one_rank(fn)
    assert np.abs(column.weight.numpy()).max() <= 0.5 and np.abs(row.bias.numpy()).max() <= 1 / np.sqrt(3)


def test_channel_parallel_conv_and_vocab_embedding_pass_gradcheck(rng):
    def fn(comm):
        st.manual_seed(0)
        conv = ChannelParallelConv(nn.Conv2d(2, 3, 3, padding=1).double(), comm)
        _gradcheck_layer(conv, [st.tensor(rng.standard_normal((2, 2, 4, 4)), requires_grad=True)])
        embedding = VocabParallelEmbedding(nn.Embedding(6, 3, padding_idx=1).double(), comm)
        out = embedding(st.tensor(np.array([[0, 1, 5], [5, 2, 1]])))
        out.backward(st.tensor(np.ones(out.shape)))
        return embedding.weight.grad.numpy()
    grad = _on_one_rank(fn)
    assert grad[:, 0].tolist() == [1, 0, 1, 0, 0, 2]  # the padding row gets none, a repeated row twice


def test_parallel_lstm_function_passes_gradcheck_with_initial_states(rng):
    def fn(comm):
        st.manual_seed(0)
        lstm = ParallelLSTM(nn.LSTM(3, 4, bidirectional=True).double(), comm)
        x = st.tensor(rng.standard_normal((5, 2, 3)), requires_grad=True)
        h0 = st.tensor(rng.standard_normal((2, 2, 4)), requires_grad=True)
        c0 = st.tensor(rng.standard_normal((2, 2, 4)), requires_grad=True)
        return gradcheck(lambda a, b, c: (lambda out: (out[0], out[1][0], out[1][1]))(lstm(a, (b, c))),
                         [x, h0, c0])
    assert _on_one_rank(fn)


# ----- layers across ranks against PyTorch -----
def _torch_lstm(lstm):
    reference = torch.nn.LSTM(lstm.input_size, lstm.hidden_size, lstm.num_layers, batch_first=lstm.batch_first,
                              bidirectional=lstm.bidirectional).double()
    reference.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in lstm.state_dict().items()})
    return reference


@pytest.mark.parametrize("world_size", [2, 3])
def test_parallel_lstm_matches_torch_with_states_and_two_directions(world_size, rng):
    st.manual_seed(1)
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True).double()
    x, h0, c0 = rng.standard_normal((2, 6, 3)), rng.standard_normal((4, 2, 5)), rng.standard_normal((4, 2, 5))
    u = rng.standard_normal((2, 6, 10))
    tx, th0, tc0 = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    t_out, (t_h, t_c) = _torch_lstm(lstm)(tx, (th0, tc0))
    (t_out * torch.from_numpy(u)).sum().add(t_h.sum() + 2 * t_c.sum()).backward()

    def fn(comm):
        sharded = ParallelLSTM(lstm, comm)
        sx, sh0, sc0 = (st.tensor(a, requires_grad=True) for a in (x, h0, c0))
        out, (h, c) = sharded(sx, (sh0, sc0))
        ((out * st.tensor(u)).sum() + h.sum() + 2 * c.sum()).backward()
        return out.numpy(), h.numpy(), c.numpy(), sx.grad.numpy(), sh0.grad.numpy(), sc0.grad.numpy()
    for out, h, c, gx, gh0, gc0 in run_threads(fn, world_size):
        np.testing.assert_allclose(out, t_out.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(h, t_h.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(c, t_c.detach().numpy(), atol=1e-12)
        for got, expected in ((gx, tx), (gh0, th0), (gc0, tc0)):
            np.testing.assert_allclose(got, expected.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("world_size", [2, 3])
def test_parallel_lstm_on_a_packed_batch_matches_torch(world_size, rng):
    st.manual_seed(3)
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True).double()
    lengths = [2, 6, 1, 4]
    x, h0, c0 = rng.standard_normal((6, 4, 3)), rng.standard_normal((4, 4, 5)), rng.standard_normal((4, 4, 5))
    u = rng.standard_normal((sum(lengths), 10))
    tx, th0, tc0 = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    packed = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, enforce_sorted=False)
    t_out, (t_h, t_c) = _torch_lstm(lstm)(packed, (th0, tc0))
    (t_out.data * torch.from_numpy(u)).sum().add(t_h.sum() + 2 * t_c.sum()).backward()

    def fn(comm):
        sharded = ParallelLSTM(lstm, comm)
        sx, sh0, sc0 = (st.tensor(a, requires_grad=True) for a in (x, h0, c0))
        out, (h, c) = sharded(nn.utils.rnn.pack_padded_sequence(sx, lengths, enforce_sorted=False), (sh0, sc0))
        ((out.data * st.tensor(u)).sum() + h.sum() + 2 * c.sum()).backward()
        return out.data.numpy(), h.numpy(), c.numpy(), sx.grad.numpy(), sh0.grad.numpy(), sc0.grad.numpy()
    for out, h, c, gx, gh0, gc0 in run_threads(fn, world_size):
        np.testing.assert_allclose(out, t_out.data.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(h, t_h.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(c, t_c.detach().numpy(), atol=1e-12)
        for got, expected in ((gx, tx), (gh0, th0), (gc0, tc0)):
            np.testing.assert_allclose(got, expected.grad.numpy(), atol=1e-12)


def test_column_row_pair_matches_torch(rng):
    st.manual_seed(2)
    first, second = nn.Linear(6, 8).double(), nn.Linear(8, 3).double()
    x, u = rng.standard_normal((4, 6)), rng.standard_normal((4, 3))
    t_first, t_second = torch.nn.Linear(6, 8).double(), torch.nn.Linear(8, 3).double()
    for t, s in ((t_first, first), (t_second, second)):
        t.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in s.state_dict().items()})
    tx = torch.tensor(x, requires_grad=True)
    (t_second(torch.relu(t_first(tx))) * torch.from_numpy(u)).sum().backward()

    def fn(comm):
        column, row = ColumnParallelLinear.from_dense(first, comm), RowParallelLinear.from_dense(second, comm)
        sx = st.tensor(x, requires_grad=True)
        y = row(column(sx).relu())
        (y * st.tensor(u)).sum().backward()
        return y.numpy(), sx.grad.numpy(), column.weight.grad.numpy(), row.weight.grad.numpy(), row.bias.grad.numpy()
    ranks = run_threads(fn, 2)
    for y, gx, _, _, gb in ranks:
        np.testing.assert_allclose(gx, tx.grad.numpy(), atol=1e-12)
        np.testing.assert_allclose(gb, t_second.bias.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(np.concatenate([r[2] for r in ranks]), t_first.weight.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(np.concatenate([r[3] for r in ranks], axis=1), t_second.weight.grad.numpy(),
                               atol=1e-12)


def test_vocab_embedding_with_uneven_rows_and_a_padding_row(rng):
    st.manual_seed(3)
    table = nn.Embedding(5, 2, padding_idx=2).double()
    ids = np.array([[0, 2, 1], [4, 1, 0]])
    expected = table.weight.numpy()[ids]

    def fn(comm):
        sharded = VocabParallelEmbedding(table, comm)
        out = sharded(st.tensor(ids))
        out.backward(st.tensor(np.ones(out.shape)))
        return out.numpy(), sharded.weight.grad.numpy()
    ranks = run_threads(fn, 3)  # rows 0:2, 2:4, 4:5
    for out, _ in ranks:
        np.testing.assert_array_equal(out, expected)
    grads = np.concatenate([g for _, g in ranks])
    np.testing.assert_array_equal(grads[:, 0], [2, 2, 0, 0, 1])


# ----- errors name the problem -----
def test_sharded_layers_name_wrong_inputs():
    def fn(comm):
        st.manual_seed(0)
        row = RowParallelLinear.from_dense(nn.Linear(8, 2), comm)
        with pytest.raises(ValueError, match=r"expected this rank's slice of the input, \(\*, 4\) "
                                             r"\(features \d:\d of 8\), got shape \(3, 8\)"):
            row(st.tensor(np.zeros((3, 8), np.float32)))
        conv = ChannelParallelConv(nn.Conv2d(3, 4, 3), comm)
        with pytest.raises(ValueError, match="expected a 4-d input with 3 channels"):
            conv(st.tensor(np.zeros((1, 2, 5, 5), np.float32)))
        embedding = VocabParallelEmbedding(nn.Embedding(5, 2), comm)
        with pytest.raises(IndexError, match="index 5 is out of range for 5 embeddings"):
            embedding(st.tensor(np.array([5])))
        with pytest.raises(ValueError, match="1 rows cannot be split over 2 ranks"):
            VocabParallelEmbedding(nn.Embedding(1, 2), comm)
        with pytest.raises(ValueError, match="groups=1"):
            ChannelParallelConv(nn.Conv2d(4, 4, 3, groups=2), comm)
        return True
    assert all(run_threads(fn, 2))


# ----- Mesh -----
def test_mesh_ranks_and_groups():
    mesh = dist.Mesh(data=2, model=3)
    assert mesh.world_size == 6 and mesh.coords(4) == (1, 1) and mesh.rank_of(1, 2) == 5
    assert mesh.model_ranks(1) == [3, 4, 5] and mesh.data_ranks(2) == [2, 5]
    with pytest.raises(ValueError, match="model must be a positive integer"):
        dist.Mesh(2, 0)

    def fn(comm):
        bound = dist.Mesh(data=2, model=2).bind(comm)
        same = bound.model_comm.all_gather(np.array([comm.rank]))
        return (bound.data_rank, bound.model_rank, bound.model_comm.ranks, bound.data_comm.ranks, same.tolist(),
                pickle.loads(pickle.dumps(bound)))
    results = run_threads(fn, 4)
    assert [r[:5] for r in results] == [(0, 0, (0, 1), (0, 2), [0, 1]), (0, 1, (0, 1), (1, 3), [0, 1]),
                                        (1, 0, (2, 3), (0, 2), [2, 3]), (1, 1, (2, 3), (1, 3), [2, 3])]
    unpickled = results[0][5]
    assert unpickled == dist.Mesh(2, 2) and unpickled.comm is None
    with pytest.raises(ValueError, match="needs 4 ranks, the communicator has 3"):
        run_threads(lambda comm: dist.Mesh(2, 2).bind(comm), 3)


def test_dist_names_reach_the_sharding_package():
    package = importlib.import_module("sparktensor.dist.sharding")
    assert dist.Mesh is package.Mesh and dist.gather is package.gather and dist.shard is package.shard
    st.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    shares = run_threads(lambda comm: dist.shard(model, comm), 2)
    for share in shares:
        assert [type(m) for m in share] == [ColumnParallelLinear, nn.ReLU, RowParallelLinear]

@pytest.mark.parametrize("world_size", [2, 3])
def test_row_parallel_output_summed_in_blocks_equals_the_ordinary_pair(monkeypatch, world_size):
    """The row-parallel layer sums its output a block of rows at a time (each block's all-reduce beside the next
    block's product), the column-parallel one its input gradient beside the weight gradient: same values."""
    from sparktensor.dist.sharding import background, linear_ops
    monkeypatch.setattr(linear_ops, "ROW_BLOCK_BYTES", 1)  # 4 blocks of these few rows
    monkeypatch.setattr(background, "MIN_BYTES", 0)  # each summed on the background thread
    st.manual_seed(11)
    model = nn.Sequential(nn.Linear(6, 9), nn.Tanh(), nn.Linear(9, 5)).to(dtype=st.float64)
    x = np.random.default_rng(11).standard_normal((3, 7, 6))
    xt = st.tensor(x, requires_grad=True)
    y = model(xt)
    (y * y.sin()).sum().backward()

    def rank_main(comm):
        share = dist.shard(model, comm)
        assert isinstance(share[0], ColumnParallelLinear) and isinstance(share[2], RowParallelLinear)
        xs = st.tensor(x, requires_grad=True)
        ys = share(xs)
        (ys * ys.sin()).sum().backward()
        return ys.numpy(), xs.grad.numpy(), share[2].bias.grad.numpy(), share[0].weight.grad.numpy()

    for rank, (ys, gx, gb, gw) in enumerate(run_threads(rank_main, world_size)):
        np.testing.assert_allclose(ys, y.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gb, model[2].bias.grad.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gw, model[0].weight.grad.numpy()[slice(*bounds(9, rank, world_size))],
                                   rtol=1e-12, atol=1e-12)
