"""Gangs on this machine: ranks as processes (``run_processes``), or as threads over real sockets.

Both run ``gang.run_rank``, the same body as a Spark barrier task, so they test the socket transport, the
key, the address exchange and failure reporting without Spark. (``comm.run_threads`` is the lighter
in-process gang over queues.)
"""
import multiprocessing
import pickle
import queue
import threading
import time
from multiprocessing.connection import wait

from .gang import dumps, hung_error, new_key, root_failure, run_rank

EXCHANGE_TIMEOUT = 120.0  # seconds the threads of a gang wait for each other's addresses, at least


def run_socket_threads(fn, world_size, *args, timeout=60.0):
    """``fn(comm, *args)`` on ``world_size`` threads of this process, connected by TCP over loopback.

    Results in rank order; the first rank's failure is re-raised, with a note naming its rank. Once a rank
    has returned or failed, the others get ``timeout`` seconds more; a thread still running then is reported
    as hung (``GangError``) and left behind (a thread cannot be killed; it is a daemon).
    """
    _check_world_size(world_size)
    key = new_key()
    addresses = [None] * world_size
    meeting = threading.Barrier(world_size)
    reports = {}

    def exchange(rank, address):
        addresses[rank] = address
        # not cut at ``timeout``, which bounds waiting once the ranks run (a thread may start late on a busy
        # machine); a rank that fails before it gets here starts the deadline below for the others
        meeting.wait(max(timeout, EXCHANGE_TIMEOUT))
        return list(addresses)

    finished = queue.Queue()

    def body(rank):
        try:
            reports[rank] = run_rank(fn, args, rank, key, lambda address: exchange(rank, address), timeout)
        finally:
            finished.put(rank)

    threads = [threading.Thread(target=body, args=(rank,), daemon=True) for rank in range(world_size)]
    for thread in threads:
        thread.start()
    first = finished.get()  # no deadline before the first rank is done: a gang may train for hours
    stop_at = time.monotonic() + timeout
    done = {first}
    while len(done) < world_size:
        try:
            done.add(finished.get(timeout=max(0.0, stop_at - time.monotonic())))
        except queue.Empty:
            break
    hung = set(range(world_size)) - done
    first_failed = first in reports and reports[first][0] == "error"
    return _results_or_raise(reports, world_size, "threads",
                             hung_error(hung, world_size, timeout, first, first_failed) if hung else None)


def run_processes(fn, world_size, *args, timeout=60.0, start_method=None):
    """``fn(comm, *args)`` on ``world_size`` new processes connected by TCP over loopback; results in rank order.

    ``fn`` and ``args`` travel by cloudpickle (lambdas work); the parent only passes the addresses around
    and collects the results. A rank that fails is re-raised here with a note naming it; a rank whose
    process dies is reported as a ``GangError`` naming it, and so is a rank still running ``timeout``
    seconds after another returned or failed (``hung``; its process is killed). Each rank's BLAS gets its
    share of the cores. ``start_method`` is multiprocessing's; the default, ``forkserver`` where there is
    one, pays for a fresh interpreter once and then forks ranks from it.
    """
    _check_world_size(world_size)
    context = _context(start_method)
    key, payload = new_key(), dumps((fn, args))
    pipes = [context.Pipe() for _ in range(world_size)]
    processes = [context.Process(target=_process_rank, args=(payload, rank, key, child, timeout, world_size),
                                 daemon=True, name=f"sparktensor-rank-{rank}")
                 for rank, (_, child) in enumerate(pipes)]
    for process in processes:
        process.start()
    for _, child in pipes:
        child.close()
    try:
        reports, hung = _gather_reports(processes, [parent for parent, _ in pipes], timeout)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()  # a hung rank may not listen to SIGTERM
            process.join()
    return _results_or_raise(reports, world_size, "processes", hung)


def _context(start_method):
    methods = multiprocessing.get_all_start_methods()
    start_method = start_method or ("forkserver" if "forkserver" in methods else "spawn")
    context = multiprocessing.get_context(start_method)
    if start_method == "forkserver":
        context.set_forkserver_preload([__name__])
    return context


def _process_rank(payload, rank, key, conn, timeout, world_size):
    """The body of a rank's process: the same ``run_rank`` as a Spark task, addresses through the parent. BLAS
    gets this rank's share of the cores, so the ranks do not oversubscribe the machine."""
    fn, args = pickle.loads(payload)

    def exchange(address):
        conn.send(("address", address))
        return conn.recv()

    with _blas_share(world_size):
        report = run_rank(fn, args, rank, key, exchange, timeout)
    try:
        conn.send(report)
    except Exception as e:  # noqa: BLE001 - an unpicklable result
        conn.send(("error", RuntimeError(f"rank {rank}'s result cannot be sent back: {e}"), "", False))


def _blas_share(world_size):
    """BLAS and intra-op work limited to ``cores // world_size`` threads (at least one) in this process."""
    import os

    from ...parallel import task_threads
    return task_threads((os.cpu_count() or 1) // world_size)


def _gather_reports(processes, conns, timeout):
    """Pass the addresses around once, then wait for every rank's report or death; ``(reports, hung_error or
    None)``."""
    world_size = len(processes)
    addresses, reports, dead = {}, {}, set()
    stop_at = None  # once a rank returned, failed or died, the others get ``timeout`` more seconds to report
    first = None  # (rank, whether it failed)
    pending = dict(enumerate(conns))
    while pending:
        waiting = list(pending.values()) + [processes[rank].sentinel for rank in pending]
        left = None if stop_at is None else max(0.0, stop_at - time.monotonic())
        ready = wait(waiting, left)
        if not ready:
            break
        for rank, conn in list(pending.items()):
            if conn in ready or processes[rank].sentinel in ready:
                try:
                    message = conn.recv() if conn.poll() else None
                except (EOFError, OSError):
                    message = None
                if message is None:
                    if not processes[rank].is_alive():
                        dead.add(rank)
                        del pending[rank]
                    continue
                if message[0] == "address":
                    addresses[rank] = message[1]
                    if len(addresses) == world_size:
                        everyone = [addresses[r] for r in range(world_size)]
                        for other in conns:
                            other.send(everyone)
                    continue
                reports[rank] = message
                del pending[rank]
        if first is None and (dead or reports):
            rank = min(dead) if dead else min(reports)
            first = (rank, rank in dead or reports[rank][0] == "error")
            stop_at = time.monotonic() + timeout
    hung = [rank for rank in pending if processes[rank].is_alive()]
    return reports, (hung_error(hung, world_size, timeout, *first) if hung else None)


def _results_or_raise(reports, world_size, how, hung=None):
    failure = root_failure(reports, world_size, hung)
    if failure is None:
        return [reports[rank][1] for rank in range(world_size)]
    rank, error, text = failure
    if error is hung:
        raise error
    note = f"raised on rank {rank} of a gang of {world_size} {how}"
    error.add_note(note + (f"; its traceback:\n{text}" if text else ""))
    raise error


def _check_world_size(world_size):
    if not (isinstance(world_size, int) and world_size >= 1):
        raise ValueError(f"world_size must be a positive int, got {world_size!r}")
