"""DaskEngine: pinned partitions, the fixed aggregation tree, the trainers bit for bit against the other
engines, and a worker killed in the middle of a round; the same for data kept on the workers by ``from_dask``,
whose lost blocks Dask computes again from their source.

One ``LocalCluster`` (2 worker processes, 1 thread each) serves the whole module.
"""
import functools
import os
import time

import numpy as np
import pytest

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn as nn
import sparktensor.nn.functional as F
from dist_helpers import digits, mlp, train_digits, weights
from sparktensor.dist.engines.dask import _Resident
from sparktensor.dist.engines.base import tree_fold
from sparktensor.dist.trainers import worker

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    from sparktensor.dist.engines.dask import local_cluster
    client, cluster = local_cluster(2)
    yield client
    client.close()
    cluster.close()


@pytest.fixture
def engine(client):
    engine = dist.DaskEngine(client)
    yield engine
    engine.close()
    assert client.status == "running", "closing the engine must leave a given client open"


# ----- task functions (module level: pickled by value for the workers) -----
def _bracket(a, b):
    return f"({a}+{b})"


def _describe_block(index, block, offset):
    x, _ = block
    return f"{index}:{len(x)}:{int(x.sum()) + offset.value}"


def _where_am_i(index, block):
    from distributed import get_worker
    return {index: get_worker().address}


def _merge(a, b):
    return {**a, **b}


def _crash_once(marker, partition, fn, index, block, *args):
    """Kill this worker process the first time partition ``partition`` runs (the marker file remembers it)."""
    if index == partition and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return fn(index, block, *args)


class _KillingEngine(dist.DaskEngine):
    """A DaskEngine whose ``train`` tasks of one round kill the worker of one partition on their first attempt."""

    def __init__(self, client, marker, round_index, partition):
        super().__init__(client)
        self.marker, self.round_index, self.partition, self.rounds = marker, round_index, partition, 0

    def map_reduce(self, placed, fn, args, combine):
        if fn is worker.train:
            if self.rounds == self.round_index:
                fn = functools.partial(_crash_once, self.marker, self.partition, fn)
            self.rounds += 1
        return super().map_reduce(placed, fn, args, combine)


# ----- the engine interface -----
@pytest.mark.parametrize("partitions", [2, 9])
def test_map_reduce_runs_every_partition_and_folds_in_a_fixed_tree(engine, partitions):
    x = np.arange(3 * partitions, dtype=np.float32).reshape(-1, 1)
    placed = engine.place(dist.from_numpy(x, np.zeros(len(x), np.int64), partitions=partitions))
    offset = engine.broadcast(100)
    try:
        result = engine.map_reduce(placed, _describe_block, (offset,), _bracket)
    finally:
        engine.unbroadcast(offset)
        engine.release(placed)
    pieces = [f"{i}:3:{int(x[3 * i:3 * i + 3].sum()) + 100}" for i in range(partitions)]
    assert result == tree_fold(list(enumerate(pieces)), _bracket)


def _scaled_sums(index, block):
    x, _ = block
    return (x.sum(axis=0) * np.float32(1.7) ** index).astype(np.float32)


def _add_into(a, b):
    """Adds into its first argument, as ``worker.combine`` does with the partial sums."""
    a += b
    return a


def test_float_sums_over_a_tree_of_combine_tasks_have_tree_folds_bits(engine):
    x = np.random.default_rng(0).standard_normal((900, 5)).astype(np.float32)
    blocks = dist.from_numpy(x, np.zeros(900, np.int64), partitions=9)  # a tree of 3 groups of 3, then the driver
    expected = tree_fold([(i, _scaled_sums(i, block)) for i, block in enumerate(blocks.blocks)], _add_into)
    placed = engine.place(blocks)
    try:
        results = [engine.map_reduce(placed, _scaled_sums, (), _add_into) for _ in range(2)]
    finally:
        engine.release(placed)
    for result in results:  # float32 sums: any other order of additions would change the last bits
        assert result.tobytes() == expected.tobytes()


def test_partitions_are_pinned_to_one_worker_each(engine, client):
    placed = engine.place(dist.from_numpy(np.ones((8, 1)), np.zeros(8, np.int64), partitions=4))
    try:
        first = engine.map_reduce(placed, _where_am_i, (), _merge)
        again = engine.map_reduce(placed, _where_am_i, (), _merge)
        holders = client.who_has([remote.future for remote in placed.remotes])
    finally:
        engine.release(placed)
    assert first == again, "a partition must run where it ran before"
    assert sorted(first.values()) == sorted(list(client.nthreads()) * 2)  # 2 partitions on each of 2 workers
    for i, remote in enumerate(placed.remotes):
        assert holders[remote.key] == (first[i],), "a task runs where its partition's data lives"


