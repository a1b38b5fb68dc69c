"""The rank side of ``HybridTrainer``: what every rank of the D x M gang runs, as plain module-level functions.

A rank binds the mesh, shards its copy of the model over its replica's M ranks, builds an optimizer of the
same kind over its share, and trains: each step, its replica's batch (the same rows on the replica's M
ranks) forward and backward, with the model-parallel collectives inside; across the D replicas, either an
all-reduce of the gradients every step (``sync="gradients"``) or of the weights and optimizer state every
``tau`` steps (``sync="average"``), each weighted by the samples behind it. One flat buffer per all-reduce
carries the loss and sample counts too, so a step costs a single data-parallel collective.

Checkpoints are per rank (``<dir>/rank-00003/round-000012.safetensors``, written atomically by
``checkpoint.save_checkpoint``). A restarted gang agrees on the newest round every rank has (an all-reduce
of the minimum) and resumes from it, so a rank that died while the others were writing loses nothing.
"""
import math
import os
import pickle
import time

import numpy as np

from .. import random as st_random
from ..tensor import Tensor
from . import checkpoint as ckpt
from .sharding import Mesh, gather, shard, split_parameters
from .worker import batch_indices, task_seed


def train_rank(comm, spec, blocks, settings):
    """Train one rank of the mesh; global rank 0 returns the whole trained state, the others None."""
    mesh = Mesh(*settings["mesh"]).bind(comm)
    model, template, loss_fn = _unpack(spec)
    sharded = shard(model, mesh)
    optimizer = rank_optimizer(template, model, sharded)
    x, y = blocks[mesh.data_rank].value
    directory = rank_directory(settings["checkpoint_dir"], comm.rank)
    done, records = _resume(comm, directory, sharded, optimizer, settings)
    for r in range(done, settings["rounds"]):
        _maybe_crash(settings, r, comm.rank)
        records.append(_round(sharded, optimizer, loss_fn, x, y, mesh, settings, r))
        if directory is not None and ((r + 1) % settings["checkpoint_every"] == 0 or r + 1 == settings["rounds"]):
            ckpt.save_checkpoint(directory, r + 1, sharded, optimizer, _Records(records), settings["saved"])
    if mesh.data_rank != 0:
        return None
    state = gather(sharded, mesh.model_comm, state_dict=True)
    optimizer_state = _gather_optimizer_state(optimizer, sharded, mesh.model_comm)
    if comm.rank != 0:
        return None
    return {"model": state, "optimizer": optimizer_state, "history": records}


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
        value = _forward_backward(sharded, optimizer, loss_fn, x, y, rows)
        if settings["sync"] == "gradients":
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
        optimizer.step()
        loss_sum, samples = loss_sum + step_loss, samples + step_samples
    if settings["sync"] == "average":
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


def _forward_backward(sharded, optimizer, loss_fn, x, y, rows):
    """The batch's mean loss; the gradients are in the parameters' ``grad``."""
    optimizer.zero_grad()
    loss = loss_fn(sharded(Tensor(x[rows])), Tensor(y[rows]))
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
    if agreed == 0:
        return 0, []
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
def _gather_optimizer_state(optimizer, sharded, comm):
    """The optimizer's state dict for the ordinary model: split state tensors joined like their parameters."""
    splits = split_parameters(sharded)
    names = {id(p): key for key, p in sharded.named_parameters()}
    state_dict = optimizer.state_dict()
    params = _params(optimizer)
    whole = {}
    for index in sorted(state_dict["state"]):  # the same order on every rank: these are collectives
        p = params[index]
        split = splits.get(names[id(p)])
        whole[index] = {}
        for name, value in sorted(state_dict["state"][index].items()):
            if isinstance(value, Tensor):
                value = np.asarray(value.data)
                split_like_p = split is not None and value.shape == tuple(p.shape)
                value = split.gather(value, comm) if split_like_p else value.copy()
            whole[index][name] = value
    return {"state": whole, "param_groups": state_dict["param_groups"]}
