"""What every engine shares to launch a gang: the per-job key, and the body of one rank.

An engine starts ``world_size`` copies of ``run_rank`` (Spark: the tasks of one barrier stage; locally:
processes or threads) and gives each an ``exchange`` function, the only engine-specific part:

    exchange(address) -> list of every rank's address, in rank order

called once by every rank with its own ``(host, port)``. Spark's is ``BarrierTaskContext.allGather``; the
local engine's goes through the parent process. A Dask engine would use a scheduler-side rendezvous, e.g.
each rank sets ``distributed.Variable(f"{gang}-{rank}")`` and then reads all ``world_size`` of them (or a
``distributed.Queue`` the client gathers and fans out), with the gang's tasks pinned to distinct workers.

Each rank opens its listening socket, exchanges addresses once, and builds a ``Communicator`` over a
``SocketTransport`` with the job's key; per-step messages then go over direct connections between ranks.
"""
import logging
import os
import pickle
import traceback

from ..comm import CommError, CommTimeout, Communicator, auth
from ..comm.sockets import SocketTransport, open_listener

#: the environment variable that sets the address a rank advertises to the others (default: see ``rank_host``)
HOST_VARIABLE = "SPARKTENSOR_GANG_HOST"


class GangError(RuntimeError):
    """A rank of a gang failed; ``rank`` is the rank that failed first, ``remote_traceback`` its traceback.

    ``died``: its process exited or was killed under it. ``hung``: it was still running ``timeout`` seconds
    after another rank had returned or failed, and the launcher killed it (``ranks``: every rank that hung)."""

    def __init__(self, message, rank=None, remote_traceback=None, died=False, hung=False, ranks=None):
        super().__init__(message)
        self.rank, self.remote_traceback, self.died, self.hung = rank, remote_traceback, died, hung
        self.ranks = [rank] if ranks is None and rank is not None else list(ranks or [])


def hung_error(hung, world_size, timeout, first, first_failed):
    """The ``GangError`` for ranks ``hung`` still running ``timeout`` s after rank ``first`` returned (or failed)."""
    hung = sorted(hung)
    who = f"rank {hung[0]}" if len(hung) == 1 else "ranks " + ", ".join(map(str, hung))
    return GangError(f"{who} of {world_size} hung: still running {timeout:g} s after rank {first} "
                     f"{'failed' if first_failed else 'returned'}; killed", rank=hung[0], hung=True, ranks=hung)


def new_key():
    """A random key for one gang, as hex (it travels inside the task closure, never on the ranks' sockets)."""
    return auth.new_key().hex()


def rank_host(hint=None):
    """The address this rank listens on and tells the others: ``$SPARKTENSOR_GANG_HOST``, else ``hint``
    (e.g. the executor's host from Spark), else loopback."""
    return os.environ.get(HOST_VARIABLE) or hint or "127.0.0.1"


def connect(rank, addresses, key, listener, timeout=60.0):
    """The gang's whole-world ``Communicator`` of ``rank``, from every rank's address and the job's key."""
    return _communicator(SocketTransport(rank, addresses, bytes.fromhex(key), listener, timeout), timeout)


def _communicator(transport, timeout):
    """The whole-world ``Communicator`` over ``transport``; its set-up is a first collective of every rank."""
    comm = Communicator(transport, timeout=timeout)
    from ..comm.nccl import attach_nccl
    attach_nccl(comm)
    comm.bytes_sent = 0  # count the job's traffic, not the set-up's
    return comm


