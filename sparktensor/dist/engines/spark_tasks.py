"""The executor side of ``SparkEngine``: the task of one partition, and the thread limit of a task."""
from ..data import block_files
from .base import Value


def _run_resident_task(fn, key, source, everything, args, outbox, rebuild, index, chunks):
    """Executor side: the task of block ``index`` from its local file; with ``rebuild``, the file is written
    first from the streamed ``chunks``. Without the file (and no rebuild), reports ``block_files.MISS``."""
    if rebuild:
        for stats in block_files.store_partition(key, source, index, chunks):
            if stats.error:
                raise ValueError(stats.error)
    else:
        for _ in chunks:  # none: read to the end so that Spark reuses this Python worker
            pass
    block = block_files.load_block(key, index)
    if block is None:
        return [(index, block_files.MISS)]
    return _run_task(fn, {index: Value(block)}, everything, args, outbox, index, ())


def _run_task(fn, handles, everything, args, outbox, index, iterator):
    """Executor side: the task of partition ``index`` (``everything`` is only referenced, see the module doc)."""
    with _task_threads():
        result = fn(index, handles[index].value, *args)
    if outbox is not None:
        from pyspark import TaskContext
        result = outbox.send(index, TaskContext.get().taskAttemptId(), result)
    return [(index, result)]


def _task_threads():
    """Limit BLAS and intra-op work to the task's cores (``spark.task.cpus``), so concurrent tasks do not
    oversubscribe the CPUs."""
    from pyspark import TaskContext

    from ...parallel import task_threads
    context = TaskContext.get()
    return task_threads(int(context.cpus()) if context is not None else 1)
