"""Sharded initialization: a rank makes only its slices of a deferred model, bit for bit those of the ordinary one."""
import pickle
import tracemalloc

import numpy as np
import pytest

import sparktensor as st
import sparktensor.dist as dist
from sparktensor import nn
from sparktensor.dist.comm import run_threads
from sparktensor.dist.sharding import ColumnParallelLinear, RowParallelLinear, split_parameters
from sparktensor.nn import init


class _Rank:
    """What ``shard`` reads of a communicator (it sends nothing while splitting)."""

    def __init__(self, rank, world_size):
        self.rank, self.world_size = rank, world_size

    def all_gather(self, *args, **kwargs):
        raise AssertionError("shard must not communicate")


def _models(dtype):
    return {
        "mlp": lambda: nn.Sequential(nn.Linear(37, 130, dtype=dtype), nn.ReLU(), nn.Linear(130, 11, dtype=dtype),
                                     nn.Tanh(), nn.Linear(11, 5, dtype=dtype)),
        "cnn": lambda: nn.Sequential(nn.Conv2d(3, 10, 3, dtype=dtype), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                     nn.Linear(10 * 3 * 3, 7, dtype=dtype)),
        "lstm": lambda: nn.LSTM(6, 23, num_layers=2, bidirectional=True, dtype=dtype),
        "embedding": lambda: nn.Sequential(nn.Embedding(41, 9, padding_idx=5, dtype=dtype),
                                           nn.LayerNorm(9, dtype=dtype), nn.Linear(9, 300, dtype=dtype)),
    }


def _ordinary_and_deferred(build, seed=11):
    st.manual_seed(seed)
    ordinary = build()
    st.manual_seed(seed)
    with init.deferred_init():
        deferred = build()
    return ordinary, deferred


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["mlp", "cnn", "lstm", "embedding"])
@pytest.mark.parametrize("world_size", [2, 3])
def test_each_rank_makes_the_slices_of_the_ordinary_init(name, dtype, world_size):
    ordinary, deferred = _ordinary_and_deferred(_models(dtype)[name])
    shipped = pickle.loads(pickle.dumps(deferred))  # as a rank receives it
    whole = ordinary.state_dict()
    for rank in range(world_size):
        share = dist.shard(shipped, _Rank(rank, world_size))
        splits = split_parameters(share)
        assert splits, "nothing was split"
        for key, t in share.state_dict().items():
            expected = splits[key].take(whole[key].data, rank, world_size) if key in splits else whole[key].data
            assert t.dtype == expected.dtype
            np.testing.assert_array_equal(t.data, expected, err_msg=f"{name} {key} rank {rank}")
            assert t.data.tobytes() == expected.tobytes()  # bit for bit, -0.0 and all
        st.manual_seed(0)  # the slices do not depend on the generator's state when shard runs


def test_deferred_model_takes_no_memory_pickles_small_and_refuses_to_compute():
    st.manual_seed(0)
    with init.deferred_init():
        model = nn.Sequential(nn.Linear(2000, 3000), nn.ReLU(), nn.Linear(3000, 10))
    assert sum(p.data.nbytes for p in model.parameters()) > 24e6  # its nominal size
    assert len(pickle.dumps(model)) < 5000
    assert init.is_deferred(model[0].weight) and "uniform" in repr(model[0].weight)
    with pytest.raises(RuntimeError, match="deferred_init"):
        model(st.randn(2, 2000))
    with pytest.raises(RuntimeError, match="deferred_init"):
        model[0].weight.sum()


def test_materialize_gives_the_ordinary_model_and_manual_seed_still_reproduces():
    build = _models(np.float32)["embedding"]
    ordinary, deferred = _ordinary_and_deferred(build, seed=4)
    st.manual_seed(4)
    again = build()
    init.materialize_(deferred)
    assert not init.is_deferred(deferred[0].weight)
    for key, t in ordinary.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[key].data, t.data)
        np.testing.assert_array_equal(deferred.state_dict()[key].data, t.data)
    assert np.all(ordinary[0].weight.data[5] == 0)  # the padding row, an assignment recorded in the recipe
    # the generator moves on as before: a second model differs
    assert not np.array_equal(build()[0].weight.data, ordinary[0].weight.data)


@pytest.mark.parametrize("initializer", [
    lambda t: init.xavier_normal_(t), lambda t: init.kaiming_uniform_(t, nonlinearity="relu"),
    lambda t: init.orthogonal_(t, 0.5), lambda t: init.constant_(t, 0.25), lambda t: init.normal_(t, 1.0, 2.0)])
def test_every_initializer_slices_like_its_whole(initializer):
    for axis in (0, 1):
        st.manual_seed(2)
        whole = initializer(nn.Parameter(st.empty(300, 257, dtype=np.float64)))
        st.manual_seed(2)
        with init.deferred_init():
            deferred = initializer(nn.Parameter(st.empty(300, 257, dtype=np.float64)))
        ranges = [(3, 70), (200, 257)]
        piece = init.materialize(deferred, axis, ranges)
        expected = np.concatenate([whole.data.take(np.arange(a, b), axis=axis) for a, b in ranges], axis=axis)
        np.testing.assert_array_equal(piece, expected)


