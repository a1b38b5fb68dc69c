"""``LocalEngine``: the engine interface in one process, partitions run one after another (the reference)."""
import os

from ..trainers import worker
from .base import Engine, Value, tree_fold
from ..data.resident import ResidentData


class LocalEngine(Engine):
    """Runs every partition's task in this process, in order; results match ``SparkEngine``'s.

    Args:
        workers: the default number of workers (partitions) for trainers; the number of CPUs by default.
    """

    def __init__(self, workers=None):
        self.workers = int(workers or os.cpu_count() or 1)

    def place(self, blocks):
        if isinstance(blocks, ResidentData):  # one process: the samples come here
            blocks = blocks.to_blocks()
        return list(blocks.blocks)

    def release(self, placed):
        pass

    def broadcast(self, value):
        return Value(value)

    def unbroadcast(self, handle):
        pass

    def ship(self, obj):
        # workers deep-copy it (see worker.replica), as a Spark worker unpickles its own copy
        return Value(obj)

    def forget(self, job_id):
        worker.forget(job_id)

    def map_reduce(self, placed, fn, args, combine):
        return tree_fold([(index, fn(index, block, *args)) for index, block in enumerate(placed)], combine)

    def run_gang(self, fn, world_size, *args, timeout=60.0, mode="threads"):
        """Ranks as threads over in-process queues (``mode="threads"``), or as processes connected by TCP
        over loopback (``mode="processes"``: the same rank body and transport as a Spark barrier stage).

        The failure of a rank is re-raised here with a note naming the rank.
        """
        if mode == "threads":
            from ..comm import run_threads
            return run_threads(fn, world_size, *args, timeout=timeout)
        if mode == "processes":
            from .local_gang import run_processes
            return run_processes(fn, world_size, *args, timeout=timeout)
        raise ValueError(f"unknown gang mode {mode!r}: expected 'threads' or 'processes'")

    def __repr__(self):
        return f"LocalEngine(workers={self.workers})"
