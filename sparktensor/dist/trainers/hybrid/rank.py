"""The rank side of ``HybridTrainer``: what every rank of the D x M gang runs, as plain module-level functions.

A rank binds the mesh, shards its copy of the model over its replica's M ranks, builds an optimizer of the
same kind over its share, and trains: each step, its replica's batch (the same rows on the replica's M
ranks) forward and backward, with the model-parallel collectives inside; across the D replicas, either an
all-reduce of the gradients every step (``sync="gradients"``) or of the weights and optimizer state every
``tau`` steps (``sync="average"``), each weighted by the samples behind it. One flat buffer per all-reduce
carries the loss and sample counts too, so a step costs a single data-parallel collective.

With evaluation data, each replica evaluates its own part of it with the split model, and one all-reduce over
the replicas adds up losses and correct predictions. Rank 0 sends each round's record to the driver as it
finishes; at the end, the ranks of replica 0 send their shares there too (``reports``), and
``join_shares`` joins them on the driver.

Every rank reports its memory at the end (resident set when it started, its peak, what its share needs), one
all-gather; ``HybridTrainer.rank_memory`` holds the table.

Under ``memory_limit`` a rank warms up (connections, BLAS buffers), then trains inside an OS cap
(``memory``); a ``MemoryError`` is replaced by one naming the rank and what its share needs.

Checkpoints are per rank (``<dir>/rank-00003/round-000012.safetensors``, written atomically by
``checkpoint.save_checkpoint``). A restarted gang agrees on the newest round every rank has (an all-reduce
of the minimum) and resumes from it, so a rank that died while the others were writing loses nothing.
"""
import math
import os
import pickle
import time

import numpy as np

from .... import backend, parallel
from .... import random as st_random
from ....autograd.grad_mode import no_grad
from ....tensor import Tensor
from .. import checkpoint as ckpt
from . import memory, remesh
from .reports import DriverLink, Sent
from ...comm import _gmac_pool
from ...comm.wire import SMALL
from ...sharding import Mesh, background, shard, split_parameters
from ..worker import batch_indices, count_correct, model_inputs, task_seed


def train_rank(comm, spec, blocks, settings, eval_blocks=None):
    """Train one rank of the mesh; the ranks of replica 0 return their shares (``_share``), the others None.

    ``eval_blocks``: one partition of evaluation data per replica, or None. With ``settings["memory_limit"]``
    the rank's process is capped (``memory``); a ``MemoryError`` names what the rank's share needed.
    """
    arrived = memory.resident()  # before anything of the model is made: what the rank holds to start with
    mesh = Mesh(*settings["mesh"]).bind(comm)
    limit = settings.get("memory_limit")
    if limit is not None:  # the connections' threads start before the cap, so it bounds training alone
        _warm_up(mesh)
    started = memory.address_space()
    needs = {}  # what the share needs, counted by _train as soon as it exists (counting allocates nothing)
    try:
        with memory.memory_cap(limit, comm.rank):
            return _train(comm, mesh, spec, blocks, eval_blocks, settings, needs, arrived)
    except MemoryError as e:
        e.__traceback__ = None  # frees the frames that held the share, its gradients and optimizer state
        needs = needs or memory.estimate(settings["model_bytes"], settings["state_per_parameter"], mesh.model)
        raise memory.out_of_memory(e, comm.rank, mesh, needs, settings["optimizer"], limit, started) from None


def _train(comm, mesh, spec, blocks, eval_blocks, settings, needs, arrived):
    model, template, loss_fn = _unpack(spec)
    sharded = shard(model, mesh)  # a model built under deferred_init arrives as recipes: only the share is made
    optimizer = rank_optimizer(template, model, sharded)
    del model, template  # where the model arrived pickled (Spark), only this rank's share stays in memory
    needs.update(memory.share_bytes(sharded, settings["state_per_parameter"]))
    x, y = blocks[mesh.data_rank].value
    evaluation = None if eval_blocks is None else eval_blocks[mesh.data_rank].value
    directory = rank_directory(settings["checkpoint_dir"], comm.rank)
    done, records = _resume(comm, directory, sharded, optimizer, settings)
    link = DriverLink(settings.get("driver"), comm.rank, settings["attempt"]) if mesh.data_rank == 0 else None
    try:
        for r in range(done, settings["rounds"]):
            _maybe_crash(settings, r, comm.rank)
            record = _round(sharded, optimizer, loss_fn, x, y, mesh, settings, r)
            if evaluation is not None and ((r + 1) % settings["eval_every"] == 0 or r + 1 == settings["rounds"]):
                record.update(evaluate_share(sharded, loss_fn, *evaluation, mesh, settings["eval_batch_size"],
                                             settings.get("input_spec")))
            records.append(record)
            if directory is not None and ((r + 1) % settings["checkpoint_every"] == 0
                                          or r + 1 == settings["rounds"]):
                ckpt.save_checkpoint(directory, r + 1, sharded, optimizer, _Records(records), settings["saved"],
                                     shard=ckpt.shard_info(sharded, optimizer=optimizer))
            if comm.rank == 0:
                link.send_record(record)
        ranks_memory = _memory_report(comm, arrived, needs)
        if mesh.data_rank != 0:
            return None
        optimizer.zero_grad()  # the gradients' memory, for sending the share
        share = _share(sharded, optimizer, records if comm.rank == 0 else None, link)
        share["memory"] = ranks_memory if comm.rank == 0 else None
        return share
    finally:
        if link is not None:
            link.close()