def test_parallel_linear_constructors_make_the_slices_of_a_linear():
    for rank in range(3):
        comm = _Rank(rank, 3)
        st.manual_seed(5)
        dense = nn.Linear(40, 70)
        st.manual_seed(5)
        column = ColumnParallelLinear(40, 70, comm)
        st.manual_seed(5)
        row = RowParallelLinear(40, 70, comm)
        np.testing.assert_array_equal(column.weight.data, column.splits["weight"].take(dense.weight.data, rank, 3))
        np.testing.assert_array_equal(row.weight.data, row.splits["weight"].take(dense.weight.data, rank, 3))
        np.testing.assert_array_equal(row.bias.data, dense.bias.data)
        st.manual_seed(5)
        column.reset_parameters()
        np.testing.assert_array_equal(column.bias.data, column.splits["bias"].take(dense.bias.data, rank, 3))


def test_a_rank_never_holds_a_whole_weight_matrix():
    st.manual_seed(0)
    with init.deferred_init():
        model = nn.Sequential(nn.Linear(1000, 4000, dtype=np.float64), nn.ReLU(),
                              nn.Linear(4000, 1000, dtype=np.float64))
    shipped = pickle.dumps(model)
    matrix = 4000 * 1000 * 8
    tracemalloc.start()
    try:
        share = dist.shard(pickle.loads(shipped), _Rank(1, 4))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    held = sum(p.data.nbytes for p in share.parameters())
    assert held < 2 * matrix / 4 + 100_000
    assert peak < held + 3e6, f"sharding peaked at {peak / 1e6:.1f} MB for a share of {held / 1e6:.1f} MB"


def test_sharded_training_from_a_deferred_model_matches_the_ordinary_one():
    ordinary, deferred = _ordinary_and_deferred(_models(np.float64)["mlp"], seed=3)
    x = np.random.default_rng(0).standard_normal((8, 37))
    y = np.random.default_rng(1).integers(0, 5, 8)

    def step(comm, model):
        sharded = dist.shard(model, comm)
        nn.functional.cross_entropy(sharded(st.tensor(x)), st.tensor(y)).backward()
        return dist.gather(sharded), {k: p.grad.numpy() for k, p in sharded.named_parameters()}

    results = run_threads(step, 2, deferred)
    nn.functional.cross_entropy(ordinary(st.tensor(x)), st.tensor(y)).backward()
    gathered = results[0][0]
    for key, t in ordinary.state_dict().items():
        np.testing.assert_array_equal(gathered.state_dict()[key].data, t.data)
    np.testing.assert_allclose(results[0][1]["2.bias"], ordinary[2].bias.grad.numpy(), rtol=1e-10, atol=1e-12)


def _trainer_fit(model, tmp_path, mesh):
    optimizer = st.optim.Adam(model.parameters(), lr=0.01)
    trainer = dist.HybridTrainer(model, nn.functional.cross_entropy, optimizer, mesh=mesh, batch_size=8, seed=3,
                                 engine=dist.LocalEngine(), progress=False)
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((64, 37)).astype(np.float32), rng.integers(0, 5, 64)
    trained, history = trainer.fit(dist.from_numpy(x, y, partitions=mesh.data), rounds=3,
                                   checkpoint_dir=str(tmp_path))
    return trainer, trained


def test_hybrid_trainer_trains_a_deferred_model_as_the_ordinary_one(tmp_path):
    from sparktensor.dist.trainers import checkpoint as ckpt
    ordinary, deferred = _ordinary_and_deferred(_models(np.float32)["mlp"], seed=9)
    mesh = dist.Mesh(data=2, model=2)
    _, expected = _trainer_fit(ordinary, tmp_path / "ordinary", mesh)
    trainer, trained = _trainer_fit(deferred, tmp_path / "deferred", mesh)
    assert trained is deferred and not init.is_deferred(trained[0].weight)
    for key, t in expected.state_dict().items():
        np.testing.assert_array_equal(trained.state_dict()[key].data, t.data, err_msg=key)
    # each rank's memory came back
    assert [r["rank"] for r in trainer.rank_memory] == [0, 1, 2, 3]
    assert all(r["peak"] > 0 and r["share"] > 0 for r in trainer.rank_memory)
    # the ranks' last checkpoints are a sharded checkpoint: gathered to one file, loaded into an ordinary model
    files = sorted(str(p) for p in (tmp_path / "deferred").glob("rank-*/round-000003.safetensors"))
    assert len(files) == 4
    out = ckpt.gather_to_file(files, str(tmp_path / "whole.safetensors"))
    whole = st.load(out)
    again = _models(np.float32)["mlp"]()
    ckpt.load_shard(files, again)
    for key, t in trained.state_dict().items():
        np.testing.assert_array_equal(whole[key].data, t.data)
        np.testing.assert_array_equal(again.state_dict()[key].data, t.data)
