"""``engine.run_gang``: gangs of ranks as threads, as processes, and as one Spark barrier stage."""
import os
import threading
import time

import numpy as np
import pytest

import sparktensor.dist as dist
from sparktensor.dist.engines.gang import GangError
from sparktensor.dist.engines.spark_gang import check_gang_fits


def _sum_of_ranks(comm, x):
    """Every rank contributes ``x * (rank + 1)``; returns the all-reduce and what the rank saw of the gang."""
    return comm.all_reduce(x * (comm.rank + 1)), comm.rank, comm.world_size


def _expected(x, world_size):
    return sum(x * (rank + 1) for rank in range(world_size))


def _rank_1_fails(comm):
    if comm.rank == 1:
        raise ZeroDivisionError("rank one divided by zero")
    return comm.all_reduce(np.ones(4))


X = np.random.default_rng(0).standard_normal(1000)


# ----- LocalEngine -----
@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_local_gang_all_reduce_matches_numpy(mode):
    results = dist.LocalEngine().run_gang(_sum_of_ranks, 3, X, mode=mode, timeout=30)
    assert [r[1:] for r in results] == [(0, 3), (1, 3), (2, 3)]
    for total, _, _ in results:
        assert total.tobytes() == results[0][0].tobytes()
        np.testing.assert_allclose(total, _expected(X, 3), rtol=1e-12)


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_local_gang_reraises_the_failing_rank_and_names_it(mode):
    start = time.monotonic()
    with pytest.raises(ZeroDivisionError, match="rank one divided by zero") as info:
        dist.LocalEngine().run_gang(_rank_1_fails, 3, mode=mode, timeout=30)
    assert any("rank 1 of a gang of 3" in note for note in info.value.__notes__)
    assert time.monotonic() - start < 15  # the other ranks were released, not left to their 30 s timeout


def test_a_rank_failing_before_the_others_are_set_up_is_the_one_named(monkeypatch):
    """Rank 1 gets through the gang's set-up (a first collective) and fails while ranks 0 and 2 are still in it:
    they fail there because of it, and are not taken for ranks that died."""
    from sparktensor.dist.comm import nccl
    from sparktensor.dist.engines.local_gang import run_socket_threads
    attach, failed = nccl.attach_nccl, threading.Event()

    def attach_slowly(comm):
        attach(comm)
        if comm.rank != 1:
            assert failed.wait(60)
            comm.barrier()  # still in the set-up: rank 1 has given up

    def rank_1_fails_at_once(comm):
        if comm.rank == 1:
            failed.set()
            raise ZeroDivisionError("rank one divided by zero")
        return comm.rank

    monkeypatch.setattr(nccl, "attach_nccl", attach_slowly)
    with pytest.raises(ZeroDivisionError, match="rank one divided by zero") as info:
        run_socket_threads(rank_1_fails_at_once, 3, timeout=30)
    assert any("rank 1 of a gang of 3" in note for note in info.value.__notes__)


def test_a_rank_thread_that_starts_late_does_not_fail_the_socket_gang(monkeypatch):
    """The address exchange waits for a late rank longer than the gang's timeout, which bounds waiting once the
    ranks run."""
    from sparktensor.dist.engines import gang
    from sparktensor.dist.engines.local_gang import run_socket_threads
    listen, late = gang.open_listener, []

    def listen_late_once(host):
        if not late:
            late.append(host)
            time.sleep(2)  # as a thread held back on a busy machine
        return listen(host)

    monkeypatch.setattr(gang, "open_listener", listen_late_once)
    results = run_socket_threads(_sum_of_ranks, 2, X, timeout=0.5)
    assert late and [r[1:] for r in results] == [(0, 2), (1, 2)]


def test_local_gang_mode_is_checked():
    with pytest.raises(ValueError, match="unknown gang mode 'mpi'"):
        dist.LocalEngine().run_gang(_sum_of_ranks, 2, X, mode="mpi")


# ----- Spark -----
def test_spark_gang_all_reduce_across_tasks_matches_numpy(spark_engine):
    sc = spark_engine.sc
    sc.setJobGroup("callers-group", "the caller's own label")
    try:
        results = spark_engine.run_gang(_sum_of_ranks, 2, X, timeout=60)
        assert sc.getLocalProperty("spark.jobGroup.id") == "callers-group"  # the caller's group is given back
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
        sc.setLocalProperty("spark.job.description", None)
    assert [r[1:] for r in results] == [(0, 2), (1, 2)]
    assert results[0][0].tobytes() == results[1][0].tobytes()
    np.testing.assert_allclose(results[0][0], _expected(X, 2), rtol=1e-12)


def test_spark_gang_failing_rank_raises_on_the_driver_naming_it(spark_engine):
    start = time.monotonic()
    with pytest.raises(GangError, match=r"gang '_rank_1_fails': rank 1 of 2 failed: ZeroDivisionError: rank one "
                                        r"divided by zero") as info:
        spark_engine.run_gang(_rank_1_fails, 2, timeout=60)
    assert info.value.rank == 1 and not info.value.died
    assert "raise ZeroDivisionError" in info.value.remote_traceback
    assert time.monotonic() - start < 30  # rank 0 was released at once, not after its 60 s timeout


def _rank_1_dies_once(comm, marker):
    """Rank 1's process exits on the first launch (it leaves ``marker``), and works on the next."""
    comm.barrier()
    if comm.rank == 1 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(3)
    return comm.all_reduce(np.ones(2))


def test_spark_gang_whose_rank_dies_is_reported_and_relaunched(spark_engine, tmp_path):
    marker = str(tmp_path / "died-once")
    with pytest.raises(GangError, match="rank 1 of 2 failed in Spark: Python worker exited") as info:
        spark_engine.run_gang(_rank_1_dies_once, 2, marker, timeout=60)
    assert info.value.died and info.value.rank == 1
    os.remove(marker)
    results = spark_engine.run_gang(_rank_1_dies_once, 2, marker, timeout=60, attempts=2)
    np.testing.assert_array_equal(results, [[2.0, 2.0]] * 2)


