"""The executor side of the trainers: plain module-level functions over plain values, and one cache.

A Python worker rebuilds a job's model, optimizer and loss once, from the shipped spec, and keeps it in
``_REPLICAS`` for the later rounds of the job (Spark reuses its Python workers). Every task then loads the
full state it needs from the round's flat buffer (weights, buffers, optimizer state), so it does not matter
which worker ran which partition before, or whether the task is a retry: a task's result depends only on
the broadcast buffer, its partition, the seed and the round.
"""
import math
import os
import pickle
import time
from collections import OrderedDict
from functools import lru_cache

import numpy as np

from ... import random as st_random
from ...autograd.grad_mode import no_grad
from ...tensor import Tensor
from ..data.packed import unpack_inputs
from .shipping import copied

_REPLICAS = OrderedDict()  # job id -> (model, optimizer, loss, layout)
_SHIPPED = ("model", "optimizer", "loss", "layout")  # what a job's spec holds, for error messages
_KEEP = 2  # jobs a worker remembers; older ones are dropped when a new one arrives


def replica(job_id, spec):
    """The job's ``(model, optimizer, loss, layout)``, rebuilt from ``spec.value`` on first use in this process."""
    found = _REPLICAS.get(job_id)
    if found is None:
        value = spec.value
        found = pickle.loads(value) if isinstance(value, bytes) else copied(value, _SHIPPED[:len(value)])
        while len(_REPLICAS) >= _KEEP:
            _REPLICAS.popitem(last=False)
        _REPLICAS[job_id] = found
    return found


def forget(job_id):
    """Drop a job's replica from this process."""
    _REPLICAS.pop(job_id, None)


