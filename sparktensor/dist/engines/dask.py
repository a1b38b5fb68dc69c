"""``DaskEngine``: the engine interface on a Dask cluster (``distributed``), a given one or a ``LocalCluster``.

* Data from ``from_dask`` (``DaskResidentData``): the blocks already live on the workers as persisted futures
  (spread over the workers when placed); each task takes its block's future and is pinned to a worker that
  holds it. Nothing passes through the client.
* Data from ``from_numpy`` (``Blocks``): each partition is scattered once to one worker, its home (the worker
  with the fewest partitions, so round robin on a fresh cluster), and every task of that partition is pinned
  there, so rounds move only weights and results.
* Model: shipped once per job as cloudpickle bytes, broadcast to every worker; each worker process rebuilds it
  once and caches it (``worker.replica``), as Spark's reused Python workers do.
* Sums: the same tree as ``SparkEngine`` (``tree_shape`` levels of consecutive partitions, each group folded in
  partition order, the last fold on the driver), so all engines give the same bits.
* Failures: Dask reruns a task whose worker died. A resident block lost with its worker is computed again by
  Dask from its graph (the source), with the same bits. A scattered value has no such recipe: the engine
  scatters it again from the client's copy (weights, and ``Blocks`` the trainer holds in memory anyway) and
  resubmits the partitions Dask gave up on; a task's result depends only on its inputs, so the round's result
  is unchanged. Homes of scattered partitions move off dead workers and onto new ones at the next round.
* Threads: a task limits BLAS and intra-op work to one thread, and tasks of one worker process run one at a
  time (they share the cached model), so a worker with several threads is still correct.
"""
import copy
import functools
import logging
import math
import os
import threading
import time
import uuid

from ..trainers import worker
from .base import Engine, fold, tree_shape
from ..data.resident import ResidentData

log = logging.getLogger("sparktensor.dist")

ATTEMPTS = 4  # submissions of one partition's task before a lost-data failure is raised, as Spark's local[*,4]
WAIT_FOR_WORKERS = 120  # seconds to wait for a worker when the cluster has none
RESTART_AGAIN = 10  # seconds after which a closed worker that was asked to start but is still missing is asked again