def test_engine_reports_its_workers_and_rejects_bad_settings(engine):
    assert engine.workers == 2 and "workers=2" in repr(engine)
    assert dist.DaskEngine(engine.client, workers=3).workers == 3
    with pytest.raises(ValueError, match="workers must be a positive integer, got 0"):
        dist.DaskEngine(engine.client, workers=0)


# ----- the trainers -----
@pytest.fixture(scope="module")
def local_baseline():
    """Parameter averaging on the in-process engine: 4 rounds, seed 0."""
    model, _, history = train_digits(dist.LocalEngine(), seed=0, rounds=4)
    return weights(model), history


def test_parameter_averaging_matches_local_and_spark_bit_for_bit(engine, local_baseline, spark):
    model, _, history = train_digits(engine, seed=0, rounds=4)
    np.testing.assert_array_equal(weights(model), local_baseline[0])
    assert history["loss"] == local_baseline[1]["loss"]
    assert history["model_builds"] == [2, 0, 0, 0], "each worker process builds the model once per job"
    on_spark, _, _ = train_digits(dist.SparkEngine(spark), seed=0, rounds=4)
    np.testing.assert_array_equal(weights(model), weights(on_spark))


def _sync_sgd(engine):
    x, y = digits()
    model = mlp()
    optimizer = st.optim.Adam(model.parameters(), lr=1e-2)
    trainer = dist.SynchronousSGD(model, F.cross_entropy, optimizer, workers=2, batch_size=16, seed=3,
                                  engine=engine, progress=False)
    _, history = trainer.fit(dist.from_numpy(x[:600], y[:600], partitions=2), rounds=6,
                             eval_data=(x[1500:], y[1500:]), eval_every=3)
    return weights(model), history


def test_synchronous_sgd_matches_local_and_spark_bit_for_bit(engine, spark):
    on_dask, history = _sync_sgd(engine)
    on_local, local_history = _sync_sgd(dist.LocalEngine())
    np.testing.assert_array_equal(on_dask, on_local)
    assert history["accuracy"] == local_history["accuracy"] and history["accuracy"][-1] > 0.3
    on_spark, _ = _sync_sgd(dist.SparkEngine(spark))
    np.testing.assert_array_equal(on_dask, on_spark)


def _resident_digits(client, chunk=500):
    """The 1,500 training digits of ``train_digits`` as a Dask array in chunks of ``chunk``, kept on the workers."""
    import dask.array as da
    x, y = digits()
    return dist.from_dask(da.from_array(x[:1500], chunks=(chunk, 64)), da.from_array(y[:1500], chunks=chunk),
                          client=client)


def _train_resident(engine, data, rounds=4):
    """``train_digits`` on ``data`` instead of the arrays: the same model, optimizer and settings."""
    model = mlp()
    optimizer = st.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    trainer = dist.ParameterAveraging(model, F.cross_entropy, optimizer, workers=2, tau=3, batch_size=32, seed=0,
                                      engine=engine, progress=False)
    return trainer.fit(data, rounds=rounds)


def test_data_kept_on_the_workers_trains_to_the_bits_of_local_numpy_data(engine, client, local_baseline):
    data = _resident_digits(client)  # 3 chunks: the trainer repartitions them into 2 on the cluster
    try:
        model, history = _train_resident(engine, data)
    finally:
        data.release()
    np.testing.assert_array_equal(weights(model), local_baseline[0])
    assert history["loss"] == local_baseline[1]["loss"]


def test_tasks_run_where_resident_blocks_live(engine, client):
    data = _resident_digits(client, chunk=375).repartition(4)
    placed = engine.place(data)
    try:
        ran = engine.map_reduce(placed, _where_am_i, (), _merge)
        holders = client.who_has(data.futures)
    finally:
        engine.release(placed)
    assert all(isinstance(remote, _Resident) for remote in placed.remotes), "no copy kept on the client"
    assert [holders[f.key] for f in data.futures] == [(ran[i],) for i in range(4)]
    assert sorted(ran.values()) == sorted(list(client.nthreads()) * 2), "repartition spreads the blocks"
    assert [f.status for f in data.futures] == ["finished"] * 4, "releasing a placement keeps the data"


def test_resident_data_of_another_cluster_is_refused(engine):
    from distributed import Client
    with Client(processes=False, n_workers=1, dashboard_address=None, set_as_default=False) as other:
        data = dist.from_dask(__import__("dask.array").array.ones((4, 2), chunks=2), np.zeros(4), client=other)
        with pytest.raises(ValueError, match="live on the Dask cluster at .*this engine's is at"):
            engine.place(data)


