"""Gangs over Spark Connect: one ``mapInArrow(..., barrier=True)`` stage of ``world_size`` tasks.

The same rank body as on classic Spark (``spark_gang._gang_task``: listen, one ``allGather`` of the addresses,
direct authenticated connections, ``run_rank``); only the launch differs: a barrier ``mapInArrow`` over
``spark.range(world_size)`` in ``world_size`` partitions, each rank's report pickled in a binary column. The
stage runs under a job tag, so a failed gang's other ranks are interrupted at once.
"""
import functools
import logging
import pickle
import uuid
from contextlib import nullcontext

from .gang import new_key, outcome, relaunching
from .spark_gang import _failure, _gang_task, check_gang_fits

log = logging.getLogger("sparktensor.dist")


def run_gang(spark, fn, world_size, args, slots, master="?", timeout=60.0, name=None, attempts=1, host=None,
             by_value=None):
    """Launch the gang through the Connect session ``spark``; the results in rank order (see ``spark_gang``)."""
    check_gang_fits(world_size, slots, master=master)
    name = name or getattr(fn, "__name__", "gang")
    by_value = by_value or nullcontext
    return relaunching(lambda: _launch(spark, fn, world_size, args, timeout, name, host, by_value), name, attempts)


def _launch(spark, fn, world_size, args, timeout, name, host, by_value):
    tag = f"sparktensor-gang-{uuid.uuid4().hex[:12]}"
    task = functools.partial(_rank_task, fn, args, new_key(), world_size, timeout, host)
    spark.addTag(tag)
    try:
        with by_value():  # the user's modules travel by value while the plan is pickled
            rows = (spark.range(0, world_size, 1, world_size)
                    .mapInArrow(task, "rank int, report binary", barrier=True).collect())
    except Exception as e:  # noqa: BLE001 - the server reports what happened on the executors
        _interrupt(spark, tag)
        if not type(e).__module__.startswith("pyspark.errors"):
            raise  # a client-side error (e.g. the function cannot be pickled): no rank failed, nothing to retry
        raise _failure(e, name, world_size) from None
    finally:
        spark.removeTag(tag)
    return outcome({row.rank: pickle.loads(row.report) for row in rows}, world_size, f"gang '{name}'")


def _interrupt(spark, tag):
    try:
        spark.interruptTag(tag)
    except Exception as e:  # noqa: BLE001 - the stage has usually ended already
        log.debug("could not interrupt %s: %s", tag, e)


def _rank_task(fn, args, key, world_size, timeout, host, batches):
    """Executor side: one rank of the barrier stage, its report as one row."""
    import pyarrow as pa
    for _ in batches:
        pass
    for rank, report in _gang_task(fn, args, key, world_size, timeout, host, iter(())):
        yield pa.RecordBatch.from_arrays([pa.array([rank], pa.int32()), pa.array([pickle.dumps(report)],
                                                                                  pa.binary())], ["rank", "report"])