def run_rank(fn, args, rank, key, exchange, timeout=60.0, host=None):
    """One rank's whole life: listen, exchange addresses, connect, ``fn(comm, *args)``, close.

    Returns ``("ok", result)`` or ``("error", exception, traceback text, caused_elsewhere)``: a failure is
    reported, not raised, so that the launcher can tell the rank that failed first from the ranks that
    failed because of it (``caused_elsewhere``: a peer gave up or died) and from a rank that died. A rank
    that fails tells the others why (they raise ``CommError`` quoting it) before it closes.
    """
    host = rank_host(host)
    listener = open_listener(host)  # only the address the others are told: not every interface
    try:
        addresses = exchange((host, listener.getsockname()[1]))
        transport = SocketTransport(rank, addresses, bytes.fromhex(key), listener, timeout)
    except BaseException:
        listener.close()
        raise
    try:
        # the set-up's collective is inside: a peer may finish it, fail and give up before this rank is through
        comm = _communicator(transport, timeout)
        result = fn(comm, *args)
    except BaseException as e:  # noqa: BLE001 - reported to the launcher with the rank
        # a peer's failure reached us, or a peer said nothing within the timeout (hung, or waiting in turn)
        caused_elsewhere = isinstance(e, CommError) and (transport.failure is not None or isinstance(e, CommTimeout))
        transport.abort(f"rank {rank} failed: {type(e).__name__}: {e}")
        return ("error", portable(e), traceback.format_exc(), caused_elsewhere)
    comm.close()
    return ("ok", result)


def portable(error):
    """``error`` if it survives pickling (it goes back to the launcher), else a ``RuntimeError`` quoting it."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - any pickling failure
        return RuntimeError(f"{type(error).__name__}: {error}")


def root_failure(reports, world_size, hung=None):
    """``(rank, exception, traceback text)`` of the rank that failed first, or None when all ranks succeeded.

    ``reports`` maps ranks to ``run_rank``'s reports; ``hung``, a ``hung_error`` for the ranks the launcher
    killed after its deadline; any other rank without a report died. The root is a rank that died, else the
    first rank whose failure was its own (not a peer's failure or silence), else the hung ranks, else the
    first rank that failed.
    """
    killed = set(hung.ranks) if hung is not None else set()
    for rank in range(world_size):
        if rank not in reports and rank not in killed:
            return rank, GangError(f"rank {rank} died without a result (its process exited or was killed)",
                                   rank=rank, died=True), ""
    failed = [(rank, report) for rank, report in sorted(reports.items()) if report[0] == "error"]
    own = [(r, f) for r, f in failed if not f[3]]
    if own:
        return own[0][0], own[0][1][1], own[0][1][2]
    if hung is not None:
        return hung.rank, hung, ""
    if not failed:
        return None
    rank, report = failed[0]
    return rank, report[1], report[2]


def outcome(reports, world_size, name="gang", hung=None):
    """The results in rank order from ``{rank: report}``, or ``GangError`` naming the rank that failed first
    (``hung``: see ``root_failure``)."""
    failure = root_failure(reports, world_size, hung)
    if failure is None:
        return [reports[rank][1] for rank in range(world_size)]
    rank, error, text = failure
    if isinstance(error, GangError) and error.hung:
        raise GangError(f"{name}: {error}", rank=rank, hung=True, ranks=error.ranks)
    message = f"{name}: rank {rank} of {world_size} failed: {type(error).__name__}: {error}"
    if text:
        message += f"\n--- traceback of rank {rank} ---\n{text}"
    died = isinstance(error, GangError) and error.died
    raise GangError(message, rank=rank, remote_traceback=text, died=died) from error


def dumps(obj):
    """Pickle a rank's function and arguments as Spark does (by value for lambdas and closures)."""
    try:
        import cloudpickle
    except ImportError:
        from pyspark import cloudpickle
    return cloudpickle.dumps(obj)


def relaunching(launch, name, attempts, before_retry=None):
    """``launch()`` up to ``attempts`` times while it fails with a rank that died or hung (a rank's own
    exception, or the last attempt's failure, is raised); ``before_retry()`` runs before each new attempt."""
    for attempt in range(1, attempts + 1):
        try:
            return launch()
        except GangError as e:
            if not (e.died or e.hung) or attempt == attempts:
                raise
            logging.getLogger("sparktensor.dist").warning("gang %s, attempt %d of %d: %s; launching it again",
                                                          name, attempt, attempts, e)
            if before_retry is not None:
                before_retry()


__all__ = ["GangError", "connect", "hung_error", "new_key", "outcome", "rank_host", "relaunching", "run_rank"]
