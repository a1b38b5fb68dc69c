"""The intra-op thread pool: blocks that cover a range, results in order, errors raised, thread counts set."""
import threading
import time

import numpy as np
import pytest

import sparktensor as st
from sparktensor import parallel


@pytest.fixture
def restore_threads():
    before = st.get_num_threads()
    yield
    st.set_num_threads(before)


@pytest.mark.parametrize("total", [1, 7, 100, 1 << 17, (1 << 18) + 3])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_blocks_cover_the_range_once_in_order(total, threads):
    parts = parallel.blocks(total, threads=threads)
    assert parts[0][0] == 0 and parts[-1][1] == total
    assert all(a < b for a, b in parts) and all(p[1] == q[0] for p, q in zip(parts, parts[1:]))
    assert len(parts) <= threads
    assert len(parts) == 1 or total // len(parts) >= parallel.MIN_PARALLEL_WORK // 2


def test_small_work_stays_on_the_calling_thread(restore_threads):
    st.set_num_threads(2)
    names = parallel.run_blocks(lambda a, b: threading.current_thread().name, 1000)
    assert names == [threading.current_thread().name]
    assert parallel.blocks(1000, work=1 << 20) == [(0, 500), (500, 1000)]  # work, not length, decides


def test_run_blocks_returns_results_in_order_and_fills_an_array(restore_threads):
    st.set_num_threads(3)
    x = np.arange(1 << 18, dtype=np.float64)
    out = np.empty_like(x)

    def job(a, b):
        np.multiply(x[a:b], 2.0, out=out[a:b])
        return a
    starts = parallel.run_blocks(job, x.size)
    assert starts == sorted(starts) and len(starts) == 3
    np.testing.assert_array_equal(out, 2 * x)


def test_an_error_in_a_block_is_raised_in_the_caller(restore_threads):
    st.set_num_threads(2)

    def job(a, b):
        if a > 0:
            raise ValueError(f"block at {a} failed")
        return a
    with pytest.raises(ValueError, match="block at"):
        parallel.run_blocks(job, 1 << 18)


def test_set_num_threads_sets_the_pool_and_blas_and_refuses_nonsense(restore_threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    st.set_num_threads(1)
    assert st.get_num_threads() == 1 and len(parallel.blocks(1 << 20)) == 1
    blas = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    assert blas and set(blas) == {1}
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="positive int"):
            st.set_num_threads(bad)


def _scaled_add(x, g, tmp, factor):
    np.multiply(g, factor, out=tmp)
    np.add(x, tmp, out=x)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_update_in_chunks_gives_the_whole_array_bits_for_any_cut(restore_threads, threads):
    st.set_num_threads(threads)
    rng = np.random.default_rng(0)
    shapes = [(300, 700), (7,), (), (3, 5), (200_001,)]
    xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    gs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    expected = [x + g * np.float32(0.1 * (i + 1)) for i, (x, g) in enumerate(zip(xs, gs))]
    items = [((x, g), (0.1 * (i + 1),)) for i, (x, g) in enumerate(zip(xs, gs))]
    parallel.update_in_chunks(_scaled_add, items, scratch=1, chunk=1000)
    for x, e in zip(xs, expected):
        np.testing.assert_array_equal(x, e)


def test_update_in_chunks_uses_the_threads_for_big_updates_only(restore_threads, monkeypatch):
    st.set_num_threads(2)
    names = []
    parallel.update_in_chunks(lambda x, tmp: names.append(threading.current_thread().name),
                              [((np.zeros(1 << 20, np.float32),), ())], scratch=1)
    assert set(names) == {threading.current_thread().name}  # below MIN_SHARED_WORK: the calling thread
    monkeypatch.setattr(parallel, "MIN_SHARED_WORK", 1 << 16)
    seen = set()

    def update(x, tmp):
        seen.add(threading.current_thread().name)
        time.sleep(0.005)  # a slow piece: the pool thread surely takes some of the others
        np.add(x, 1, out=x)
    x = np.zeros(1 << 20, np.float32)
    parallel.update_in_chunks(update, [((x,), ())], scratch=1)
    assert len(seen) == 2 and (x == 1).all()


def test_update_in_chunks_updates_strided_arrays_whole(restore_threads):
    st.set_num_threads(2)
    base = np.zeros((400, 400), np.float64)
    strided, g = base[:, ::2], np.ones((400, 200))
    shapes = []

    def update(x, g, tmp, factor):
        shapes.append(x.shape)
        _scaled_add(x, g, tmp, factor)
    parallel.update_in_chunks(update, [((strided, g), (2.0,))], scratch=1)
    assert shapes == [(400, 200)]
    assert (base[:, ::2] == 2).all() and (base[:, 1::2] == 0).all()


