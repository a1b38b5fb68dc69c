"""A task or rank that shares the machine's cores runs its BLAS and intra-op work on its own share of them."""
import os

import numpy as np

import sparktensor as st
import sparktensor.dist as dist


def _threads(*_):
    from threadpoolctl import threadpool_info
    return st.get_num_threads(), sorted({lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"})


def _task_threads(index, block):
    return [_threads()]


def test_a_spark_task_and_a_gang_rank_get_as_many_threads_as_their_cores(spark_engine):
    """Two tasks at once on local[2] get one thread each, not two that hand work to the other task's core."""
    placed = spark_engine.place(dist.from_numpy(np.zeros((4, 1)), np.zeros(4), partitions=2))
    try:
        assert spark_engine.map_reduce(placed, _task_threads, (), lambda a, b: a + b) == [(1, [1])] * 2
    finally:
        spark_engine.release(placed)
    assert spark_engine.run_gang(_rank_threads, 2) == [(1, [1])] * 2


def _rank_threads(comm):
    return _threads()


def test_the_ranks_of_a_process_gang_share_the_cores():
    cores = os.cpu_count()
    results = dist.LocalEngine().run_gang(_rank_threads, 2, mode="processes")
    share = max(1, cores // 2)
    assert results == [(share, [share])] * 2


def test_a_dask_task_gets_one_thread_and_gives_the_process_its_threads_back():
    from sparktensor.dist.engines.dask import _one_blas_thread
    before = _threads()
    with _one_blas_thread():
        assert _threads() == (1, [1])
    assert _threads() == before
