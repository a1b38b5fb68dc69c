"""Per-round checkpoints: weights, optimizer state, round, random state and history, never pickled.

A checkpoint is ``round-000012.safetensors`` (or ``.npz``) in the checkpoint directory, written with
``sparktensor.save`` to a temporary file in the same directory and then renamed, so a crash leaves either
the old file set or the new one, never half a file. The latest ``keep`` checkpoints are kept.
"""
import logging
import os
import re
import time

from .. import random as st_random
from ..serialization import load, save

log = logging.getLogger("sparktensor.dist")
_NAME = re.compile(r"^round-(\d+)\.(safetensors|npz)$")


def checkpoint_path(directory, round_count, suffix=".safetensors"):
    """The file of the checkpoint taken after ``round_count`` rounds."""
    return os.path.join(directory, f"round-{round_count:06d}{suffix}")


def save_checkpoint(directory, round_count, model, optimizer, history, settings, keep=2, suffix=".safetensors"):
    """Write the state after ``round_count`` rounds atomically; returns the file's path."""
    os.makedirs(directory, exist_ok=True)
    path = checkpoint_path(directory, round_count, suffix)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "round": int(round_count),
        "random": {"default_generator": st_random.default_generator.get_state()},
        "settings": dict(settings),
        "history": list(history.records),
    }
    tmp = os.path.join(directory, f".tmp-{os.getpid()}-{os.path.basename(path)}")
    try:
        save(state, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    for old in checkpoints(directory)[:-keep] if keep else []:
        os.remove(old)
    log.debug("checkpoint %s", path)
    return path


def set_aside(directory, pattern=_NAME):
    """Move what an earlier run left in ``directory`` (entries whose names match ``pattern``) into a new
    ``previous-<time>/`` folder there, so a fresh run neither prunes nor resumes from them; returns that folder
    (None when there was nothing). Nothing is deleted."""
    if not os.path.isdir(directory):
        return None
    found = [name for name in sorted(os.listdir(directory)) if pattern.match(name)]
    if not found:
        return None
    aside = os.path.join(directory, time.strftime("previous-%Y%m%d-%H%M%S"))
    while os.path.exists(aside):
        aside += "x"
    os.makedirs(aside)
    for name in found:
        os.replace(os.path.join(directory, name), os.path.join(aside, name))
    log.warning("%s held checkpoints of an earlier run; moved them to %s (pass resume=True to continue a run)",
                directory, aside)
    return aside


def checkpoints(directory):
    """The checkpoint files in ``directory``, oldest round first."""
    if not os.path.isdir(directory):
        return []
    found = [(int(m.group(1)), name) for name in os.listdir(directory) if (m := _NAME.match(name))]
    return [os.path.join(directory, name) for _, name in sorted(found)]


def latest_checkpoint(directory):
    """``(path, state)`` of the newest checkpoint that reads back whole, or ``(None, None)``."""
    for path in reversed(checkpoints(directory)):
        try:
            return path, load(path)
        except ValueError as e:  # a damaged file: fall back to the one before
            log.warning("skipping unreadable checkpoint %s: %s", path, e)
    return None, None


def restore(state, model, optimizer):
    """Load a checkpoint's weights, optimizer state and random state; returns the rounds it had done."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    st_random.default_generator.set_state(_plain(state["random"]["default_generator"]))
    return int(state["round"])


def _plain(value):
    """Dicts as ``load`` returns them (ordered) back into plain dicts, as NumPy's generator state wants."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
