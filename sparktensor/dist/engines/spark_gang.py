"""Gangs on Spark: one barrier stage of ``world_size`` tasks, each running ``gang.run_rank``.

Each task opens its listening socket; one ``BarrierTaskContext.allGather`` (about 1 s) exchanges the
addresses; then the ranks talk over direct TCP connections authenticated with the job's key, made on the
driver with ``secrets`` and shipped inside the task closure (protect the closure itself with Spark's
``spark.authenticate`` and ``spark.network.crypto.enabled`` on a shared cluster).

Failures. A rank whose ``fn`` raises tells the others and then fails its task, so Spark aborts the stage
and kills the rest at once; ranks that fail only because another rank did (they raise ``CommError``)
finish their tasks quietly, so the task that fails first is the rank that caused it. So do ranks that
only timed out waiting for a peer: once a task has finished, the driver gives the others ``timeout`` seconds,
then cancels the stage and names the ranks still running as hung (``GangError.hung``). A barrier result
stage is not retried by Spark, so ``run_gang`` relaunches the whole gang itself when a rank's process
died or hung, up to ``attempts`` times; a rank's own exception is never retried.
"""
import functools
import json
import logging
import re
import time
import uuid

from contextlib import nullcontext

from .gang import GangError, hung_error, new_key, outcome, relaunching, run_rank

_MARK = "sparktensor gang rank failed"  # in the message a failing task raises, so the driver can quote it
_POLL = 0.5  # seconds between looks at the stage's tasks, for the deadline after the first rank finished
_REASONS = [r"Python worker exited unexpectedly[^\n.]*", r"[^\n]*[Kk]illed[^\n]*", r"Job aborted[^\n]*"]

log = logging.getLogger("sparktensor.dist")


def preflight(sc, world_size):
    """Check, before launching, that Spark can start all ``world_size`` tasks at once; clear errors otherwise.

    A cluster's executors register after the application starts, so a gang launched at once may find only some
    of them: short of slots, this waits for more as long as Spark itself waits for resources before it
    schedules (``spark.scheduler.maxRegisteredResourcesWaitingTime``, 30 s by default). ``local[n]`` has all
    its slots from the start.
    """
    conf = sc.getConf()
    check_gang_fits(world_size, slots_for(sc, world_size), master=sc.master,
                    task_cpus=conf.get("spark.task.cpus", "1"),
                    dynamic_allocation=conf.get("spark.dynamicAllocation.enabled", "false"))


def slots_for(sc, world_size):
    """``task_slots(sc)``, after waiting for executors to register when a cluster has fewer than ``world_size``
    (see ``preflight``)."""
    slots = task_slots(sc)
    if slots < world_size and not (sc.master == "local" or sc.master.startswith("local[")):
        slots = wait_for_task_slots(sc, world_size, _registration_wait(sc))
    return slots


def wait_for_task_slots(sc, world_size, seconds):
    """``task_slots(sc)`` once it reaches ``world_size``, or after ``seconds`` (logged), whichever comes first."""
    stop_at = time.monotonic() + seconds
    slots = task_slots(sc)
    if slots < world_size:
        log.info("a gang of %d ranks waits up to %.0f s for executors to register (%d task slots now)",
                 world_size, seconds, slots)
    while slots < world_size and time.monotonic() < stop_at:
        time.sleep(0.2)
        slots = task_slots(sc)
    return slots


def _registration_wait(sc):
    """Seconds of ``spark.scheduler.maxRegisteredResourcesWaitingTime`` (Spark's own parser; 30 s by default)."""
    text = sc.getConf().get("spark.scheduler.maxRegisteredResourcesWaitingTime", "30s")
    try:
        return sc._jvm.org.apache.spark.network.util.JavaUtils.timeStringAsMs(text) / 1000.0
    except Exception:  # noqa: BLE001 - no JVM at hand: Spark's default
        return 30.0


def check_gang_fits(world_size, slots, master="?", task_cpus="1", dynamic_allocation="false"):
    """Raise ``GangError`` unless a barrier stage of ``world_size`` tasks can start on ``slots`` task slots."""
    if not (isinstance(world_size, int) and not isinstance(world_size, bool) and world_size >= 1):
        raise ValueError(f"world_size must be a positive int, got {world_size!r}")
    if str(dynamic_allocation).lower() == "true":
        raise GangError("a gang runs as a Spark barrier stage, which does not work with dynamic allocation: "
                        "set spark.dynamicAllocation.enabled=false (and a fixed number of executors)")
    if world_size > slots:
        raise GangError(f"a gang of {world_size} ranks needs {world_size} task slots at once, but this Spark "
                        f"application has {slots} (master {master}, spark.task.cpus={task_cpus}); start Spark "
                        f"with more cores or executors, or use a smaller gang")


def task_slots(sc):
    """How many tasks Spark can run at once now (Spark's own count for barrier stages, or its parallelism)."""
    try:
        jsc = sc._jsc.sc()
        return int(jsc.maxNumConcurrentTasks(jsc.resourceProfileManager().defaultResourceProfile()))
    except Exception:  # noqa: BLE001 - an internal API; the default parallelism is the next best count
        return sc.defaultParallelism


def run_gang(sc, fn, world_size, args, timeout=60.0, name=None, attempts=1, host=None, by_value=None):
    """Launch the gang on ``sc`` and return the results in rank order (see the module doc).

    ``by_value()`` is a context manager under which the stage is pickled (``SparkEngine`` passes one that
    pickles the user's own modules by value).
    """
    preflight(sc, world_size)
    name = name or getattr(fn, "__name__", "gang")
    by_value = by_value or nullcontext
    return relaunching(lambda: _launch(sc, fn, world_size, args, timeout, name, host, by_value), name, attempts)


