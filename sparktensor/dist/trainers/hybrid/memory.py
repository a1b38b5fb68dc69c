"""A rank's memory: the cap of ``HybridTrainer(memory_limit=)`` and the error that says what a share needed.

Model parallelism exists for models whose weights and optimizer state do not fit one worker. The cap makes
that limit real: the rank's process gets an address-space limit (``RLIMIT_AS``), so running out is the
ordinary ``MemoryError`` of the allocation that crossed it, exactly as under Spark's
``spark.executor.pyspark.memory`` (which PySpark applies to each Python worker as ``RLIMIT_AS``, and which
``memory_limit`` does not need). ``memory_limit`` counts from what the process holds when the rank starts
training: the interpreter, the libraries, its partition of the data and the model as it arrived (on Spark it
arrives pickled, and the unpickled copy, dropped once split, counts; a model built under
``nn.init.deferred_init`` arrives as recipes, a few hundred bytes, and each rank makes only its share). So it
bounds what training adds: the rank's share of the parameters, their gradients, the optimizer state, the
activations. When a rank runs out,
``out_of_memory`` replaces the bare ``MemoryError`` by one that names the rank, what its share needs, the
limit, and how large a ``Mesh(model=M)`` would fit.

``RLIMIT_AS`` counts address space, not memory touched: glibc reserves 64 MiB of it for each thread's malloc
arena, and BLAS its work buffers on first use. A rank under ``memory_limit`` starts its connections' threads
and BLAS before the cap; under Spark's limit, set ``spark.executorEnv.MALLOC_ARENA_MAX=1`` as well.

Linux only (the size comes from ``/proc/self/status``; macOS does not enforce ``RLIMIT_AS``).
"""
import contextlib
import threading

import numpy as np

try:
    import resource
except ImportError:  # Windows
    resource = None

from ....nn.parameter import Parameter
from ....tensor import Tensor

_capped = {}  # "rank": the rank whose cap is in force in this process (a cap is per process, not per thread)
_lock = threading.Lock()


