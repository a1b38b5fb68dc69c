"""``DataLoader(num_workers=n)``: batches made in ``n`` worker processes, handed back in order.

Each worker holds its own copy of the data set (forked, or pickled under the ``spawn`` start method) and gets
jobs round-robin; at most ``prefetch_factor`` jobs per worker are out at once. A worker seeds Python's
``random``, NumPy's global generator and ``st.random.default_generator`` from ``base_seed + id`` (``base_seed``
drawn from the loader's generator whenever the workers start: every epoch, or once with ``persistent_workers``),
runs ``worker_init_fn(id)``, and makes batches as the main process would. For an ``IterableDataset`` every worker iterates its own copy and makes whole batches of
it; ``get_worker_info()`` tells it which worker it is so that it can read its share. An exception in a worker is
raised again in the main process with the worker's traceback.
"""
import itertools
import multiprocessing
import pickle
import queue
import random as py_random
import sys
import traceback
from dataclasses import dataclass

import numpy as np

from .. import random
from .sampler import generator_stream

_POLL = 1.0  # seconds between checks that the workers are alive
_info = None


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker process knows of itself: ``id``, ``num_workers``, ``seed`` and its copy of ``dataset``."""

    id: int
    num_workers: int
    seed: int
    dataset: object


def get_worker_info():
    """The ``WorkerInfo`` of the DataLoader worker process calling it; None in the main process."""
    return _info


class _Exhausted:
    """A worker's answer when its copy of an iterable data set has no more batches."""


@dataclass(frozen=True)
class _Failed:
    """A worker's answer when making a batch raised: the error, kept until that batch's turn comes."""

    error: tuple


def _seed_everything(seed, worker_id):
    py_random.seed(seed)
    np.random.seed(np.random.SeedSequence([worker_id, seed]).generate_state(1)[0])
    random.default_generator.manual_seed(seed)


def _worker_loop(make_batch, dataset, jobs, results, info, worker_init_fn):
    """Answer jobs until told to stop (None): ``((epoch, task), batch, error)`` for each ``(epoch, task, indices)``;
    ``("epoch", e)`` starts epoch ``e`` (an iterable data set's stream anew)."""
    global _info
    _info = info
    _seed_everything(info.seed, info.id)
    stream = None
    try:
        if worker_init_fn is not None:
            worker_init_fn(info.id)
    except Exception as e:
        results.put(((None, None), None, _described(e, info.id, "worker_init_fn")))
        return
    while True:
        job = jobs.get()
        if job is None:
            return
        if job[0] == "epoch":
            stream = None
            continue
        epoch, task, indices = job
        task = (epoch, task)
        try:
            if indices is None:  # iterable data set: the next batch of this worker's stream
                stream = stream if stream is not None else iter(dataset)
                batch = make_batch(stream)
            else:
                batch = make_batch(indices)
            # pickled here, so that a batch that cannot be sent fails this job instead of the queue's thread
            results.put((task, pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL), None))
        except StopIteration:
            results.put((task, pickle.dumps(_Exhausted()), None))
        except Exception as e:
            results.put((task, None, _described(e, info.id, "a batch")))


def _described(error, worker_id, doing):
    """An exception as plain values: its class's module and name, and a message with the worker's traceback."""
    message = (f"Caught {type(error).__name__} in DataLoader worker process {worker_id} while making {doing}.\n"
               f"Original traceback:\n{traceback.format_exc()}")
    return type(error).__module__, type(error).__qualname__, message


