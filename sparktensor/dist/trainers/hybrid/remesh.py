"""Resuming a ``HybridTrainer`` run on a mesh of another model width: checkpoints of M model ranks into M'.

Each rank of a run checkpoints its own share (``rank-<r>/round-<n>.safetensors``, with the ``shard`` entry
that ``checkpoint.load_shard`` reads). When ``fit(resume=True)`` finds that the checkpoints were written by a
D x M mesh and the trainer's mesh is D x M', the driver picks the newest round that every model rank of
replica 0 has, reading file headers only, and moves the old rank folders aside (``previous-<time>/``, as a
fresh run does), so the new ranks' checkpoints never mix with the old mesh's. Each new rank then reads its
own piece of every tensor and of its optimizer state from the M files (``load_shard``): no process holds
more than its share. The data axis D must stay: it fixes the data's partitions, and so the rounds' batches.

The random state of the old ranks is not carried over (a rank of the new mesh has no counterpart), so a
model with dropout draws other masks after the move; everything else continues as the run would have.
"""
import os
import re

from .. import checkpoint as ckpt

_RANK = re.compile(r"^rank-(\d+)$")
_NOT_COMPARED = ("run", "mesh")


def plan(checkpoint_dir, mesh, saved):
    """None when ``checkpoint_dir`` holds no checkpoints or checkpoints of this mesh; else (for checkpoints
    of the same run settings on another model width) ``{"files": [...], "round": n}`` after moving the old rank
    folders aside. ``saved``: the new run's settings, as checkpoints record them."""
    ranks = sorted(int(m.group(1)) for name in _listing(checkpoint_dir) if (m := _RANK.match(name)))
    newest = ckpt.checkpoints(os.path.join(checkpoint_dir, f"rank-{0:05d}")) if ranks else []
    if not newest:
        return None
    settings = dict(ckpt._ShardFile(newest[-1]).value("settings"))
    old = [int(v) for v in settings["mesh"]]
    if old == [mesh.data, mesh.model]:
        return None
    if old[0] != mesh.data:
        raise ValueError(f"cannot resume the checkpoints of a {old[0]} x {old[1]} mesh on a {mesh.data} x "
                         f"{mesh.model} mesh: the model width may change, the number of replicas (which fixes the "
                         f"data's partitions) may not")
    different = [f"{k}: checkpoint {_plain(settings.get(k))!r}, now {v!r}" for k, v in saved.items()
                 if k not in _NOT_COMPARED and _plain(settings.get(k)) != v]
    if different:
        raise ValueError(f"cannot resume: the checkpoints had other settings ({'; '.join(different)}); use another "
                         f"checkpoint_dir to start afresh")
    rounds = None
    for m in range(old[1]):
        found = {_round_of(path) for path in ckpt.checkpoints(os.path.join(checkpoint_dir, f"rank-{m:05d}"))}
        rounds = found if rounds is None else rounds & found
    if not rounds:
        raise ValueError(f"cannot resume: no round has a checkpoint from every one of the {old[1]} model ranks of "
                         f"the {old[0]} x {old[1]} mesh in {checkpoint_dir}")
    agreed = max(rounds)
    aside = ckpt.set_aside(checkpoint_dir, pattern=_RANK, why=f"the {old[0]} x {old[1]} mesh's round {agreed} "
                           f"is read from there into the {mesh.data} x {mesh.model} mesh")
    files = [ckpt.checkpoint_path(os.path.join(aside, f"rank-{m:05d}"), agreed) for m in range(old[1])]
    return {"files": files, "round": agreed, "from": old}


def load(plan, sharded, optimizer):
    """A new rank's share and optimizer state from the old mesh's files; ``(rounds done, history records)``."""
    ckpt.load_shard(plan["files"], sharded, optimizer)
    return int(plan["round"]), [dict(record) for record in ckpt._ShardFile(plan["files"][0]).value("history")]


def _round_of(path):
    return int(re.search(r"round-(\d+)", os.path.basename(path)).group(1))


def _listing(directory):
    return os.listdir(directory) if os.path.isdir(directory) else []


def _plain(value):
    return list(value) if isinstance(value, (list, tuple)) else value