def address_space():
    """This process's virtual memory size in bytes (``VmSize``), or None where ``/proc`` does not tell it."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def resident():
    """``{"rss", "peak"}``: this process's resident set now and its peak so far (``VmRSS``, ``VmHWM``), in bytes
    (None where ``/proc`` does not tell them)."""
    found = {"rss": None, "peak": None}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    found["rss"] = int(line.split()[1]) * 1024
                elif line.startswith("VmHWM:"):
                    found["peak"] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return found


def address_limit():
    """The address-space limit (soft ``RLIMIT_AS``) in force in this process, in bytes, or None if unlimited."""
    if resource is None:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else int(soft)


@contextlib.contextmanager
def memory_cap(limit, rank):
    """Cap this process at its current size plus ``limit`` bytes while the block runs (nothing when None).

    A tighter limit already in force (Spark's) is kept. The previous limit comes back afterwards, because
    Spark reuses its Python workers for later tasks. Two ranks in one process cannot each have a cap: the
    limit is the whole process's.
    """
    if limit is None:
        yield None
        return
    size = address_space()
    if resource is None or size is None:
        raise ValueError("memory_limit needs Linux (an RLIMIT_AS the kernel enforces and /proc/self/status); "
                         "on other systems leave it None")
    with _lock:
        if _capped:
            raise ValueError(f"rank {rank} runs in the same process as rank {_capped['rank']}, and memory_limit "
                             f"caps a whole process: run one rank per process (LocalEngine: "
                             f"gang={{'mode': 'processes'}}; on Spark every task has its own Python worker)")
        _capped["rank"] = rank
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = size + int(limit)
    for tighter in (soft, hard):
        if tighter != resource.RLIM_INFINITY:
            cap = min(cap, tighter)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
        yield cap
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        with _lock:
            _capped.clear()


# ----- what a share needs -----
def share_bytes(sharded, state_per_parameter):
    """``{"parameters", "gradients", "optimizer_state", "split", "total"}``: bytes a rank's share needs to train.

    ``sharded`` is the rank's share (``dist.shard``); ``state_per_parameter`` the optimizer's entries of state
    per trained parameter entry (``state_per_parameter(optimizer)``). ``split`` is the part of ``parameters``
    divided among the model ranks (the rest is replicated on each). Counting allocates nothing.
    """
    from ...sharding import split_parameters
    named = dict(sharded.named_parameters())
    params = sum(p.data.nbytes for p in named.values())
    grads = sum(p.data.nbytes for p in named.values() if p.requires_grad)
    split = sum(named[k].data.nbytes for k in split_parameters(sharded) if k in named)
    state = int(round(state_per_parameter * grads))
    return {"parameters": params, "gradients": grads, "optimizer_state": state, "split": split,
            "total": params + grads + state}


def estimate(model_bytes, state_per_parameter, model_ranks):
    """``share_bytes`` as it would about be for a model of ``model_bytes`` of parameters split ``model_ranks``
    ways (where the share itself does not exist yet)."""
    share = model_bytes // model_ranks
    state = int(round(state_per_parameter * share))
    return {"parameters": share, "gradients": share, "optimizer_state": state, "split": share,
            "total": 2 * share + state}


def state_per_parameter(template):
    """Entries of optimizer state an optimizer of ``template``'s kind keeps per trained parameter entry
    (Adam 2, SGD with momentum 1, plain SGD 0), measured by one step on a small probe; 0 if it cannot step."""
    options = {k: v for k, v in template.param_groups[0].items() if k != "params"}
    probe = Parameter(np.zeros((2, 3), np.float32))
    probe.grad = Tensor(np.ones((2, 3), np.float32))
    try:
        optimizer = type(template)([dict(options, params=[probe])])
        optimizer.step()
    except Exception:  # noqa: BLE001 - an optimizer that needs a closure or more: no estimate of its state
        return 0.0
    entries = sum(v.data.size for v in optimizer.state.get(probe, {}).values()
                  if isinstance(v, Tensor) and v.shape == probe.shape)
    return entries / probe.data.size


def bytes_with(needs, model_ranks, more_ranks):
    """About what a share needs when the same model is split over ``more_ranks`` instead of ``model_ranks``."""
    scale = model_ranks / more_ranks
    replicated = needs["parameters"] - needs["split"]
    per_parameter = needs["total"] / needs["parameters"] if needs["parameters"] else 0.0
    return int((needs["split"] * scale + replicated) * per_parameter)


def out_of_memory(error, rank, mesh, needs, optimizer_name, limit, started):
    """The ``MemoryError`` to raise when rank ``rank`` ran out: what its share needs, the limit, what to do.

    Args:
        error: the ``MemoryError`` of the allocation that failed (quoted).
        needs: ``share_bytes`` of the rank's share (or its ``estimate``).
        limit: ``memory_limit`` in bytes, or None (then the process's own address-space limit is named).
        started: the process's size when the rank started training, or None.
    """
    where = f"rank {rank} (replica {mesh.data_rank}, model shard {mesh.model_rank} of {mesh.model})"
    parts = [f"{where} ran out of memory"]
    if needs:
        parts.append(f"its share of the model needs {_size(needs['total'])} to train (parameters "
                     f"{_size(needs['parameters'])} + gradients {_size(needs['gradients'])} + {optimizer_name} "
                     f"state {_size(needs['optimizer_state'])}), plus activations")
    if limit is not None:
        held = f" on top of the {_size(started)} the process held when training started" if started else ""
        parts.append(f"over the memory_limit of {_size(limit)}{held}")
    else:
        cap = address_limit()
        parts.append(f"under the process's address-space limit of {_size(cap)} (Spark's "
                     f"spark.executor.pyspark.memory, or a ulimit)" if cap else "with no limit set: the machine "
                     "itself is out of memory")
    advice = f"split the model over more ranks: Mesh(data={mesh.data}, model={2 * mesh.model})"
    if needs:
        advice += (f" needs about {_size(bytes_with(needs, mesh.model, 2 * mesh.model))} a rank (parameters, "
                   f"gradients and optimizer state)")
    parts.append(advice + ("; or raise memory_limit" if limit is not None else
                           "; or give each Python worker more memory"))
    return MemoryError("; ".join(parts) + f". The allocation that failed: {error or 'out of memory'}")


def _size(n):
    return f"{n:,} bytes ({n / 2 ** 20:.1f} MiB)"