def _memory_report(comm, arrived, needs):
    """Every rank's memory, one all-gather: ``[{"rank", "arrived", "peak", "share"}]`` in bytes (resident set
    when the rank started, its peak, and what its share of parameters, gradients and optimizer state needs)."""
    now = memory.resident()
    mine = np.array([arrived["rss"] or -1, now["peak"] or -1, needs.get("total", -1)], np.float64)
    table = comm.all_gather(mine[None, :], axis=0)
    return [{"rank": r, "arrived": int(a), "peak": int(p), "share": int(s)} for r, (a, p, s) in enumerate(table)]


def _warm_up(mesh):
    """Before a memory cap: what the runtime allocates once, not training, so the cap bounds training alone.

    A collective of an array over ``wire.SMALL`` bytes in each of the rank's groups starts its connections'
    threads and maps their shared-memory rings between ranks on one host (``SPARKTENSOR_SHM_BYTES`` of address
    space each way); after it this rank makes and opens no more rings, so none is mapped under the cap. Each
    group's worker for background collectives, the intra-op threads and the frame-tagging workers start too
    (each thread takes a stack and a malloc arena of address space); a matrix product in each float type makes
    BLAS allocate its work buffers (tens of MB of address space with OpenBLAS).
    """
    for comm in (mesh.comm, mesh.model_comm, mesh.data_comm):
        comm.all_gather(np.zeros(SMALL // 8 + 1))
        background.start_worker(comm)
    if hasattr(mesh.comm.transport, "shared_memory"):
        mesh.comm.transport.shared_memory = 0
    parallel.start_threads()
    _gmac_pool.start_workers()
    for dtype in (np.float32, np.float64):
        a = np.ones((512, 512), dtype)
        a @ a


def evaluate_share(sharded, loss_fn, x, y, mesh, batch_size, input_spec=None):
    """``{"eval_loss", "accuracy"}`` of the mesh's model on the replicas' evaluation partitions.

    Each replica runs its own partition through the sharded model (its M ranks together); one all-reduce over
    the replicas adds up the loss, the correct predictions and the labels. Accuracy is None for labels that
    are not classes of the output.
    """
    loss_sum, correct, labels, not_classes = 0.0, 0, 0, 0
    sharded.eval()
    try:
        with no_grad():
            for first in range(0, len(x), batch_size):
                xb, yb = x[first:first + batch_size], y[first:first + batch_size]
                out = sharded(*model_inputs(xb, {"input_spec": input_spec}))
                loss_sum += float(loss_fn(out, Tensor(yb)).item()) * len(xb)
                hits = count_correct(out.data, yb)
                correct, not_classes = (correct, not_classes + 1) if hits is None else (correct + hits, not_classes)
                labels += yb.size
    finally:
        sharded.train()
    totals = mesh.data_comm.all_reduce(np.array([loss_sum, correct, labels, not_classes, len(x)], np.float64))
    loss_sum, correct, labels, not_classes, samples = totals
    return {"eval_loss": float(loss_sum / max(1.0, samples)),
            "accuracy": None if not_classes else float(correct / max(1.0, labels))}


def rank_directory(checkpoint_dir, rank):
    """Where a rank keeps its checkpoints, or None."""
    return None if checkpoint_dir is None else os.path.join(checkpoint_dir, f"rank-{rank:05d}")


def rank_optimizer(template, model, sharded):
    """An optimizer of ``template``'s type and groups over ``sharded``'s parameters (matched by name)."""
    keys = {id(p): key for key, p in model.named_parameters()}
    shares = dict(sharded.named_parameters())
    groups = []
    for group in template.param_groups:
        options = {k: v for k, v in group.items() if k != "params"}
        groups.append(dict(options, params=[shares[keys[id(p)]] for p in group["params"]]))
    return type(template)(groups)


def _unpack(spec):
    value = spec.value
    return pickle.loads(value) if isinstance(value, bytes) else value


# ----- one round -----
def _round(sharded, optimizer, loss_fn, x, y, mesh, settings, r):
    """``tau`` steps from step ``r * tau``; returns the round's history record (the same on every rank)."""
    tau, size, seed, d = settings["tau"], settings["batch_size"], settings["seed"], mesh.data_rank
    if settings["dropout"]:  # the same masks on the M ranks of a replica
        st_random.default_generator.manual_seed(task_seed(seed, r, d))
    params = _params(optimizer)
    start, sync_seconds, loss_sum, samples = time.perf_counter(), 0.0, 0.0, 0.0
    sharded.train()
    for step in range(r * tau, (r + 1) * tau):
        rows = batch_indices(seed, d, step, len(x), size, settings["shuffle"])
        value = _forward_backward(sharded, optimizer, loss_fn, x, y, rows, settings)
        if settings["sync"] == "gradients" and mesh.data > 1:
            began = time.perf_counter()
            grads = [p.grad for p in params]
            totals = _all_reduce_weighted(mesh.data_comm, grads, len(rows), value * len(rows))
            sync_seconds += time.perf_counter() - began
            for p, average in zip(params, _averages(totals, grads)):
                if average is not None:
                    p.grad = Tensor(average)
            step_loss, step_samples = float(totals[-2]), float(totals[-1])
        else:
            step_loss, step_samples = value * len(rows), len(rows)
        if settings.get("schedule"):
            for group, options in zip(optimizer.param_groups, settings["schedule"][step]):
                group.update(options)
        optimizer.step()
        loss_sum, samples = loss_sum + step_loss, samples + step_samples
    if settings["sync"] == "average" and mesh.data > 1:
        began = time.perf_counter()
        state = params + _state_tensors(optimizer)
        totals = _all_reduce_weighted(mesh.data_comm, state, samples, loss_sum)
        for t, average in zip(state, _averages(totals, state)):
            t.data[...] = average
            t._bump_version()
        loss_sum, samples = float(totals[-2]), float(totals[-1])
        sync_seconds += time.perf_counter() - began
    _check_finite(loss_sum, r, mesh)
    seconds = time.perf_counter() - start
    return {"round": r + 1, "epoch": (r + 1) * tau / settings["per_epoch"], "loss": loss_sum / samples,
            "samples": int(samples), "seconds": seconds, "compute_seconds": seconds - sync_seconds,
            "communication_seconds": sync_seconds, "samples_per_second": samples / seconds if seconds else 0.0}


def _forward_backward(sharded, optimizer, loss_fn, x, y, rows, settings):
    """The batch's mean loss; the gradients are in the parameters' ``grad``."""
    optimizer.zero_grad()
    loss = loss_fn(sharded(*model_inputs(x[rows], settings)), Tensor(y[rows]))
    loss.backward()
    return float(loss.item())


def _params(optimizer):
    return [p for group in optimizer.param_groups for p in group["params"]]


def _state_tensors(optimizer):
    """The optimizer's floating state tensors (moments, momentum buffers, step counts), in a fixed order."""
    return [v for p in _params(optimizer) for _, v in sorted(optimizer.state.get(p, {}).items())
            if isinstance(v, Tensor) and v.dtype.kind == "f"]


def _all_reduce_weighted(comm, tensors, samples, loss_sum):
    """One all-reduce over the replicas of every tensor times ``samples``, then of ``loss_sum`` and ``samples``.

    A missing tensor (a gradient the graph did not reach, the same on every replica) is left out.
    """
    dtype = np.result_type(*[t.dtype for t in tensors if t is not None], np.float32)
    parts = [np.asarray(t.data, dtype).reshape(-1) * dtype.type(samples) for t in tensors if t is not None]
    parts.append(np.array([loss_sum, samples], dtype))
    return comm.all_reduce(np.concatenate(parts))


def _averages(totals, tensors):
    """Each tensor's sum from ``_all_reduce_weighted`` divided by the total samples, shaped like it (or None)."""
    samples, offset = totals.dtype.type(totals[-1]), 0
    for t in tensors:
        if t is None:
            yield None
            continue
        yield (totals[offset:offset + t.data.size] / samples).reshape(t.shape).astype(t.dtype, copy=False)
        offset += t.data.size


def _check_finite(loss_sum, r, mesh):
    if not math.isfinite(loss_sum):
        raise FloatingPointError(f"round {r + 1}: non-finite training loss on the replicas of model shard "
                                 f"{mesh.model_rank}; lower the learning rate or check the data's scale")


# ----- checkpoints and failures -----
class _Records:
    """What ``save_checkpoint`` reads of a history: its records."""

    def __init__(self, records):
        self.records = records


def _resume(comm, directory, sharded, optimizer, settings):
    """``(rounds done, history records)``: from the newest round every rank has a checkpoint of, or fresh."""
    state = None
    if directory is not None:
        _, state = ckpt.latest_checkpoint(directory)
    mine = int(state["round"]) if state is not None and _belongs(state, settings) else 0
    agreed = int(comm.all_reduce(np.array(mine, np.int64), op="min"))
    if agreed == 0:  # nothing of this mesh yet: the checkpoints of a mesh of another width, or a fresh start
        return remesh.load(settings["remesh"], sharded, optimizer) if settings.get("remesh") else (0, [])
    if agreed != mine:  # another rank did not finish writing round `mine`: go back to the round all have
        state = ckpt.load(ckpt.checkpoint_path(directory, agreed))
    ckpt.restore(state, sharded, optimizer)
    return agreed, [dict(record) for record in state["history"]]


def _belongs(state, settings):
    """Whether a checkpoint continues this run: written by it, or (``resume=True``) by a run with its settings."""
    saved = dict(state["settings"])
    if saved.get("run") == settings["saved"]["run"]:
        return True
    if not settings["resume"]:
        return False
    ours = {k: v for k, v in settings["saved"].items() if k != "run"}
    different = [f"{k}: checkpoint {_plain(saved.get(k))!r}, now {v!r}" for k, v in ours.items()
                 if _plain(saved.get(k)) != v]
    if different:
        raise ValueError(f"cannot resume: the checkpoints had other settings ({'; '.join(different)}); use "
                         f"another checkpoint_dir to start afresh")
    return True


def _plain(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def _maybe_crash(settings, r, rank):
    """Test hook: rank ``settings["crash"] = (round, rank)`` dies in that round of the gang's first launch.

    In a Spark task its Python worker exits, as when an executor is lost; on threads it raises.
    """
    if settings.get("crash") != [r, rank] or settings["attempt"] > 0:
        return
    try:
        from pyspark import TaskContext
    except ImportError:
        TaskContext = None
    if TaskContext is not None and TaskContext.get() is not None:
        os._exit(1)
    raise RuntimeError(f"rank {rank} killed in round {r + 1} (test hook)")


# ----- the trained state -----
def _share(sharded, optimizer, records, link):
    """What a rank of replica 0 hands back: its share of the weights and optimizer state, and (rank 0) the
    history. The arrays go to the driver over ``link`` (``reports``), or inside the result when the
    driver cannot be reached. No rank ever holds the whole model: ``join_shares`` joins them on the driver.
    """
    state = optimizer.state_dict()
    names = {id(p): key for key, p in sharded.named_parameters()}
    arrays = {f"model/{key}": _host(t) for key, t in sharded.state_dict().items()}
    arrays.update({f"optimizer/{index}/{name}": _host(value) for index, entries in state["state"].items()
                   for name, value in entries.items() if isinstance(value, Tensor)})
    arrays.update(link.send_arrays(arrays) or {})  # where sent: the markers the driver resolves
    return {"model": {key: arrays[f"model/{key}"] for key in sharded.state_dict()},
            "optimizer": {"state": {index: {name: arrays.get(f"optimizer/{index}/{name}", value)
                                            for name, value in entries.items()}
                                    for index, entries in state["state"].items()},
                          "param_groups": state["param_groups"]},
            "splits": dict(split_parameters(sharded)),
            "keys": [names[id(p)] for p in _params(optimizer)],
            "history": records}


def join_shares(shares, received):
    """``{"model", "optimizer", "history"}`` of the ordinary model from the shares of replica 0's M ranks, in
    model-rank order: split weights, and optimizer state shaped like them, joined; the rest from rank 0.

    ``received``: the arrays the ranks sent to the driver (``GangInbox.arrays``), for their ``Sent`` markers.
    """
    def resolve(value):
        if not isinstance(value, Sent):
            return value
        try:
            return received.pop(tuple(value))
        except KeyError:
            raise RuntimeError(f"rank {value.rank} sent {value.name!r} to the driver, which never received it "
                               f"(its connection was cut)") from None

    models = [{key: resolve(v) for key, v in share["model"].items()} for share in shares]
    states = [{index: {name: resolve(v) for name, v in entries.items()}
               for index, entries in share["optimizer"]["state"].items()} for share in shares]
    first, splits = shares[0], shares[0]["splits"]

    def join(key, pieces):
        return splits[key].join(pieces) if key in splits else pieces[0]

    model = {key: join(key, [m[key] for m in models]) for key in models[0]}
    state = {}
    for index, entries in states[0].items():
        key = first["keys"][index]
        state[index] = {name: join(key, [s[index][name] for s in states])
                        if isinstance(value, np.ndarray) and value.shape == models[0][key].shape else value
                        for name, value in entries.items()}
    return {"model": model, "optimizer": {"state": state, "param_groups": first["optimizer"]["param_groups"]},
            "history": first["history"], "memory": first.get("memory")}


def _host(t):
    return np.asarray(backend.to_device(t.data, "cpu"))