def _launch(sc, fn, world_size, args, timeout, name, host, by_value):
    group = f"sparktensor-gang-{uuid.uuid4().hex[:12]}"
    keys = ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel")
    saved = {k: sc.getLocalProperty(k) for k in keys}
    task = functools.partial(_gang_task, fn, args, new_key(), world_size, timeout, host)
    sc.setJobGroup(group, f"sparktensor gang '{name}': {world_size} ranks", interruptOnCancel=True)
    try:
        with by_value():  # the user's modules travel by value while the stage is pickled
            stage = sc.parallelize(range(world_size), world_size).barrier().mapPartitions(task)
            stage._jrdd  # noqa: B018 - pickles the stage here, under by_value
        rows, hung = _collect_with_deadline(sc, stage, group, world_size, timeout)
    except Exception as e:  # noqa: BLE001 - Py4J wraps whatever happened on the executors
        sc.cancelJobGroup(group)  # nothing of the gang may keep running
        from py4j.protocol import Py4JJavaError
        if not isinstance(e, Py4JJavaError):
            raise  # a driver-side error (e.g. the function cannot be pickled): no rank failed, nothing to retry
        raise _failure(e, name, world_size) from None
    finally:
        for k, v in saved.items():
            sc.setLocalProperty(k, v)
    if hung is not None:
        raise GangError(f"gang '{name}': {hung}", rank=hung.rank, hung=True, ranks=hung.ranks)
    return outcome(dict(rows), world_size, f"gang '{name}'")


def _collect_with_deadline(sc, stage, group, world_size, timeout):
    """``(rows, None)`` of the barrier stage; or, when tasks are still running ``timeout`` seconds after the
    first one finished, ``(None, hung_error)`` naming them, with the stage cancelled (which kills their
    Python workers). A task that fails aborts the stage at once, so only finished tasks start the clock."""
    from pyspark import InheritableThread  # keeps the job group of this thread
    answer = {}

    def collect():
        try:
            answer["rows"] = stage.collect()
        except BaseException as e:  # noqa: BLE001 - re-raised on the calling thread
            answer["error"] = e

    thread = InheritableThread(target=collect, daemon=True)
    thread.start()
    stop_at, first = None, None
    while thread.is_alive():
        thread.join(_POLL)
        if not thread.is_alive():
            break
        tasks = _tasks(sc, group)
        if stop_at is None:
            done = [rank for rank, status in tasks.items() if status == "SUCCESS"]
            if done:
                stop_at, first = time.monotonic() + timeout, done[0]
        elif time.monotonic() > stop_at:
            running = sorted(rank for rank, status in tasks.items() if status == "RUNNING")
            if running:
                sc.cancelJobGroup(group)
                thread.join()
                return None, hung_error(running, world_size, timeout, first, False)
    if "error" in answer:
        raise answer["error"]
    return answer["rows"], None


def _tasks(sc, group):
    """``{rank: status}`` of the tasks of the job group's stages, as Spark's status store has them now."""
    tracker, store = sc.statusTracker(), sc._jsc.sc().statusStore()
    found = {}
    for job in tracker.getJobIdsForGroup(group):
        info = tracker.getJobInfo(job)
        for stage_id in (info.stageIds if info is not None else ()):
            stage = tracker.getStageInfo(stage_id)
            if stage is None:
                continue
            tasks = store.taskList(stage_id, stage.currentAttemptId, 1 << 20)
            for k in range(tasks.size()):
                task = tasks.apply(k)
                found[int(task.index())] = str(task.status())
    return found


def _gang_task(fn, args, key, world_size, timeout, host, iterator):
    """Executor side: one rank (its partition index) of the barrier stage."""
    from pyspark import BarrierTaskContext
    from .spark_tasks import _task_threads
    context = BarrierTaskContext.get()
    rank = context.partitionId()
    if host is None:  # the executor's host, as Spark knows it
        host = context.getTaskInfos()[rank].address.rsplit(":", 1)[0]

    def exchange(address):
        return [tuple(json.loads(a)) for a in context.allGather(json.dumps(list(address)))]

    with _task_threads():
        report = run_rank(fn, args, rank, key, exchange, timeout, host)
    if report[0] == "error" and not report[3]:
        _, error, text, _ = report
        raise GangError(f"{_MARK} {rank} of {world_size}: {type(error).__name__}: {error}\n"
                        f"--- traceback of rank {rank} ---\n{text}", rank=rank) from error
    return [(rank, report)]


def _failure(error, name, world_size):
    """A ``GangError`` naming the rank whose task failed first, from the exception Spark raised on the driver."""
    text = str(error)
    ours = re.search(re.escape(_MARK) + r" (\d+) of \d+: (.*?)\n--- traceback of rank \d+ ---\n(.*?)(?:\n\s*\n|$)",
                     text, re.S)
    if ours:
        rank, message, remote = int(ours.group(1)), ours.group(2), ours.group(3)
        return GangError(f"gang '{name}': rank {rank} of {world_size} failed: {message}\n"
                         f"--- traceback of rank {rank} ---\n{remote}", rank=rank, remote_traceback=remote)
    task = re.search(r"ResultTask\(\d+, (\d+)\)", text) or re.search(r"Task (\d+) in stage", text)
    rank = int(task.group(1)) if task else None
    reason = next((m.group(0) for m in (re.search(p, text) for p in _REASONS) if m), text[:2000])
    who = f"rank {rank} of {world_size}" if rank is not None else f"a rank of {world_size}"
    return GangError(f"gang '{name}': {who} failed in Spark: {reason}",
                     rank=rank, died=True)
