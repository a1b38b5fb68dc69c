"""Per-shard checkpoints: written per rank, loaded into a mesh of another size, gathered to one file by streaming."""
import pickle
import tracemalloc

import numpy as np
import pytest

import sparktensor as st
import sparktensor.dist as dist
from sparktensor import nn, optim
from sparktensor.dist.trainers import checkpoint as ckpt
from sparktensor.dist.comm import run_threads
from sparktensor.nn import init


def _net():
    return nn.Sequential(nn.Linear(12, 30), nn.ReLU(), nn.Linear(30, 9), nn.Tanh(), nn.Linear(9, 7),
                         nn.LayerNorm(7), nn.Linear(7, 4))


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((16, 12)).astype(np.float32), rng.integers(0, 4, 16)


def _train_and_save(comm, model, directory, steps=2):
    """On one rank: shard, a few Adam steps, save the share; returns the gathered model and optimizer state."""
    x, y = _data()
    sharded = dist.shard(model, comm)
    opt = optim.Adam(sharded.parameters(), lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(sharded(st.tensor(x)), st.tensor(y)).backward()
        opt.step()
    ckpt.save_shard(directory, sharded, opt)
    return dist.gather(sharded), _whole_moments(comm, sharded, opt)


def _whole_moments(comm, sharded, opt):
    """``{param key: whole exp_avg}``, gathered like the parameters."""
    splits = dist.sharding.split_parameters(sharded)
    out = {}
    for key, p in sharded.named_parameters():
        m = opt.state[p]["exp_avg"].numpy().copy()
        out[key] = splits[key].gather(m, comm) if key in splits else m
    return out


def _load_and_step(comm, model, directory):
    """On one rank of a mesh of another size: shard, load, one more step; returns the gathered state."""
    sharded = dist.shard(model, comm)
    opt = optim.Adam(sharded.parameters(), lr=0.01)
    ckpt.load_shard(directory, sharded, opt)
    loaded = dist.gather(sharded, state_dict=True)
    moments = _whole_moments(comm, sharded, opt)
    x, y = _data()
    opt.zero_grad()
    nn.functional.cross_entropy(sharded(st.tensor(x)), st.tensor(y)).backward()
    opt.step()
    return loaded, moments, dist.gather(sharded, state_dict=True)


def test_a_checkpoint_of_two_ranks_loads_at_one_and_four(tmp_path):
    st.manual_seed(1)
    model = _net()
    saved = run_threads(_train_and_save, 2, model, str(tmp_path))
    whole, moments = saved[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard-00000-of-00002.safetensors",
                                                          "shard-00001-of-00002.safetensors"]
    after = {}
    for world_size in (1, 4):
        results = run_threads(_load_and_step, world_size, model, str(tmp_path))
        loaded, loaded_moments, after[world_size] = results[0]
        for key, t in whole.state_dict().items():
            np.testing.assert_array_equal(loaded[key], t.data, err_msg=f"{key} at M={world_size}")
        for key, m in moments.items():
            np.testing.assert_array_equal(loaded_moments[key], m, err_msg=f"exp_avg of {key} at M={world_size}")
    # training on from the checkpoint: the same at M' = 1 and 4, up to the order of the partial sums
    for key, value in after[1].items():
        np.testing.assert_allclose(after[4][key], value, rtol=1e-5, atol=1e-6)
    # and into an ordinary model
    ordinary = _net()
    ckpt.load_shard(tmp_path, ordinary)
    for key, t in whole.state_dict().items():
        np.testing.assert_array_equal(ordinary.state_dict()[key].data, t.data)


def test_gather_to_file_writes_the_ordinary_state_dict(tmp_path):
    from safetensors.numpy import load_file
    st.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(2, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 4 * 4, 5))
    lstm = nn.LSTM(5, 7, bidirectional=True)
    for net in (model, lstm):
        directory = tmp_path / type(net).__name__
        shares = run_threads(lambda comm, m: ckpt.save_shard(str(directory), dist.shard(m, comm)), 3, net)
        assert len(shares) == 3
        out = ckpt.gather_to_file(directory, str(tmp_path / f"{type(net).__name__}.safetensors"))
        flat = load_file(out)  # the safetensors package's own reader
        ours = st.load(out)
        assert list(ours) == list(net.state_dict())  # state-dict order kept
        for key, t in net.state_dict().items():
            np.testing.assert_array_equal(flat[key], t.data)
            np.testing.assert_array_equal(ours[key].data, t.data)


class _Rank:
    def __init__(self, rank, world_size):
        self.rank, self.world_size = rank, world_size

    def all_gather(self, *args, **kwargs):
        raise AssertionError("no communication expected")


def test_gathering_streams_and_holds_about_a_block(tmp_path, monkeypatch):
    """A deferred 64 MB model saved by 4 ranks, each making only its share; gathering holds a block, not a shard."""
    st.manual_seed(3)
    with init.deferred_init():
        model = nn.Sequential(nn.Linear(1000, 4000, dtype=np.float64), nn.ReLU(),
                              nn.Linear(4000, 1000, dtype=np.float64))
    shipped = pickle.dumps(model)
    for rank in range(4):
        ckpt.save_shard(tmp_path / "shards", dist.shard(pickle.loads(shipped), _Rank(rank, 4)))
    monkeypatch.setattr(ckpt, "_BLOCK", 1 << 20)
    tracemalloc.start()
    try:
        out = ckpt.gather_to_file(tmp_path / "shards", str(tmp_path / "whole.safetensors"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    model_bytes, shard_bytes = 2 * 4000 * 1000 * 8, 2 * 4000 * 1000 * 8 // 4
    assert peak < 4 << 20, f"gathering a {model_bytes >> 20} MiB model peaked at {peak / 2**20:.1f} MiB"
    assert peak < shard_bytes / 4
    from safetensors import safe_open
    init.materialize_(model)
    with safe_open(out, framework="numpy") as f:
        for key, t in model.state_dict().items():
            np.testing.assert_array_equal(f.get_tensor(key), t.data)


def test_loading_reads_only_its_piece(tmp_path):
    st.manual_seed(4)
    with init.deferred_init():
        model = nn.Sequential(nn.Linear(500, 4000, dtype=np.float64), nn.ReLU(),
                              nn.Linear(4000, 500, dtype=np.float64))
    shipped = pickle.dumps(model)
    for rank in range(2):
        ckpt.save_shard(tmp_path, dist.shard(pickle.loads(shipped), _Rank(rank, 2)))
    share = dist.shard(pickle.loads(shipped), _Rank(3, 4))
    tracemalloc.start()
    try:
        ckpt.load_shard(tmp_path, share)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    held = sum(p.data.nbytes for p in share.parameters())
    assert peak < held + (9 << 20)  # its own piece, then a block at a time
    init.materialize_(model)
    for key, piece in share.state_dict().items():
        split = dist.sharding.split_parameters(share).get(key)
        expected = model.state_dict()[key].data if split is None else split.take(model.state_dict()[key].data, 3, 4)
        np.testing.assert_array_equal(piece.data, expected)


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="no shard files"):
        ckpt.gather_to_file(tmp_path, str(tmp_path / "x.safetensors"))
    st.manual_seed(0)
    net = _net()
    ckpt.save_shard(tmp_path, dist.shard(net, _Rank(0, 2)))
    with pytest.raises(ValueError, match=r"missing ranks \[1\]"):
        ckpt.load_shard(tmp_path, _net())