def test_a_restarted_worker_s_blocks_are_read_again_from_parquet_with_the_same_bits(client, tmp_path):
    import dask.dataframe as dd
    import pandas as pd
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"a": rng.standard_normal(40), "b": rng.standard_normal(40),
                          "label": rng.integers(0, 3, 40)})
    frame.to_parquet(tmp_path / "table.parquet", row_group_size=10)
    data = dist.from_dask(dd.read_parquet(tmp_path / "table.parquet", split_row_groups=1), features=["a", "b"],
                          label="label", client=client)
    try:
        before = [(x.tobytes(), y.tobytes()) for x, y in data.to_blocks().blocks]
        holders = client.who_has(data.futures)
        lost = holders[data.futures[0].key][0]
        client.restart_workers([lost])
        client.wait_for_workers(2, timeout=120)
        after = [(x.tobytes(), y.tobytes()) for x, y in data.to_blocks().blocks]
        now = client.who_has(data.futures)[data.futures[0].key]
    finally:
        data.release()
    assert lost not in now, "block 0 should have been computed again on another worker"
    assert after == before


@pytest.mark.parametrize("source", ["numpy", "dask"])
def test_a_worker_killed_mid_round_changes_nothing(client, local_baseline, tmp_path, source):
    marker = str(tmp_path / "killed")
    engine = _KillingEngine(client, marker, round_index=1, partition=1)
    before = set(client.nthreads())
    data = _resident_digits(client) if source == "dask" else None
    try:
        if data is None:
            model, _, history = train_digits(engine, seed=0, rounds=4)
        else:
            model, history = _train_resident(engine, data)
    finally:
        engine.close()
        if data is not None:
            data.release()
    assert os.path.exists(marker), "the test hook should have killed a worker"
    np.testing.assert_array_equal(weights(model), local_baseline[0])
    assert history["loss"] == local_baseline[1]["loss"]
    client.wait_for_workers(2, timeout=120)  # the nanny starts a fresh worker process
    assert set(client.nthreads()) != before, "a worker process should have been replaced"


def test_a_started_cluster_is_closed_with_the_engine():
    with dist.DaskEngine(workers=1) as engine:
        assert engine.workers == 1 and len(engine.client.nthreads()) == 1
        model, _, _ = train_digits(engine, seed=0, rounds=1, workers=1)
        client = engine.client
    assert client.status == "closed"
    reference, _, _ = train_digits(dist.LocalEngine(), seed=0, rounds=1, workers=1)
    np.testing.assert_array_equal(weights(model), weights(reference))


# ----- gangs -----
X = np.random.default_rng(0).standard_normal(1000)


def _sum_of_ranks(comm, x, offset):
    """Every rank contributes ``x * (rank + 1) + offset``; returns the all-reduce and the rank's place."""
    return comm.all_reduce(x * (comm.rank + 1) + offset.value), comm.rank, comm.world_size


def _rank_1_fails(comm):
    if comm.rank == 1:
        raise ZeroDivisionError("rank one divided by zero")
    return comm.all_reduce(np.ones(4))


def test_gang_all_reduce_across_workers_matches_numpy(engine):
    offset = engine.broadcast(0.5)
    try:
        results = engine.run_gang(_sum_of_ranks, 2, X, offset, timeout=60)
    finally:
        engine.unbroadcast(offset)
    assert [r[1:] for r in results] == [(0, 2), (1, 2)]
    assert results[0][0].tobytes() == results[1][0].tobytes()
    np.testing.assert_allclose(results[0][0], X * 1 + X * 2 + 1.0, rtol=1e-12)


def test_gang_failing_rank_is_named_and_larger_gangs_are_refused(engine):
    from sparktensor.dist.engines.gang import GangError
    with pytest.raises(GangError, match=r"gang '_rank_1_fails': rank 1 of 2 failed: ZeroDivisionError: rank one "
                                        r"divided by zero") as info:
        engine.run_gang(_rank_1_fails, 2, timeout=60)
    assert info.value.rank == 1 and not info.value.died
    with pytest.raises(GangError, match="a gang of 3 ranks needs 3 Dask workers .* the cluster has 2"):
        engine.run_gang(_rank_1_fails, 3)


def _rank_1_dies_once(comm, marker):
    """Rank 1's worker process exits on the first launch (it leaves ``marker``); the next launch works."""
    comm.barrier()
    if comm.rank == 1 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(3)
    return comm.all_reduce(np.ones(2))


def test_gang_whose_rank_dies_is_launched_again(engine, client, tmp_path):
    marker = str(tmp_path / "died-once")
    before = set(client.nthreads())
    results = engine.run_gang(_rank_1_dies_once, 2, marker, timeout=60, attempts=2)
    assert os.path.exists(marker), "rank 1 should have died once"
    np.testing.assert_array_equal(results, [[2.0, 2.0]] * 2)
    assert set(client.nthreads()) != before