class DaskEngine(Engine):
    """Train on Dask: ``client`` (a ``distributed.Client``), else a ``LocalCluster`` of worker processes.

    Args:
        client: the client of the cluster to use; it stays open when the engine closes.
        workers: worker processes of the ``LocalCluster`` started when no client is given (2 by default,
            one thread each), and the trainers' default number of partitions (default: the cluster's threads).
        depth: the depth of the aggregation tree.

    ``close()`` (or leaving a ``with`` block) shuts down a cluster the engine started. On a cluster of your
    own, start the workers without Dask's ``MALLOC_TRIM_THRESHOLD_`` (see ``local_cluster``): with it, training
    steps are much slower.
    """

    def __init__(self, client=None, workers=None, depth=2):
        if workers is not None and (isinstance(workers, bool) or int(workers) < 1):
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        self._cluster = None
        if client is None:
            client, self._cluster = local_cluster(int(workers or 2))
        self.client = client
        self._workers = None if workers is None else int(workers)
        self.depth = depth
        self._placed = []  # every placement alive, so homes can be balanced across them
        self._restarting = {}  # name -> when: workers the client's own cluster closed and was asked to start again

    @property
    def workers(self):
        """The ``workers`` given, else the threads of the cluster's workers."""
        return self._workers or max(1, sum(self.client.nthreads().values()))

    # ----- data and values -----
    def place(self, blocks):
        if isinstance(blocks, ResidentData):
            return self._place_resident(blocks)
        live = self._live_workers()
        load = self._load(live)
        homes = []
        for _ in blocks.blocks:
            homes.append(_lightest(live, load))
            load[homes[-1]] += 1
        remotes = [_Remote(block, home=home) for block, home in zip(blocks.blocks, homes)]
        self._scatter(remotes)
        placed = _Placed(remotes)
        self._placed.append(placed)
        return placed

    def _place_resident(self, data):
        """Blocks already on this cluster: the placement holds its own references to their futures."""
        from distributed import Future
        if data.kind != "dask":
            raise TypeError(f"DaskEngine cannot train on {data!r}, kept by a {data.kind} cluster; read the data with "
                            f"dist.from_dask on this engine's cluster")
        if data.client.scheduler.address != self.client.scheduler.address:
            raise ValueError(f"the data's blocks live on the Dask cluster at {data.client.scheduler.address}, this "
                             f"engine's is at {self.client.scheduler.address}; read them with "
                             f"from_dask(..., client=engine)")
        data.balance()
        placed = _Placed([_Resident(Future(f.key, self.client)) for f in data.futures])
        self._find_homes(placed.remotes)
        return placed

    def _find_homes(self, remotes, live=None):
        """Pin each resident block's tasks to a worker that holds it: Dask's own choice would sometimes copy
        the block to a worker that is idle sooner. A block being computed again has no home until it is kept."""
        homeless = [r for r in remotes if isinstance(r, _Resident) and (r.home is None or
                                                                      (live is not None and r.home not in live))]
        if homeless:
            holders = self.client.who_has([r.future for r in homeless])
            for remote in homeless:
                remote.home = min(holders.get(remote.key, ()), default=None)

    def release(self, placed):
        if placed in self._placed:
            self._placed.remove(placed)
        for remote in placed.remotes:
            remote.drop()

    def broadcast(self, value):
        remote = _Remote(value, home=None)
        self._scatter([remote])
        return remote

    def unbroadcast(self, handle):
        handle.drop()

    def ship(self, obj):
        import cloudpickle

        from .user_code import _by_value, _user_modules
        with _by_value(_user_modules(obj), cloudpickle):
            return self.broadcast(cloudpickle.dumps(obj))

    def forget(self, job_id):
        try:
            self.client.run(worker.forget, job_id)
        except Exception as e:  # a worker that is gone has nothing to forget
            log.debug("could not drop job %s from every Dask worker: %s", job_id, e)

    # ----- jobs -----
    def map_reduce(self, placed, fn, args, combine):
        import cloudpickle
        from distributed.client import FutureCancelledError

        from .user_code import _by_value, _user_modules
        needed = list(_remotes(args))
        self._rebalance()
        futures = [None] * len(placed.remotes)
        with _by_value(_user_modules(tuple(_functions((fn, combine)))), cloudpickle):
            for attempt in range(1, ATTEMPTS + 1):
                self._restore(placed.remotes + needed)
                self._find_homes(placed.remotes, set(self.client.nthreads()))
                keys = tuple(r.key for r in needed)
                for i, remote in enumerate(placed.remotes):
                    if futures[i] is None or futures[i].status != "finished":
                        futures[i] = self.client.submit(
                            _run_task, fn, i, remote.future, args, keys, *[r.future for r in needed],
                            key=f"{getattr(fn, '__name__', 'task')}-{uuid.uuid4().hex}-{i}",
                            pure=False, **_near(remote.home))
                indices, level = self._tree(futures, combine)
                try:
                    return fold(list(zip(indices, self.client.gather(level))), combine)
                except FutureCancelledError as e:
                    lost = [i for i, f in enumerate(futures) if f.status != "finished"]
                    if attempt == ATTEMPTS:
                        raise RuntimeError(f"Dask lost the tasks of partitions {lost} {ATTEMPTS} times: their "
                                           f"workers kept dying ({e})") from e
                    log.warning("Dask lost the tasks of partitions %s (%s); placing their data again, attempt %d of "
                                "%d", lost, e, attempt + 1, ATTEMPTS)

    def _tree(self, futures, combine):
        """``SparkEngine``'s tree down to its last level, as tasks: that level's indices and futures."""
        items = list(enumerate(futures))
        for scale in tree_shape(len(items), self.depth):
            groups = {}
            for index, future in items:
                groups.setdefault(index // scale, []).append(future)  # consecutive indices, in order
            items = [(key, self.client.submit(_fold_values, combine, *group, key=f"combine-{uuid.uuid4().hex}-{key}",
                                              pure=False))
                     for key, group in groups.items()]
        return [index for index, _ in items], [future for _, future in items]

    # ----- gangs -----
    def run_gang(self, fn, world_size, *args, timeout=60.0, name=None, attempts=1):
        """``fn(comm, *args)`` on ``world_size`` ranks, one task pinned to each of as many workers; the results
        in rank order.

        The ranks exchange their addresses through the scheduler (one ``distributed.Variable`` per rank) and
        then talk over direct authenticated TCP connections, as on Spark (``gang.run_rank``). Broadcast
        values among ``args`` reach every rank. A rank's exception is raised here as a ``GangError`` naming
        it; when a rank's worker dies the whole gang is launched again, up to ``attempts`` times.

        Args:
            name: the gang's name in errors (``fn``'s name by default).
            attempts: launches of the gang when a rank's worker dies.
        """
        from .gang import GangError
        if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
            raise ValueError(f"world_size must be a positive int, got {world_size!r}")
        live = self._live_workers()
        if world_size > len(live):
            raise GangError(f"a gang of {world_size} ranks needs {world_size} Dask workers (one rank each), but the "
                            f"cluster has {len(live)}; start more workers or use a smaller gang")
        name = name or getattr(fn, "__name__", "gang")
        from .gang import relaunching
        return relaunching(lambda: self._launch_gang(fn, world_size, args, timeout, name), name, attempts,
                           before_retry=lambda: self._wait_for_workers(world_size, max(timeout, WAIT_FOR_WORKERS)))

    def _launch_gang(self, fn, world_size, args, timeout, name):
        import cloudpickle
        from distributed import Variable

        from .gang import new_key, outcome
        from .user_code import _by_value, _user_modules
        gang = f"sparktensor-gang-{uuid.uuid4().hex[:12]}"
        needed = list(_remotes(args))
        self._restore(needed)
        keys = tuple(r.key for r in needed)
        homes = self._live_workers()[:world_size]
        job_key = new_key()
        with _by_value(_user_modules(tuple(_functions((fn,))) + tuple(args)), cloudpickle):
            futures = [self.client.submit(_gang_rank, fn, args, rank, job_key, world_size, timeout, gang, keys,
                                          *[r.future for r in needed], key=f"{gang}-rank-{rank}", workers=[home],
                                          allow_other_workers=False, pure=False)
                       for rank, home in enumerate(homes)]
        try:
            reports, hung = self._gang_reports(futures, homes, timeout)
        finally:
            for future in futures:
                future.cancel()
            for rank in range(world_size):
                Variable(f"{gang}-{rank}", client=self.client).delete()
        if hung is not None:  # a running task cannot be cancelled: its worker process exits, its nanny starts anew
            workers = len(self.client.nthreads())
            ended = [homes[rank] for rank in hung.ranks]
            self.client.run(_exit_process, workers=ended, on_error="ignore")
            self._wait_until_gone(ended)
            self._wait_for_workers(workers, WAIT_FOR_WORKERS)
        return outcome(reports, world_size, f"gang '{name}'", hung)

    def _wait_for_workers(self, count, timeout):
        """Wait until ``count`` workers run, starting again any worker that a cluster of this process closed."""
        from distributed.exceptions import WorkerStartTimeoutError
        stop_at = time.monotonic() + timeout
        while self._restart_closed_workers() or len(self.client.nthreads()) < count:
            if time.monotonic() > stop_at:
                raise WorkerStartTimeoutError(len(self.client.nthreads()), count, timeout)
            time.sleep(0.1)

    def _restart_closed_workers(self):
        """Start again the workers that the client's own cluster closed; whether there were any.

        A ``SpecCluster`` (``LocalCluster`` among them) closes a worker's nanny for good when no worker of its
        name is registered ``distributed.deploy.lost-worker-timeout`` (15 s) after that worker left. A worker
        killed twice within that time (a hung rank's, say) can be in its second restart just then, and its
        nanny is closed under it. Scaling the cluster to its own size starts the missing workers again. A start
        can fail in its turn (the scheduler may still hold the old worker's name: "name taken"), and the cluster
        then keeps the failed nanny as if it ran: a worker whose nanny failed or closed counts as missing, its
        nanny is dropped so that the cluster makes a new one, and it is asked for again ``RESTART_AGAIN`` seconds
        after the last ask if it is still missing.
        """
        cluster = getattr(self.client, "cluster", None)
        spec = getattr(cluster, "worker_spec", None)
        if spec is None or getattr(cluster.status, "name", None) != "running":
            return False
        now = time.monotonic()
        missing = {name for name in spec if _stopped(cluster.workers.get(name))}
        due = {name for name in missing if now - self._restarting.get(name, -math.inf) > RESTART_AGAIN}
        if due:  # the cluster starts them in the background
            log.warning("the Dask cluster closed worker(s) %s; starting them again", sorted(map(str, due)))
            for name in due:
                cluster.workers.pop(name, None)
            cluster.scale(len(spec))
        self._restarting = {name: now if name in due else self._restarting[name] for name in missing}
        return bool(missing)

    def _wait_until_gone(self, addresses, timeout=30.0):
        """Wait until the scheduler no longer lists the workers at ``addresses`` (whose processes just exited), so
        that counting the workers again waits for their replacements (a nanny's new worker has a new address)."""
        stop_at = time.monotonic() + timeout
        while set(addresses) & set(self.client.nthreads()) and time.monotonic() < stop_at:
            time.sleep(0.02)

    def _gang_reports(self, futures, homes, timeout):
        """``({rank: report}, hung_error or None)`` of the ranks that finished; a rank whose worker died has
        none, and ranks still running ``timeout`` seconds after the first rank finished are hung."""
        import traceback

        from .gang import hung_error
        reports, pending, checked = {}, dict(enumerate(futures)), time.monotonic()
        stop_at, first = None, None
        while pending:
            if stop_at is None and len(pending) < len(futures):
                done = min(set(range(len(futures))) - set(pending))
                stop_at, first = time.monotonic() + timeout, (done, done not in reports or reports[done][0] == "error")
            elif stop_at is not None and time.monotonic() > stop_at:
                return reports, hung_error(sorted(pending), len(futures), timeout, *first)
            for rank, future in list(pending.items()):
                if future.status == "finished":
                    reports[rank] = future.result()
                elif future.status == "error":  # raised outside fn, e.g. while exchanging addresses
                    text = "".join(traceback.format_tb(future.traceback()))
                    reports[rank] = ("error", future.exception(), text, False)
                elif future.status not in ("cancelled", "lost"):
                    continue
                del pending[rank]
            if pending and time.monotonic() - checked > 0.5:
                live, checked = set(self.client.nthreads()), time.monotonic()
                for rank in [r for r in pending if homes[r] not in live]:  # pinned there: it cannot run again
                    del pending[rank]
            time.sleep(0.02)
        return reports, None

    # ----- where things live -----
    def _live_workers(self):
        """The addresses of the cluster's workers, sorted (waiting for one when there is none yet)."""
        workers = self.client.nthreads()
        if not workers or self._restart_closed_workers():
            own_size = len(getattr(getattr(self.client, "cluster", None), "worker_spec", ()))
            self._wait_for_workers(max(1, own_size), WAIT_FOR_WORKERS)
            workers = self.client.nthreads()
        return sorted(workers)

    def _load(self, live):
        """Partitions (of every placement) per live worker."""
        load = {w: 0 for w in live}
        for placed in self._placed:
            for remote in placed.remotes:
                if remote.home in load:
                    load[remote.home] += 1
        return load

    def _scatter(self, remotes):
        """Send each value to its home (or to every worker), keeping its future."""
        for remote in remotes:
            workers = None if remote.home is None else [remote.home]
            remote.future = self.client.scatter([remote.driver_value], workers=workers, broadcast=remote.home is None,
                                                hash=False)[0]
            remote.key = remote.future.key

    def _restore(self, remotes):
        """Scatter again, from the driver's copy, the values whose every holder died."""
        lost = [r for r in remotes if isinstance(r, _Remote) and r.future is not None and r.future.status != "finished"]
        if lost:
            live = self._live_workers()
            load = self._load(live)
            for remote in lost:
                if remote.home is not None and remote.home not in load:
                    remote.home = _lightest(live, load)
                    load[remote.home] += 1
            self._scatter(lost)

    def _rebalance(self):
        """Move partitions off workers that are gone, and off crowded workers onto ones below their share."""
        if not self._placed:
            return
        live = self._live_workers()
        load = self._load(live)
        share = -(-sum(len(p.remotes) for p in self._placed) // len(live))
        moved = []
        for placed in self._placed:
            for remote in placed.remotes:
                light = _lightest(live, load)
                if remote.home not in load or (load[remote.home] > share and load[light] < share):
                    if remote.home in load:
                        load[remote.home] -= 1
                    remote.home = light
                    load[light] += 1
                    moved.append(remote)
        if moved:
            log.info("placing %d partition(s) on other Dask workers after the cluster changed", len(moved))
            self._scatter(moved)

    # ----- lifetime -----
    def close(self):
        """Release placed data; shut down the cluster this engine started (a given client stays open)."""
        for placed in list(self._placed):
            self.release(placed)
        if self._cluster is not None:
            self.client.close()
            self._cluster.close()
            self._cluster = None

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return f"DaskEngine(scheduler={self.client.scheduler.address!r}, workers={self.workers})"


def _stopped(nanny):
    """Whether a cluster's worker (its nanny) is gone: never made, closed, or failed to start."""
    return nanny is None or getattr(getattr(nanny, "status", None), "name", None) in ("failed", "closed")


def _exit_process():
    """Worker side: end the worker's process at once (its nanny starts a new one), e.g. under a hung task."""
    os._exit(1)


def local_cluster(workers):
    """A ``distributed.LocalCluster`` of ``workers`` processes, one thread each, quiet, and its client.

    Work stealing is off: it would move pinned partitions between workers. Dask's ``MALLOC_TRIM_THRESHOLD_``
    for workers is left unset: it makes glibc hand every freed block of more than 64 KiB back to the system,
    and a training step, which frees and allocates the same large arrays again and again, then spends its
    time in page faults (LeNet-5: 3.4 times the faults, 4 times the system time of a step).
    """
    import dask
    from distributed import Client, LocalCluster
    with dask.config.set({"distributed.scheduler.work-stealing": False,
                          "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        # no dashboard; its HTTP server (health checks) on a free port, not the shared 8787
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               scheduler_kwargs={"dashboard_address": ":0"}, silence_logs=logging.ERROR)
    return Client(cluster, set_as_default=False), cluster


class _Placed:
    __slots__ = ("remotes",)

    def __init__(self, remotes):
        self.remotes = remotes


class _Remote:
    """A value scattered to the workers: its future, its home (None: every worker) and the driver's copy.

    Pickled into a task it becomes a ``_Ref`` that finds the value among the task's inputs.
    """

    __slots__ = ("driver_value", "home", "future", "key")

    def __init__(self, value, home):
        self.driver_value, self.home, self.future, self.key = value, home, None, None

    @property
    def value(self):
        return self.driver_value

    def drop(self):
        if self.future is not None:
            self.future.release()
        self.driver_value = self.future = None

    def __reduce__(self):
        return _Ref, (self.key,)


class _Resident:
    """A block kept on the cluster by its graph (``from_dask``): Dask recomputes it when it is lost."""

    __slots__ = ("future", "key", "home")

    def __init__(self, future):
        self.future, self.key, self.home = future, future.key, None

    def drop(self):
        if self.future is not None:
            self.future.release()
        self.future = None


class _Ref:
    """Worker side of a ``_Remote``: ``.value`` is the task's input of that key."""

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key

    @property
    def value(self):
        try:
            return _inputs.values[self.key]
        except (AttributeError, KeyError):
            raise RuntimeError(f"the value {self.key} is read outside the task that received it") from None


def _remotes(obj):
    """The ``_Remote`` values in ``obj`` (nested in tuples, lists and dict values)."""
    if isinstance(obj, _Remote):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            yield from _remotes(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _remotes(item)


def _functions(obj):
    """The functions in ``obj``, ``functools.partial`` unwrapped, for pickling the user's modules by value."""
    for item in obj if isinstance(obj, (tuple, list)) else (obj,):
        while isinstance(item, functools.partial):
            yield from _functions(item.args)
            item = item.func
        if callable(item) and not isinstance(item, type):
            yield item


def _near(home):
    """``submit``'s placement for a task of a partition: its home (or anywhere, when it has none)."""
    return {} if home is None else {"workers": [home], "allow_other_workers": True}


def _lightest(live, load):
    """The live worker with the fewest partitions (the first such one)."""
    return min(live, key=lambda w: (load[w], live.index(w)))


# ----- worker side -----
_inputs = threading.local()
_one_at_a_time = threading.Lock()  # tasks of one process share the cached replica of the model


def _run_task(fn, index, block, args, keys, *values):
    """Worker side: partition ``index``'s task, with the broadcast values it reads by key."""
    with _one_at_a_time, _one_blas_thread():
        _inputs.values = dict(zip(keys, values))
        try:
            return fn(index, block, *args)
        finally:
            _inputs.values = {}


def _gang_rank(fn, args, rank, key, world_size, timeout, gang, keys, *values):
    """Worker side: one rank of a gang; addresses go through the scheduler, one ``Variable`` per rank."""
    from distributed import Variable, get_client, get_worker
    from distributed.comm import get_address_host

    from .gang import run_rank
    client = get_client()

    def exchange(address):
        # the wait for the others' addresses is not bounded by ``timeout``: a rank on a freshly started worker
        # process first imports the library (seconds on a busy machine); as on Spark, whose allGather has no
        # deadline, the client's deadline once a rank has finished ends a gang whose other ranks never start
        Variable(f"{gang}-{rank}", client=client).set(list(address))
        wait = max(timeout, WAIT_FOR_WORKERS)
        return [tuple(Variable(f"{gang}-{r}", client=client).get(timeout=wait)) for r in range(world_size)]

    _inputs.values = dict(zip(keys, values))
    try:
        with _one_blas_thread():
            return run_rank(fn, args, rank, key, exchange, timeout, get_address_host(get_worker().address))
    finally:
        _inputs.values = {}


def _one_blas_thread():
    """BLAS and intra-op work limited to the task's one thread, so concurrent workers do not oversubscribe the
    CPUs."""
    from ...parallel import task_threads
    return task_threads(1)


def _fold_values(combine, *values):
    """Worker side: one group of the aggregation tree, folded in partition order.

    ``combine`` may add into its first argument; that is a copy here, since the partial results stay in the
    worker's memory and a rerun of this task must find them as they were.
    """
    result = copy.deepcopy(values[0])
    for value in values[1:]:
        result = combine(result, value)
    return result