def test_limited_threads_caps_the_pool_and_restores_it(restore_threads):
    st.set_num_threads(2)
    with parallel.limited_threads(1):
        assert st.get_num_threads() == 1 and len(parallel.blocks(1 << 20)) == 1
    assert st.get_num_threads() == 2
    with pytest.raises(ValueError, match="positive int"):
        with parallel.limited_threads(0):
            pass


def test_task_threads_caps_the_pool_and_blas_and_restores_both(restore_threads):
    from threadpoolctl import threadpool_info
    st.set_num_threads(2)

    def blas_threads():
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}
    before = blas_threads()
    with parallel.task_threads(1):
        assert st.get_num_threads() == 1 and blas_threads() == {1}
    assert st.get_num_threads() == 2 and blas_threads() == before


@pytest.mark.parametrize("threads", [1, 2])
def test_map_flat_fills_the_output_in_blocks_or_whole(restore_threads, threads):
    st.set_num_threads(threads)
    rng = np.random.default_rng(1)
    for shape, order in (((600, 700), "C"), ((600, 700), "F"), ((10, 7), "C")):
        x, y = (np.asarray(rng.standard_normal(shape), order=order) for _ in range(2))
        seen = set()

        def add(out, a, b):
            seen.add(threading.current_thread().name)
            time.sleep(0.005)
            np.add(a, b, out=out)
        out = parallel.map_flat(add, np.empty_like(x), x, y)
        np.testing.assert_array_equal(out, x + y)
        # only a large C-contiguous job is split, and then over the threads
        assert len(seen) == (threads if x.size >= 2 * parallel.MIN_PARALLEL_WORK and order == "C" else 1)


def test_run_shared_never_waits_for_a_pool_thread_that_has_not_started(restore_threads, monkeypatch):
    st.set_num_threads(2)
    monkeypatch.setattr(parallel, "MIN_SHARED_WORK", 1 << 16)
    hold = threading.Event()
    blocker = parallel._executor().submit(hold.wait)  # the pool's only thread is busy elsewhere
    try:
        done = parallel.run_shared(lambda a, b: (a, b), 1 << 20)
    finally:
        hold.set()
        blocker.result()
    assert [a for a, _ in done] == sorted(a for a, _ in done) and done[0][0] == 0 and done[-1][1] == 1 << 20
    assert all(p[1] == q[0] for p, q in zip(done, done[1:])) and len(done) > 2


def test_an_empty_range_is_one_empty_block(restore_threads):
    st.set_num_threads(2)
    assert parallel.blocks(0) == [(0, 0)]
    assert parallel.run_blocks(lambda a, b: (a, b), 0) == [(0, 0)]
    assert parallel.run_shared(lambda a, b: (a, b), 0) == [(0, 0)]
    empty = np.zeros((0, 3), np.float32)
    parallel.update_in_chunks(lambda x, tmp: np.add(x, 1, out=x), [((empty,), ())], scratch=1)


def _threads_named(prefix):
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


def test_start_threads_starts_the_whole_pool_at_once(restore_threads):
    st.set_num_threads(3)  # a new pool: none of its threads started yet
    assert parallel._executor()._threads == set()
    parallel.start_threads()
    pool_threads = [t for t in parallel._executor()._threads if t.is_alive()]
    assert len(pool_threads) == 3


def test_a_communicator_s_background_worker_starts_on_request():
    from sparktensor.dist.sharding import background

    class Communicator:  # start_worker needs only an object that takes weak references
        pass
    comm = Communicator()
    before = len(_threads_named("sparktensor-collectives"))
    background.start_worker(comm)
    assert len(_threads_named("sparktensor-collectives")) == before + 1
    assert comm in background._workers


def test_the_frame_tagging_workers_start_on_request():
    from sparktensor.dist.comm import _gmac_pool
    _gmac_pool.start_workers()
    assert len(_threads_named("sparktensor-frame-tags")) == _gmac_pool._WORKERS


def test_a_forked_child_gets_a_pool_of_its_own(restore_threads):
    import multiprocessing
    st.set_num_threads(2)
    parallel.start_threads()  # the parent's pool threads exist; a forked child has none of them

    def child(queue):
        queue.put(parallel.run_blocks(lambda a, b: b - a, 1 << 18))
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=child, args=(queue,))
    process.start()
    process.join(30)
    alive = process.is_alive()
    if alive:
        process.kill()
    assert not alive, "the child's run_blocks waited on threads it does not have"
    assert queue.get(timeout=5) == [1 << 17, 1 << 17]


def test_two_threads_starting_the_pool_at_once_both_return(restore_threads):
    st.set_num_threads(2)
    both = threading.Barrier(2)

    def start():
        both.wait()
        parallel.start_threads()
    callers = [threading.Thread(target=start, daemon=True) for _ in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(20)
    assert not any(caller.is_alive() for caller in callers)
