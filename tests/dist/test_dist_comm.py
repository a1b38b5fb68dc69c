"""Collectives of ``sparktensor.dist.comm`` against NumPy, for 1 to 4 ranks, over every transport.

Each test body is a module-level function ``fn(comm, ...)`` run on every rank by the ``gang`` fixture: threads
with the queue transport, and threads with the socket transport (real TCP connections over loopback).
"""
import threading
import time

import numpy as np
import pytest

from sparktensor.dist.comm import CommError, Communicator, run_threads
from sparktensor.dist.engines.local_gang import run_socket_threads

SHAPES = [(), (0,), (7,), (3, 5), (2, 0, 3)]
DTYPES = [np.float32, np.float64, np.int64]
OPS = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}


RUNNERS = {"queues": run_threads, "sockets": run_socket_threads}


@pytest.fixture(params=sorted(RUNNERS))
def gang(request):
    """``gang(fn, world_size, *args, timeout=...)``: ``fn(comm, *args)`` on every rank; results in rank order."""
    return RUNNERS[request.param]


def _inputs(world_size, shape, dtype, seed=0):
    """One array per rank; floats are not small integers, so a changed summation order changes the bits."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return [rng.standard_normal(shape).astype(dtype) * 10 ** rng.uniform(-3, 3) for _ in range(world_size)]
    return [rng.integers(-1000, 1000, shape).astype(dtype) for _ in range(world_size)]


def _assert_same_on_all_ranks(results):
    for rank, result in enumerate(results[1:], 1):
        assert result.shape == results[0].shape and result.dtype == results[0].dtype
        assert result.tobytes() == results[0].tobytes(), f"rank {rank} differs from rank 0"


def _assert_close(actual, expected):
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    if actual.dtype.kind == "f":
        tol = 1e-5 if actual.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * np.abs(expected).max(initial=0))
    else:
        np.testing.assert_array_equal(actual, expected)


# ----- the rank bodies -----
def _all_reduce(comm, inputs, op):
    x = inputs[comm.rank]
    before = x.copy()
    result = comm.all_reduce(x, op)
    assert np.array_equal(x, before) and not np.shares_memory(result, x)
    return result


def _all_gather(comm, inputs, axis):
    return comm.all_gather(inputs[comm.rank], axis=axis)


def _reduce_scatter(comm, inputs, op, axis):
    return comm.reduce_scatter(inputs[comm.rank], op=op, axis=axis)


def _broadcast(comm, x, root):
    return comm.broadcast(x if comm.rank == root else None, root=root)


# ----- all_reduce -----
@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_all_reduce_sum_matches_numpy_and_is_bit_identical_on_all_ranks(gang, world_size, dtype, shape):
    inputs = _inputs(world_size, shape, dtype)
    results = gang(_all_reduce, world_size, inputs, "sum")
    _assert_same_on_all_ranks(results)
    _assert_close(results[0], np.sum(inputs, axis=0, dtype=dtype))


@pytest.mark.parametrize("world_size", [2, 3])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["mean", "max", "min"])
def test_all_reduce_mean_max_min_match_numpy(gang, world_size, dtype, op):
    inputs = _inputs(world_size, (4, 3), dtype, seed=1)
    results = gang(_all_reduce, world_size, inputs, op)
    _assert_same_on_all_ranks(results)
    _assert_close(results[0], OPS[op](np.stack(inputs), axis=0))


def test_all_reduce_of_a_large_buffer_sums_every_chunk(gang):
    inputs = _inputs(3, (1_000_003,), np.float64, seed=2)
    results = gang(_all_reduce, 3, inputs, "sum")
    _assert_same_on_all_ranks(results)
    _assert_close(results[2], inputs[0] + inputs[1] + inputs[2])


# ----- all_gather -----
def _uneven(comm, axis):
    rows = comm.rank + (1 if comm.rank != 1 else -1)  # 1, 0, 3, 4 ...: one rank sends an empty piece
    shape = [2, 3]
    shape[axis] = rows
    return comm.all_gather(np.full(shape, comm.rank, np.float32), axis=axis)


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_all_gather_concatenates_in_rank_order_with_uneven_sizes(gang, world_size, axis):
    results = gang(_uneven, world_size, axis)
    _assert_same_on_all_ranks(results)
    pieces = []
    for rank in range(world_size):
        shape = [2, 3]
        shape[axis] = rank + (1 if rank != 1 else -1)
        pieces.append(np.full(shape, rank, np.float32))
    np.testing.assert_array_equal(results[0], np.concatenate(pieces, axis=axis))


@pytest.mark.parametrize("dtype", DTYPES)
def test_all_gather_of_0d_arrays_stacks_them(gang, dtype):
    inputs = _inputs(3, (), dtype)
    results = gang(_all_gather, 3, inputs, 0)
    _assert_same_on_all_ranks(results)
    np.testing.assert_array_equal(results[0], np.stack(inputs))


def test_all_gather_rejects_pieces_that_differ_off_the_axis():
    inputs = [np.zeros((2, 3)), np.zeros((2, 4))]
    with pytest.raises(ValueError, match=r"rank \d passed shape \(2, [34]\).*only the size along the axis"):
        run_threads(_all_gather, 2, inputs, 0, timeout=10)


# ----- reduce_scatter -----
@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("op", ["sum", "mean", "max"])
def test_reduce_scatter_gives_each_rank_its_piece_of_the_reduction(gang, world_size, axis, op):
    inputs = _inputs(world_size, (5, 6), np.float64, seed=3)
    results = gang(_reduce_scatter, world_size, inputs, op, axis)
    expected = np.array_split(OPS[op](np.stack(inputs), axis=0), world_size, axis=axis)
    for rank in range(world_size):
        _assert_close(results[rank], expected[rank])


def test_reduce_scatter_pieces_concatenate_to_the_all_reduce(gang):
    inputs = _inputs(3, (10, 2), np.float32, seed=4)
    pieces = gang(_reduce_scatter, 3, inputs, "sum", 0)
    whole = gang(_all_reduce, 3, inputs, "sum")
    _assert_close(np.concatenate(pieces), whole[0])  # equal up to rounding: chunk boundaries differ


def test_reduce_scatter_rejects_a_0d_array():
    with pytest.raises(ValueError, match="0-d"):
        run_threads(_reduce_scatter, 2, [np.float64(1), np.float64(2)], "sum", 0, timeout=10)


# ----- broadcast -----
@pytest.mark.parametrize("world_size", [1, 2, 3, 5])
@pytest.mark.parametrize("shape", [(), (0,), (4, 3)])
def test_broadcast_from_every_root(gang, world_size, shape):
    x = _inputs(1, shape, np.float64)[0]
    for root in range(world_size):
        results = gang(_broadcast, world_size, x, root)
        for result in results:
            assert result.shape == x.shape and result.dtype == x.dtype and result.tobytes() == x.tobytes()
            assert not np.shares_memory(result, x)


# ----- point to point, barrier -----
def _pass_around(comm):
    """Each rank sends to the next; shapes and dtypes differ per rank; a collective in between on purpose."""
    right, left = (comm.rank + 1) % comm.world_size, (comm.rank - 1) % comm.world_size
    x = np.arange(comm.rank + 2, dtype=[np.int64, np.float32, np.float64][comm.rank % 3]).reshape(1, -1)
    comm.send(x, right)
    x[...] = 0  # the message is a copy: changing the array after send changes nothing
    total = comm.all_reduce(np.ones(1))  # messages of the collective and of send/recv do not mix
    return comm.recv(left), total


def test_send_recv_carry_shape_and_dtype_and_do_not_mix_with_collectives(gang):
    results = gang(_pass_around, 3)
    for rank, (got, total) in enumerate(results):
        left = (rank - 1) % 3
        expected = np.arange(left + 2, dtype=[np.int64, np.float32, np.float64][left % 3]).reshape(1, -1)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(total, [3.0])


def _wait_at_barrier(comm):
    time.sleep(0.1 * comm.rank)
    arrived = time.monotonic()
    comm.barrier()
    return arrived, time.monotonic()


@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_barrier_releases_no_rank_before_the_last_arrives(gang, world_size):
    times = gang(_wait_at_barrier, world_size)
    last_arrival = max(arrived for arrived, _ in times)
    assert all(left >= last_arrival for _, left in times)


# ----- groups -----
def _groups(comm):
    evens = comm.new_group([r for r in range(comm.world_size) if r % 2 == 0])
    odds = comm.new_group([r for r in range(comm.world_size) if r % 2 == 1][::-1])  # reversed: list order counts
    group = evens if comm.rank % 2 == 0 else odds
    assert (evens is None) == (comm.rank % 2 == 1) and (odds is None) == (comm.rank % 2 == 0)
    total = group.all_reduce(np.array([comm.rank], np.int64))
    gathered = group.all_gather(np.array([comm.rank], np.int64))
    pair = group.new_group([0]) if group.world_size > 1 else group  # a group of a group
    return group.rank, group.ranks, total, gathered, pair and pair.ranks


def test_new_group_runs_collectives_within_the_group(gang):
    results = gang(_groups, 4)
    for rank, (group_rank, ranks, total, gathered, pair) in enumerate(results):
        expected_ranks = (0, 2) if rank % 2 == 0 else (3, 1)
        assert ranks == expected_ranks and group_rank == expected_ranks.index(rank)
        np.testing.assert_array_equal(total, [sum(expected_ranks)])
        np.testing.assert_array_equal(gathered, expected_ranks)
        assert pair == ((expected_ranks[0],) if group_rank == 0 else None)


def _disagree(comm):
    return comm.new_group([0, 1] if comm.rank == 0 else [0, 2])


def test_new_group_with_different_lists_on_different_ranks_is_an_error():
    with pytest.raises(ValueError, match=r"new_group: rank \d passed \[0, [12]\]"):
        run_threads(_disagree, 3, timeout=10)


# ----- errors -----
def test_unknown_reduction_is_an_error_naming_it():
    with pytest.raises(ValueError, match="unknown reduction 'prod'"):
        run_threads(_all_reduce, 2, [np.ones(2)] * 2, "prod", timeout=10)


def test_object_arrays_are_refused():
    with pytest.raises(ValueError, match="dtype object"):
        run_threads(_all_reduce, 2, [np.array([None])] * 2, "sum", timeout=10)


def test_all_reduce_of_different_shapes_names_both_ranks(gang):
    inputs = [np.zeros(4), np.zeros(6)]
    with pytest.raises((ValueError, CommError), match=r"rank \d"):
        gang(_all_reduce, 2, inputs, "sum", timeout=10)


def _fail_on_rank_2(comm):
    if comm.rank == 2:
        raise KeyError("rank two's own problem")
    return comm.all_reduce(np.ones(3))


def test_a_failing_rank_releases_the_others_and_is_reported_with_its_rank(gang):
    start = time.monotonic()
    with pytest.raises(KeyError, match="rank two's own problem") as info:
        gang(_fail_on_rank_2, 4, timeout=30)
    assert time.monotonic() - start < 10  # the others did not wait for their 30 s timeout
    assert any("rank 2" in note for note in getattr(info.value, "__notes__", []))


def _rank_1_leaves(comm, rank_0_gave_up):
    if comm.rank == 0:
        try:
            return comm.recv(1)
        except CommError:
            rank_0_gave_up.set()
            raise
    rank_0_gave_up.wait(30)  # leaves only then, so the gang's deadline for a hung rank cannot fire first
    return None


def test_waiting_for_a_silent_peer_times_out_naming_it(gang):
    start = time.monotonic()
    with pytest.raises(CommError, match="rank 1") as info:
        gang(_rank_1_leaves, 2, threading.Event(), timeout=0.5)
    assert time.monotonic() - start < 10
    assert "rank 0" in str(info.value)


def test_bad_ranks_are_errors_naming_them():
    with pytest.raises(ValueError, match="send destination 5 is not a rank of this group of 2"):
        run_threads(lambda comm: comm.send(np.ones(1), 5), 2, timeout=10)
    with pytest.raises(ValueError, match="broadcast root -1"):
        run_threads(lambda comm: comm.broadcast(np.ones(1), root=-1), 2, timeout=10)


# ----- bookkeeping -----
def _count_bytes(comm, n):
    comm.all_reduce(np.ones(n, np.float64))
    return comm.bytes_sent


@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_bytes_sent_is_the_ring_volume(gang, world_size):
    n = 12 * 1000
    sent = gang(_count_bytes, world_size, n)
    assert sent == [2 * (world_size - 1) * (n // world_size) * 8] * world_size


def test_run_threads_gives_each_rank_its_own_communicator():
    seen = run_threads(lambda comm: (comm.rank, comm.world_size, comm.ranks, threading.current_thread().name), 3)
    assert [s[:3] for s in seen] == [(r, 3, (0, 1, 2)) for r in range(3)]
    assert len({s[3] for s in seen}) == 3
    assert isinstance(run_threads(lambda comm: comm, 1)[0], Communicator)