def _raise(module, name, message):
    """Raise the worker's exception again, as its own class where that class can be found and built."""
    cls = sys.modules.get(module)
    for part in name.split("."):
        cls = getattr(cls, part, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            error = cls(message)
        except Exception:
            error = None
        if error is not None:
            raise error
    raise RuntimeError(message)


class WorkerPool:
    """``loader.num_workers`` started worker processes, their job queues and the one queue of their results."""

    def __init__(self, loader, make_batch):
        context = multiprocessing.get_context(loader.multiprocessing_context)
        n = loader.num_workers
        base_seed = int(generator_stream(loader.generator, "DataLoader").integers(0, 2 ** 62))
        self.results, self.inboxes, self.epoch = context.Queue(), [context.Queue() for _ in range(n)], 0
        self.workers = [context.Process(target=_worker_loop, daemon=True,
                                        args=(make_batch, loader.dataset, self.inboxes[i], self.results,
                                              WorkerInfo(i, n, base_seed + i, loader.dataset),
                                              loader.worker_init_fn))
                        for i in range(n)]
        for w in self.workers:
            w.start()

    def alive(self):
        """Whether every worker still runs."""
        return all(w.is_alive() for w in self.workers)

    def close(self):
        """Stop the workers (at once, if they do not stop within 5 s)."""
        for inbox in self.inboxes:
            inbox.put(None)
        for w in self.workers:
            w.join(timeout=5)
            if w.is_alive():
                w.terminate()


def batches_from_workers(loader, jobs_of_epoch, make_batch, pool=None):
    """The batches of one epoch, in order, made by ``loader.num_workers`` processes: those of ``pool`` (kept
    running afterwards), or of a pool started now and stopped at the end of the epoch.

    ``jobs_of_epoch`` yields the index lists of a map-style data set, or is None for an iterable one (each worker
    then makes batches of its own stream until it is exhausted).
    """
    own = pool is None
    pool = WorkerPool(loader, make_batch) if own else pool
    pool.epoch += 1
    for inbox in pool.inboxes:
        inbox.put(("epoch", pool.epoch))
    return _epoch(loader, pool, jobs_of_epoch, own)


def _epoch(loader, pool, jobs_of_epoch, own):
    try:
        yield from _in_order(loader, pool, jobs_of_epoch)
    finally:
        if own:
            pool.close()


def _in_order(loader, pool, jobs_of_epoch):
    workers, inboxes, results, epoch = pool.workers, pool.inboxes, pool.results, pool.epoch
    n, ahead = len(workers), (loader.prefetch_factor or 2) * len(workers)
    jobs = iter(jobs_of_epoch) if jobs_of_epoch is not None else None
    running = list(range(n))  # workers whose stream may still have batches
    sent, cursor, owner, ready = 0, 0, {}, {}

    def send():
        nonlocal sent, cursor
        indices = None if jobs is None else next(jobs, None)
        if (jobs is None and not running) or (jobs is not None and indices is None):
            return False
        worker = next(w for w in itertools.chain(range(cursor, n), range(cursor)) if w in running)
        cursor = (worker + 1) % n
        inboxes[worker].put((epoch, sent, indices))
        owner[sent] = worker
        sent += 1
        return True

    while len(owner) < ahead and send():
        pass
    for task in itertools.count():
        if task >= sent:
            return
        while task not in ready:
            (got_epoch, got), batch, error = _next_result(loader, workers, results)
            if got_epoch not in (epoch, None):
                continue  # left over from an epoch abandoned early
            if error is not None and got is None:  # worker_init_fn failed: no batch can come from that worker
                _raise(*error)
            ready[got] = _Failed(error) if error is not None else pickle.loads(batch)
        batch = ready.pop(task)
        if isinstance(batch, _Failed):  # raised in its turn, after every batch before it, as PyTorch does
            _raise(*batch.error)
        worker = owner.pop(task)
        if isinstance(batch, _Exhausted):
            if worker in running:
                running.remove(worker)
        else:
            yield batch
        while len(owner) < ahead and send():
            pass


def _next_result(loader, workers, results):
    waited = 0.0
    while True:
        try:
            return results.get(timeout=_POLL)
        except queue.Empty:
            waited += _POLL
            dead = [w for w in workers if not w.is_alive() and w.exitcode not in (0, None)]
            if dead:
                raise RuntimeError(f"DataLoader worker (pid {dead[0].pid}) exited unexpectedly with exit code "
                                   f"{dead[0].exitcode}") from None
            if loader.timeout and waited >= loader.timeout:
                raise RuntimeError(f"DataLoader timed out after {loader.timeout} seconds waiting for a batch "
                                   f"from its workers") from None
