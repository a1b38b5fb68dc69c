"""The driver channel: large arrays between the driver and tasks over authenticated TCP, no pickle of arrays."""
import pickle
import threading

import numpy as np
import pytest

from sparktensor.dist.comm import driver_channel
from sparktensor.dist.comm.driver_channel import DriverChannel, Outbox, Sent


@pytest.fixture
def channel():
    c = DriverChannel("127.0.0.1", timeout=10)
    yield c
    c.close()


def _as_task(handle):
    """What a task gets: the pickled handle, without the driver's array, and no array cached by a previous task."""
    driver_channel._FETCHED.clear()
    return pickle.loads(pickle.dumps(handle))


def test_a_task_fetches_the_published_array(channel, rng):
    array = rng.standard_normal(300_000).astype(np.float32)
    handle = channel.publish(array)
    assert handle.value is array  # on the driver: no transfer
    assert len(pickle.dumps(handle)) < 1000  # the handle, not the array, travels with the task
    fetched = _as_task(handle).value
    assert fetched.dtype == np.float32 and np.array_equal(fetched, array)


def test_a_withdrawn_array_cannot_be_fetched(channel, rng):
    handle = channel.publish(rng.standard_normal(10))
    channel.withdraw(handle)
    with pytest.raises((ConnectionError, EOFError, OSError)):
        _as_task(handle).value


def test_results_come_back_by_partition_and_attempt(channel, rng):
    outbox = channel.outbox(threshold=1024)
    big = {i: rng.standard_normal((4, 5000)) for i in range(3)}
    results = [None] * 3

    def task(index, attempt):
        result = {"sum": big[index] + attempt, "samples": index}
        results[index] = (index, pickle.loads(pickle.dumps(outbox.send(index, attempt, result))))

    threads = [threading.Thread(target=task, args=(i, 7)) for i in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert all(isinstance(r[1]["sum"], Sent) for r in results)
    collected = channel.collect(outbox, results)
    for index, result in collected:
        assert result["samples"] == index and np.array_equal(result["sum"], big[index] + 7)


def test_small_results_stay_in_the_task_result(channel):
    outbox = channel.outbox()
    result = {"sum": np.ones(10), "samples": 1}
    assert outbox.send(0, 0, result) is result


def test_a_retried_task_replaces_nothing_of_the_failed_attempt(channel, rng):
    outbox = channel.outbox(threshold=0)
    outbox.send(0, 1, {"sum": np.zeros(5)})  # the first attempt sent, then died before returning
    kept = outbox.send(0, 2, {"sum": np.arange(5.0)})
    [(_, result)] = channel.collect(outbox, [(0, kept)])
    assert np.array_equal(result["sum"], np.arange(5.0))
    assert not channel._received  # the failed attempt's array is dropped too


def test_arrays_arriving_after_the_job_are_dropped(channel):
    outbox = channel.outbox(threshold=0)
    kept = outbox.send(0, 1, {"sum": np.ones(4)})
    channel.collect(outbox, [(0, kept)])
    with pytest.raises((ConnectionError, PermissionError, EOFError)):  # the job's key is forgotten with it
        outbox.send(1, 5, {"sum": np.ones(4)})  # a straggling speculative attempt, after the driver moved on
    assert not channel._received


def test_a_key_lives_for_one_job_only(channel, rng):
    old = channel.publish(rng.standard_normal(10))
    channel.withdraw(old)
    new = channel.publish(rng.standard_normal(10))
    for number in (old.number, new.number):  # the old key, for the old job or claiming the new one
        stale = driver_channel.Fetch(channel.address, old.key, new.token, number=number)
        with pytest.raises((ConnectionError, PermissionError, EOFError)):
            _as_task(stale).value
    assert np.array_equal(_as_task(new).value, new.value)


def test_a_jobs_key_opens_only_that_jobs_arrays(channel, rng):
    first, second = channel.publish(rng.standard_normal(10)), channel.publish(rng.standard_normal(10))
    crossing = driver_channel.Fetch(channel.address, first.key, second.token, number=first.number)
    with pytest.raises((ConnectionError, PermissionError, EOFError)):
        _as_task(crossing).value
    outbox = channel.outbox(threshold=0)
    crossing = Outbox(channel.address, first.key, outbox.token, threshold=0, number=first.number)
    with pytest.raises((ConnectionError, PermissionError, EOFError)):
        crossing.send(0, 0, {"sum": np.ones(3)})
    assert not channel._received


def test_a_failed_job_leaves_nothing_behind(channel):
    outbox = channel.outbox(threshold=0)
    outbox.send(0, 1, {"sum": np.ones(4)})  # sent, then the job failed before collect
    channel.discard(outbox)
    assert not channel._received


def test_a_connection_without_the_key_is_refused(channel):
    wrong = Outbox(channel.address, b"x" * 32, channel.outbox().token, threshold=0)
    with pytest.raises((PermissionError, ConnectionError, EOFError)):
        wrong.send(0, 0, {"sum": np.ones(3)})
    assert not channel._received


def test_a_missing_array_is_named(channel):
    outbox = channel.outbox()
    with pytest.raises(RuntimeError, match="never received"):
        channel.collect(outbox, [(0, {"sum": Sent(0, 3, "sum")})])


# ----- through SparkEngine -----
from dist_helpers import train_digits, weights  # noqa: E402

import sparktensor.dist as dist  # noqa: E402


@pytest.fixture
def direct_engine(spark):
    """A SparkEngine that sends every weight buffer and result array over the driver channel."""
    engine = dist.SparkEngine(spark)
    engine.direct_threshold = engine.inline_threshold = 0  # none inside the job
    return engine


def test_training_over_the_channel_gives_the_bits_of_the_in_process_engine(direct_engine, spark):
    local, _, _ = train_digits(dist.LocalEngine(workers=2), rounds=3)
    direct, _, history = train_digits(direct_engine, rounds=3)
    broadcasting = dist.SparkEngine(spark, direct=False)
    broadcasting.inline_threshold = 0  # Spark broadcasts, made and destroyed each round
    through_spark, _, _ = train_digits(broadcasting, rounds=3)
    inline, _, _ = train_digits(dist.SparkEngine(spark), rounds=3)  # the default: small buffers in the job
    np.testing.assert_array_equal(weights(direct), weights(local))
    np.testing.assert_array_equal(weights(through_spark), weights(local))
    np.testing.assert_array_equal(weights(inline), weights(local))
    assert direct_engine._channel is not None and not direct_engine._channel._published  # withdrawn after use
    assert not direct_engine._channel._received


def test_a_crashed_task_retried_over_the_channel_gives_the_same_bits(direct_engine):
    baseline, _, _ = train_digits(dist.LocalEngine(workers=2), rounds=3)
    crashed, _, _ = train_digits(direct_engine, rounds=3, crash=(1, 0))
    np.testing.assert_array_equal(weights(crashed), weights(baseline))