# ----- what each step sees -----
def batch_indices(seed, partition, step, n, batch_size, shuffle=True):
    """The rows of a partition of ``n`` samples that local step ``step`` trains on.

    Steps walk through the partition in epochs of ``ceil(n / batch_size)`` batches (the last may be smaller);
    with ``shuffle`` each epoch has its own order, drawn from ``(seed, partition, epoch)``. A pure function,
    so a retried task, a resumed run and a test can all recompute it.
    """
    per_epoch = -(-n // batch_size)
    epoch, b = divmod(step, per_epoch)
    return _order(seed, partition, epoch, n, shuffle)[b * batch_size:(b + 1) * batch_size]


@lru_cache(maxsize=8)
def _order(seed, partition, epoch, n, shuffle):
    order = np.random.default_rng([seed, partition, epoch]).permutation(n) if shuffle else np.arange(n)
    order.flags.writeable = False
    return order


def task_seed(seed, round_index, partition):
    """The seed of the random numbers (dropout) a worker draws in one round."""
    return int(np.random.SeedSequence([seed, round_index, partition, 7]).generate_state(1, np.uint32)[0])


class _seeded:
    """Seed the default generator for a task and give the caller's state back afterwards."""

    def __init__(self, seed):
        self.seed = seed

    def __enter__(self):
        self.saved = st_random.default_generator.get_state()
        st_random.default_generator.manual_seed(self.seed)

    def __exit__(self, *exc):
        st_random.default_generator.set_state(self.saved)
        return False


def _quiet():
    """Overflow becomes a non-finite round that names its partition, rather than NumPy warnings."""
    return np.errstate(over="ignore", invalid="ignore")


def _set_groups(optimizer, groups):
    """The driver's current hyperparameters (a schedule may have changed ``lr``) into the replica's optimizer."""
    for group, options in zip(optimizer.param_groups, groups):
        group.update(options)


def _crash_on_first_attempt():
    """Test hook: kill this Python worker when the task runs for the first time (Spark then retries it)."""
    try:
        from pyspark import TaskContext
    except ImportError:
        return
    context = TaskContext.get()
    if context is not None and context.attemptNumber() == 0:
        os._exit(1)


# ----- tasks -----
def train(index, block, job, weights, settings):
    """Parameter averaging: ``tau`` local steps from the broadcast state; returns the state times the samples."""
    x, y = block
    if len(x) == 0:
        return _result(None, 0)
    builds = int(job not in _REPLICAS)
    model, optimizer, loss_fn, layout = replica(job, settings["spec"])
    if settings.get("fail") == index:
        _crash_on_first_attempt()
    _set_groups(optimizer, settings["groups"])
    if settings["has_state"]:
        layout.unflatten(weights.value, model, optimizer)
    else:
        optimizer.state.clear()
        layout.unflatten(weights.value, model)
    model.train()
    tau, size, seed, r = settings["tau"], settings["batch_size"], settings["seed"], settings["round"]
    step_groups = settings.get("step_groups")  # a schedule stepped every local step: each step's hyperparameters
    loss_sum, seen, finite = 0.0, 0, True
    start = time.perf_counter()
    with _seeded(task_seed(seed, r, index)), _quiet():
        for step in range(r * tau, (r + 1) * tau):
            rows = batch_indices(seed, index, step, len(x), size, settings["shuffle"])
            if step_groups:
                _set_groups(optimizer, step_groups[step - r * tau])
            loss = loss_fn(model(*model_inputs(x[rows], settings)), Tensor(y[rows]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            value = float(loss.item())
            loss_sum += value * len(rows)
            seen += len(rows)
            if not math.isfinite(value):
                finite = False
                break
    compute = time.perf_counter() - start
    state = layout.flatten(model, optimizer if settings["keep_state"] else None)
    finite = finite and bool(np.isfinite(state).all())
    bad = () if finite else (index,)
    state *= state.dtype.type(seen)  # a fresh buffer: scaled in place
    return _result(state, seen, loss_sum, compute, bad, builds=builds)


def gradients(index, block, job, weights, settings):
    """Synchronous SGD: the gradient of one batch at the broadcast weights, times its samples."""
    x, y = block
    if len(x) == 0:
        return _result(None, 0)
    builds = int(job not in _REPLICAS)
    model, _, loss_fn, layout = replica(job, settings["spec"])
    if settings.get("fail") == index:
        _crash_on_first_attempt()
    layout.unflatten(weights.value, model)
    model.train()
    start = time.perf_counter()
    with _seeded(task_seed(settings["seed"], settings["round"], index)), _quiet():
        rows = batch_indices(settings["seed"], index, settings["round"], len(x), settings["batch_size"],
                             settings["shuffle"])
        loss = loss_fn(model(*model_inputs(x[rows], settings)), Tensor(y[rows]))
        model.zero_grad()
        loss.backward()
    compute = time.perf_counter() - start
    grads = layout.flatten_grads(model)
    value = float(loss.item())
    finite = math.isfinite(value) and bool(np.isfinite(grads).all())
    n = len(rows)
    bad = () if finite else (index,)
    grads *= grads.dtype.type(n)
    return _result(grads, n, value * n, compute, bad, builds=builds)


def evaluate(index, block, job, weights, settings):
    """Loss (and correct predictions, for class labels) of the broadcast weights on one partition."""
    x, y = block
    if len(x) == 0:
        return _result(None, 0, correct=None, labels=0)
    model, _, loss_fn, layout = replica(job, settings["spec"])
    layout.unflatten(weights.value, model)
    model.eval()
    loss_sum, correct, labels = 0.0, 0, 0
    size = settings["batch_size"]
    start = time.perf_counter()
    with no_grad():
        for first in range(0, len(x), size):
            xb, yb = x[first:first + size], y[first:first + size]
            out = model(*model_inputs(xb, settings))
            loss_sum += float(loss_fn(out, Tensor(yb)).item()) * len(xb)
            hits = count_correct(out.data, yb)
            correct = None if hits is None or correct is None else correct + hits
            labels += yb.size
    model.train()
    return _result(None, len(x), loss_sum, time.perf_counter() - start, correct=correct, labels=labels)


def model_inputs(x, settings):
    """The model's arguments for the feature rows ``x``: one tensor, or one per input of multi-input data."""
    spec = settings.get("input_spec")
    return tuple(Tensor(a) for a in unpack_inputs(x, spec)) if spec else (Tensor(x),)


def count_correct(out, y):
    """Correct class predictions of ``out`` for integer labels ``y``: the class axis is 1 (PyTorch's layout for
    ``cross_entropy``) or else the last; None when the outputs are not class scores for these labels."""
    if y.dtype.kind not in "iu" or out.ndim != y.ndim + 1:
        return None
    out = np.asarray(out.get() if hasattr(out, "get") else out)
    if out.shape[:1] + out.shape[2:] == y.shape:
        return int((out.argmax(axis=1) == y).sum())
    if out.shape[:-1] == y.shape:
        return int((out.argmax(axis=-1) == y).sum())
    return None


def _result(total, samples, loss=0.0, compute=0.0, bad=(), correct=None, labels=0, builds=0):
    return {"sum": total, "samples": samples, "loss": loss, "compute": compute, "bad": tuple(bad),
            "correct": correct, "labels": labels, "builds": builds}


def combine(a, b):
    """Add two partial results: sums, samples and losses add up, compute time is the slowest worker's."""
    if a["sum"] is None or b["sum"] is None:
        total = b["sum"] if a["sum"] is None else a["sum"]
    else:
        with _quiet():
            if a["sum"].flags.writeable:  # partial sums are never used again once combined: add in place
                total = a["sum"]
                total += b["sum"]
            else:
                total = a["sum"] + b["sum"]
    if a["correct"] is None or b["correct"] is None:
        correct = b["correct"] if not a["labels"] else a["correct"] if not b["labels"] else None
    else:
        correct = a["correct"] + b["correct"]
    return {"sum": total, "samples": a["samples"] + b["samples"], "loss": a["loss"] + b["loss"],
            "compute": max(a["compute"], b["compute"]), "bad": a["bad"] + b["bad"], "correct": correct,
            "labels": a["labels"] + b["labels"], "builds": a["builds"] + b["builds"]}