def _hybrid_weights(engine):
    """A 1 x 2 mesh (one replica split over two ranks) trained for 4 steps; its weights as one array."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 8))
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    st.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 2)).double()
    trainer = dist.HybridTrainer(model, F.cross_entropy, st.optim.Adam(model.parameters(), lr=0.01),
                                 mesh=dist.Mesh(1, 2), batch_size=8, seed=3, engine=engine)
    model, _ = trainer.fit(dist.from_numpy(x, y, partitions=1), rounds=4)
    return weights(model)


def test_hybrid_trainer_runs_its_gang_on_dask(engine):
    np.testing.assert_array_equal(_hybrid_weights(engine), _hybrid_weights(dist.LocalEngine()))


def _rank_1_hangs_once(comm, marker):
    """Rank 1 sleeps after the all-reduce on the first launch (it leaves ``marker``); the next launch works."""
    total = comm.all_reduce(np.ones(2))
    if comm.rank == 1 and not os.path.exists(marker):
        open(marker, "w").close()
        time.sleep(600)
    return total


def test_gang_whose_rank_hangs_is_named_its_worker_restarted_and_launched_again(engine, client, tmp_path):
    from sparktensor.dist.engines.gang import GangError
    marker = str(tmp_path / "hung-once")
    start = time.monotonic()
    with pytest.raises(GangError, match=r"gang '_rank_1_hangs_once': rank 1 of 2 hung: still running 3 s after "
                                        r"rank 0 returned; killed") as info:
        engine.run_gang(_rank_1_hangs_once, 2, marker, timeout=3)
    assert info.value.hung and info.value.rank == 1 and time.monotonic() - start < 60
    os.remove(marker)
    results = engine.run_gang(_rank_1_hangs_once, 2, marker, timeout=3, attempts=2)
    np.testing.assert_array_equal(results, [[2.0, 2.0]] * 2)


def test_a_worker_its_local_cluster_closes_while_it_restarts_is_started_again(engine, client, tmp_path):
    """A ``LocalCluster`` closes a nanny whose worker is still away ``lost-worker-timeout`` after it left (15 s
    by default): a worker killed twice in that time can be closed in its second restart. At 0 s every killed
    worker's nanny is closed at once; the engine starts the worker again and the next gang has both ranks."""
    import dask
    from sparktensor.dist.engines.gang import GangError
    marker = str(tmp_path / "hung-once")
    with dask.config.set({"distributed.deploy.lost-worker-timeout": 0}):
        with pytest.raises(GangError, match="rank 1 of 2 hung"):
            engine.run_gang(_rank_1_hangs_once, 2, marker, timeout=3)
        assert len(client.cluster.workers) == 2 and len(client.nthreads()) == 2
        np.testing.assert_array_equal(engine.run_gang(_rank_1_hangs_once, 2, marker, timeout=3), [[2.0, 2.0]] * 2)


class _LateArrival:
    """An argument that the first rank to unpickle it takes seconds over, as a rank on a freshly started worker
    process takes seconds to import the library before its task can begin."""

    def __init__(self, marker, client_pid):
        self.marker, self.client_pid = marker, client_pid

    def __reduce__(self):
        return _arrive, (self.marker, self.client_pid)


def _arrive(marker, client_pid):
    if os.getpid() != client_pid:  # on a worker (the scheduler, in the client's process, unpickles it too)
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))  # only the first rank here is late
            time.sleep(6)
        except FileExistsError:
            pass
    return _LateArrival(marker, client_pid)


def test_a_worker_whose_nanny_failed_to_start_is_started_again(engine, client):
    """A nanny whose start failed (the scheduler still held its name) stays in the cluster's table as if it ran;
    the engine counts it as missing, drops it and starts the worker again, so the next gang has both ranks."""
    cluster = client.cluster
    name = sorted(cluster.workers, key=str)[-1]
    client.sync(cluster.workers[name].close)  # closed but still listed, as a nanny that failed to start is
    assert cluster.workers[name].status.name == "closed"
    np.testing.assert_array_equal(engine.run_gang(_sum_of_ones, 2, None, timeout=5), [[2.0, 2.0]] * 2)
    assert cluster.workers[name].status.name == "running" and len(client.nthreads()) == 2


def _sum_of_ones(comm, late):
    return comm.all_reduce(np.ones(2))


def test_a_rank_that_starts_late_does_not_fail_the_gang_s_address_exchange(engine, tmp_path):
    """The others wait for its address longer than the gang's timeout, which bounds waiting once ranks run."""
    results = engine.run_gang(_sum_of_ones, 2, _LateArrival(str(tmp_path / "late"), os.getpid()), timeout=2)
    assert (tmp_path / "late").exists(), "a rank should have been late"
    np.testing.assert_array_equal(results, [[2.0, 2.0]] * 2)