def test_spark_gang_larger_than_the_task_slots_fails_before_launching(spark_engine):
    with pytest.raises(GangError, match=r"a gang of 3 ranks needs 3 task slots at once, but this Spark "
                                        r"application has 2 \(master local\[2,4\]"):
        spark_engine.run_gang(_sum_of_ranks, 3, X)


def test_a_gang_short_of_slots_on_a_cluster_waits_for_executors_to_register(spark):
    """On a cluster (not ``local[n]``) executors register after the application starts; a gang launched at once
    waits for slots as long as Spark waits for resources, then fails as before if they never come."""
    import time
    from sparktensor.dist.engines.spark_gang import _registration_wait, wait_for_task_slots
    sc = spark.sparkContext
    assert _registration_wait(sc) == 30.0  # spark.scheduler.maxRegisteredResourcesWaitingTime's default
    start = time.monotonic()
    assert wait_for_task_slots(sc, 2, 5.0) == 2 and time.monotonic() - start < 1.0  # there already
    start = time.monotonic()
    assert wait_for_task_slots(sc, 3, 0.6) == 2 and time.monotonic() - start >= 0.6  # waited, none came


def test_gang_preflight_refuses_dynamic_allocation_and_bad_sizes():
    with pytest.raises(GangError, match="spark.dynamicAllocation.enabled=false"):
        check_gang_fits(2, slots=8, dynamic_allocation="true")
    with pytest.raises(ValueError, match="world_size must be a positive int, got 0"):
        check_gang_fits(0, slots=8)
    check_gang_fits(8, slots=8)



def test_a_gang_that_cannot_be_pickled_fails_at_once_and_is_not_relaunched(spark):
    import threading
    lock = threading.Lock()
    with pytest.raises(Exception) as info:
        dist.SparkEngine(spark).run_gang(lambda comm: lock, 2, attempts=3)
    assert not isinstance(info.value, GangError)  # no rank ran: nothing to blame on a rank, nothing to retry
    assert "lock" in str(info.value)


def _bound_host(comm):
    return comm.transport._listener.getsockname()[0]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2"])
def test_a_rank_listens_only_on_the_address_it_advertises(host):
    from sparktensor.dist.engines.gang import new_key, run_rank
    report = run_rank(_bound_host, (), 0, new_key(), exchange=lambda address: [address], timeout=5, host=host)
    assert report == ("ok", host)  # not 0.0.0.0: the gang's port is not open on every interface


# ----- hung ranks: a deadline once the first rank is done -----
def _rank_1_hangs_before_the_collective(comm, marker=None):
    """Rank 1 never reaches the all-reduce (on the first launch only, when ``marker`` is given)."""
    if comm.rank == 1 and (marker is None or not os.path.exists(marker)):
        if marker is not None:
            open(marker, "w").close()
        time.sleep(600)
    return comm.all_reduce(np.ones(2))


def _rank_1_hangs_after_the_last_collective(comm):
    total = comm.all_reduce(np.ones(2))
    if comm.rank == 1:
        time.sleep(600)
    return total


@pytest.mark.parametrize("mode", ["threads", "processes"])
@pytest.mark.parametrize("fn, first", [(_rank_1_hangs_before_the_collective, "failed"),
                                       (_rank_1_hangs_after_the_last_collective, "returned")],
                         ids=["before-a-collective", "after-the-last-collective"])
def test_local_gang_names_the_hung_rank_not_the_waiting_one(mode, fn, first):
    start = time.monotonic()
    with pytest.raises(GangError, match=rf"rank 1 of 2 hung: still running 2 s after rank 0 {first}; killed") as info:
        dist.LocalEngine().run_gang(fn, 2, mode=mode, timeout=2)
    assert info.value.hung and not info.value.died and info.value.rank == 1 and info.value.ranks == [1]
    assert time.monotonic() - start < 30  # rank 0's 2 s wait, then 2 s for rank 1; not its 600 s sleep


def test_socket_thread_gang_names_the_hung_rank():
    from sparktensor.dist.engines.local_gang import run_socket_threads
    # ranks 0 and 2 both return; whichever of them finishes first starts rank 1's deadline
    with pytest.raises(GangError, match=r"rank 1 of 3 hung: still running 2 s after rank [02] returned") as info:
        run_socket_threads(_rank_1_hangs_after_the_last_collective, 3, timeout=2)
    assert info.value.ranks == [1]


def test_spark_gang_names_the_hung_rank_kills_it_and_relaunches(spark_engine, tmp_path):
    start = time.monotonic()
    with pytest.raises(GangError, match=r"gang '_rank_1_hangs_after_the_last_collective': rank 1 of 2 hung: still "
                                        r"running 3 s after rank 0 returned; killed") as info:
        spark_engine.run_gang(_rank_1_hangs_after_the_last_collective, 2, timeout=3)
    assert info.value.hung and info.value.rank == 1
    assert time.monotonic() - start < 60
    with pytest.raises(GangError, match=r"rank 1 of 2 hung: still running 3 s after rank 0 returned") as info:
        spark_engine.run_gang(_rank_1_hangs_before_the_collective, 2, timeout=3)  # rank 0 timed out: not blamed
    marker = str(tmp_path / "hung-once")
    results = spark_engine.run_gang(_rank_1_hangs_before_the_collective, 2, marker, timeout=3, attempts=2)
    np.testing.assert_array_equal(results, [[2.0, 2.0]] * 2)  # the relaunched gang, rank 1 no longer hanging
