"""Per-round checkpoints: weights, optimizer state, round, random state and history, never pickled.

A checkpoint is ``round-000012.safetensors`` (or ``.npz``) in the checkpoint directory, written to a
temporary file in the same directory, fsynced, renamed and the directory fsynced (``files.replace_durably``)
before older rounds are pruned, so a crash, even of the machine, leaves either the old file set or the new
one, never half a file and never no checkpoint. The latest ``keep`` checkpoints are kept.

Model-parallel ranks write and read per shard (``save_shard``, ``load_shard``, ``gather_to_file``, below): a
checkpoint of M ranks loads into M' ranks, and gathering it into one ordinary file streams shard by shard.
"""
import logging
import os
import re
import time

import numpy as np

from ... import random as st_random
from ...files import replace_durably, temporary_beside
from ...serialization import load, save

log = logging.getLogger("sparktensor.dist")
_NAME = re.compile(r"^round-(\d+)\.(safetensors|npz)$")


def checkpoint_path(directory, round_count, suffix=".safetensors"):
    """The file of the checkpoint taken after ``round_count`` rounds."""
    return os.path.join(directory, f"round-{round_count:06d}{suffix}")


def save_checkpoint(directory, round_count, model, optimizer, history, settings, keep=2, suffix=".safetensors",
                    shard=None, scheduler=None):
    """Write the state after ``round_count`` rounds atomically (with ``scheduler``'s state when given); returns
    the file's path.

    ``shard``: for a model-parallel rank's share, its ``shard_info``, which lets ``gather_to_file`` and
    ``load_shard`` read the ranks' files of one round as a sharded checkpoint.
    """
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
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    if shard is not None:
        state["shard"] = shard
        write_streaming(state, path)  # a rank's share: written tensor by tensor, never copied whole
    else:
        save(state, path)  # atomic and durable: fsynced file, rename, fsynced directory
    for old in checkpoints(directory)[:-keep] if keep else []:
        os.remove(old)
    log.debug("checkpoint %s", path)
    return path


def set_aside(directory, pattern=_NAME, why="pass resume=True to continue a run"):
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
    log.warning("%s held checkpoints of an earlier run; moved them to %s (%s)", directory, aside, why)
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


def restore(state, model, optimizer, scheduler=None):
    """Load a checkpoint's weights, optimizer state, schedule (when both have one) and random state; returns the
    rounds it had done."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and "scheduler" in state:
        scheduler.load_state_dict(_plain(state["scheduler"]))
    st_random.default_generator.set_state(_plain(state["random"]["default_generator"]))
    return int(state["round"])


def _plain(value):
    """Dicts as ``load`` returns them (ordered) back into plain dicts, as NumPy's generator state wants."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


# ----- per-shard checkpoints -----
# A model-parallel rank writes only its share: ``shard-00001-of-00004.safetensors`` holds the share's state dict
# under ``model.<key>`` (the ordinary model's keys, smaller shapes), its optimizer state under ``optimizer.``,
# and under ``shard`` how each split key is cut (``Split``: axis, groups, unit), the whole shapes, the model
# rank and M. HybridTrainer's per-round checkpoints carry the same ``shard`` entry, so everything below reads
# them too.
#
# Every cut is a column cut of a 2-D view: a split key's whole array, seen as (rows, columns) = (entries before
# the split axis x groups, the rest), is its M pieces' views side by side, in rank order (``_columns``). So
# ``gather_to_file`` writes the whole array row block by row block, reading each piece's rows straight from its
# file, and ``load_shard`` reads for a mesh of M' ranks, from each of the M files, the columns of its own piece:
# no process ever holds more than its own piece and a block of bounded size.

_BLOCK = 8 << 20  # bytes of rows read at a time when streaming
_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
           "U8": "u1", "BOOL": "?", "U64": "<u8", "U32": "<u4", "U16": "<u2"}
_CODES = {np.dtype(v): k for k, v in _DTYPES.items()}


def shard_path(directory, rank, world_size):
    """The file of model rank ``rank`` of ``world_size`` in a sharded checkpoint directory."""
    return os.path.join(directory, f"shard-{rank:05d}-of-{world_size:05d}.safetensors")


def shard_info(sharded, rank=None, world_size=None, optimizer=None):
    """The ``shard`` entry of a share's checkpoint: the model rank, M, each split key's cut and whole shape,
    and the parameter key of each optimizer state index."""
    from ..sharding import split_parameters
    comm = sharded.__dict__.get("_shard_comm")
    rank = comm.rank if rank is None else rank
    world_size = comm.world_size if world_size is None else world_size
    splits = split_parameters(sharded)
    skeleton = sharded.__dict__.get("_dense_skeleton")
    if comm is None and rank is None or skeleton is None:
        raise ValueError("a sharded checkpoint is of a model made by dist.shard (it knows its rank and the whole "
                         "shapes); this one was not")
    shapes = {key: list(t.shape) for key, t in skeleton.model.state_dict().items()}
    info = {"rank": int(rank), "world_size": int(world_size), "shapes": shapes,
            "splits": {k: [s.axis, s.groups, s.unit] for k, s in splits.items()}}
    if optimizer is not None:
        names = {id(p): key for key, p in sharded.named_parameters()}
        info["keys"] = [names[id(p)] for group in optimizer.param_groups for p in group["params"]]
    return info


def save_shard(directory, sharded, optimizer=None, rank=None, world_size=None):
    """Write this rank's share of a model made by ``dist.shard`` (and its optimizer's state) to ``directory``
    atomically; returns the file. Every rank of the model group calls it; only replica 0's are needed."""
    info = shard_info(sharded, rank, world_size, optimizer)
    os.makedirs(directory, exist_ok=True)
    path = shard_path(directory, info["rank"], info["world_size"])
    state = {"model": sharded.state_dict(), "shard": info}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    return write_streaming(state, path)


def write_streaming(state, path):
    """``sparktensor.save(state, path)`` for a ``.safetensors`` file, written tensor by tensor straight from the
    arrays (the safetensors package first builds the whole file in memory: a second copy of a rank's share, on a
    rank whose memory is the limit); atomic, as ``save``. Returns ``path``."""
    import json

    from ...serialization import _LAYOUT, _flatten
    tensors = {}
    layout = _flatten(state, "", tensors)
    header, offset = {}, 0
    for name, array in tensors.items():
        header[name] = {"dtype": _CODES[array.dtype.newbyteorder("=")], "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    header["__metadata__"] = {_LAYOUT: json.dumps(layout)}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    fd, tmp = temporary_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(len(text).to_bytes(8, "little"))
            f.write(text)
            for array in tensors.values():
                if array.nbytes:
                    f.write(memoryview(np.ascontiguousarray(array).reshape(-1)).cast("B"))
        replace_durably(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


class _ShardFile:
    """One shard file's header: its tensors' dtypes, shapes and byte offsets, and its ``shard`` entry."""

    def __init__(self, path):
        import json

        from ...serialization import _LAYOUT, _unflatten
        self.path = path
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(size))
        self.start = 8 + size
        metadata = header.pop("__metadata__", None) or {}
        self.tensors = header
        layout = json.loads(metadata[_LAYOUT]) if _LAYOUT in metadata else None
        entries = dict(layout["dict"]) if layout and "dict" in layout else {}
        if "shard" not in entries:
            raise ValueError(f"{path} is not a sharded checkpoint (it has no 'shard' entry; write it with "
                             f"save_shard or HybridTrainer)")
        self.info = _unflatten(entries["shard"], {})
        self.entries = entries  # the layout of every entry; those without tensors (round, settings, history) read whole
        # the model's keys in state-dict order (the file's own order is by dtype, then name)
        self.model_keys = [k for k, _ in entries["model"]["dict"]] if "model" in entries else []
        self.rank, self.world_size = int(self.info["rank"]), int(self.info["world_size"])

    def value(self, entry):
        """An entry that holds no tensors (``round``, ``settings``, ``history``), read from the header."""
        from ...serialization import _unflatten
        return _unflatten(self.entries[entry], {})

    def dtype(self, name):
        return np.dtype(_DTYPES[self.tensors[name]["dtype"]])

    def shape(self, name):
        return tuple(self.tensors[name]["shape"])

    def read(self, name, first=0, count=None):
        """``count`` entries (default: all) of tensor ``name`` from its ``first``, flat; only those are read."""
        dtype = self.dtype(name)
        begin, end = self.tensors[name]["data_offsets"]
        total = (end - begin) // dtype.itemsize
        count = total - first if count is None else count
        out = np.empty(count, dtype)
        with open(self.path, "rb") as f:
            f.seek(self.start + begin + first * dtype.itemsize)
            if f.readinto(memoryview(out).cast("B")) != out.nbytes:
                raise ValueError(f"{self.path}: tensor {name!r} is truncated")
        return out


def _shard_files(source):
    """One ``_ShardFile`` per model rank, in rank order, from a directory of shard files or a list of files."""
    if isinstance(source, (str, os.PathLike)):
        source = os.fspath(source)
        names = sorted(n for n in os.listdir(source) if re.match(r"^shard-\d+-of-\d+\.safetensors$", n))
        paths = [os.path.join(source, n) for n in names]
    else:
        paths = [os.fspath(p) for p in source]
    files = {}
    for path in paths:
        f = _ShardFile(path)
        files.setdefault(f.rank, f)  # the other replicas' copies of a shard are the same
    if not files:
        raise ValueError(f"no shard files in {source!r}")
    world_size = next(iter(files.values())).world_size
    missing = [m for m in range(world_size) if m not in files]
    if missing or any(f.world_size != world_size for f in files.values()):
        raise ValueError(f"the shard files {paths} are not one checkpoint of {world_size} model ranks (missing "
                         f"ranks {missing}, or files of meshes of another size)")
    return [files[m] for m in range(world_size)]


def _columns(shape, split):
    """``(rows, columns per unit)``: the 2-D view of an array of ``shape`` cut by ``split`` (see above)."""
    axis = split[0] % len(shape)
    groups, unit = split[1], split[2]
    rows = int(np.prod(shape[:axis], dtype=np.int64)) * groups
    return rows, unit * int(np.prod(shape[axis + 1:], dtype=np.int64))


def _piece_columns(files, key):
    """Each file's ``(first, end)`` columns of ``key``'s 2-D view, and the view's rows."""
    shape, split = files[0].info["shapes"][key], files[0].info["splits"][key]
    rows, per_unit = _columns(shape, split)
    spans, first = [], 0
    for f in files:
        width = int(np.prod(f.shape(f"model.{key}"), dtype=np.int64)) // max(rows, 1)
        spans.append((first, first + width))
        first += width
    return rows, spans, per_unit


def gather_to_file(source, path):
    """Write the ordinary model's state dict, from a sharded checkpoint, to one safetensors file at ``path``.

    ``source``: a directory of ``save_shard`` files, or the shard files themselves (e.g. the ranks' files of one
    round of ``HybridTrainer``). The file is written tensor by tensor and, for split ones, row block by row
    block straight from the shards: the process holds at most a block of ``_BLOCK`` bytes (or one row of one
    piece), never the whole model or a whole tensor. PyTorch's ``safetensors.torch.load_file`` reads the result.
    """
    import json

    from ...serialization import _LAYOUT
    files = _shard_files(source)
    first = files[0]
    keys = first.model_keys
    header, offset = {}, 0
    for key in keys:
        dtype = first.dtype(f"model.{key}")
        shape = first.info["shapes"][key]
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        header[key] = {"dtype": _CODES[dtype], "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    layout = {"dict": [[k, {"tensor": k}] for k in keys]}
    header["__metadata__"] = {_LAYOUT: json.dumps(layout), "format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    fd, tmp = temporary_beside(path)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(len(text).to_bytes(8, "little"))
            out.write(text)
            for key in keys:
                if key in first.info["splits"]:
                    _write_joined(out, files, key)
                else:
                    _copy(out, first, f"model.{key}")
        replace_durably(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _copy(out, f, name):
    total = int(np.prod(f.shape(name), dtype=np.int64))
    step = max(1, _BLOCK // f.dtype(name).itemsize)
    for first in range(0, total, step):
        out.write(f.read(name, first, min(step, total - first)))


def _write_joined(out, files, key):
    """The whole array of ``key``, in C order: its 2-D view's rows, each the pieces' rows side by side."""
    name = f"model.{key}"
    rows, spans, _ = _piece_columns(files, key)
    widths = [b - a for a, b in spans]
    row_bytes = sum(widths) * files[0].dtype(name).itemsize
    if row_bytes <= _BLOCK:
        step = max(1, _BLOCK // max(row_bytes, 1))
        for r0 in range(0, rows, step):
            r1 = min(rows, r0 + step)
            parts = [f.read(name, r0 * w, (r1 - r0) * w).reshape(r1 - r0, w) for f, w in zip(files, widths)]
            out.write(np.concatenate(parts, axis=1))
        return
    for r in range(rows):  # long rows: each piece's row streamed on its own
        for f, w in zip(files, widths):
            step = max(1, _BLOCK // f.dtype(name).itemsize)
            for c in range(0, w, step):
                out.write(f.read(name, r * w + c, min(step, w - c)))


def _read_columns(files, key, lo, hi, name=None):
    """Columns ``lo:hi`` of ``key``'s 2-D view (all rows), read from the pieces that hold them."""
    name = name or f"model.{key}"
    rows, spans, _ = _piece_columns(files, key)
    dtype = files[0].dtype(name)
    out = np.empty((rows, hi - lo), dtype)
    for f, (a, b) in zip(files, spans):
        c0, c1 = max(lo, a), min(hi, b)
        if c0 >= c1:
            continue
        width = b - a
        step = max(1, _BLOCK // max(width * dtype.itemsize, 1))
        for r0 in range(0, rows, step):
            r1 = min(rows, r0 + step)
            block = f.read(name, r0 * width, (r1 - r0) * width).reshape(r1 - r0, width)
            out[r0:r1, c0 - lo:c1 - lo] = block[:, c0 - a:c1 - a]
    return out


def _load_piece(files, key, split, rank, world_size, name=None, piece_key=None):
    """``key``'s piece (or, with ``split`` None, whole array) for ``rank`` of ``world_size``, as a flat-ready array."""
    from ..sharding import bounds
    info = files[0].info
    shape = list(info["shapes"][key])
    if key not in info["splits"]:
        f = files[0]
        name = name or f"model.{key}"
        whole = f.read(name).reshape(f.shape(name))
        # a model rank of a 1-wide model group keeps every layer whole; its one file holds any cut of each key
        return whole if split is None or world_size == 1 else split.take(whole, rank, world_size)
    saved = info["splits"][key]
    rows, per_unit = _columns(shape, saved)
    axis = saved[0] % len(shape)
    units = shape[axis] // (saved[1] * saved[2])
    if split is None:
        lo, hi = 0, units * per_unit
    else:
        if [split.axis % len(shape), split.groups, split.unit] != [axis, saved[1], saved[2]]:
            raise ValueError(f"{key}: the checkpoint cuts it as Split{tuple(saved)}, this model as {tuple(split)}; "
                             f"they are not the same model")
        start, stop = bounds(units, rank, world_size)
        lo, hi = start * per_unit, stop * per_unit
    block = _read_columns(files, key, lo, hi, name)
    shape[axis] = (hi - lo) // per_unit * saved[1] * saved[2]
    return block.reshape(shape)


def load_shard(source, model, optimizer=None, rank=None, world_size=None):
    """Load a sharded checkpoint written by M ranks into ``model``: a share made by ``dist.shard`` on any number
    M' of ranks (each reads only its own piece of every split key), or an ordinary model (the whole of each).

    ``source``: a directory of ``save_shard`` files or a list of shard files. With ``optimizer``, its state is
    loaded too, each state tensor shaped like its parameter cut as the parameter is. Returns ``model``.
    """
    from ..sharding import split_parameters
    files = _shard_files(source)
    comm = model.__dict__.get("_shard_comm")
    rank = (comm.rank if comm is not None else 0) if rank is None else rank
    world_size = (comm.world_size if comm is not None else 1) if world_size is None else world_size
    splits = split_parameters(model)
    state = {}
    known = files[0].info["shapes"]
    for key in model.state_dict():
        if key not in known:
            raise ValueError(f"load_shard: the checkpoint has no {key!r}; it holds {sorted(known)}")
        state[key] = _load_piece(files, key, splits.get(key), rank, world_size)
    model.load_state_dict(state)
    if optimizer is not None:
        optimizer.load_state_dict(_optimizer_state(files, model, optimizer, splits, rank, world_size))
    return model


def _optimizer_state(files, model, optimizer, splits, rank, world_size):
    """The optimizer's state dict for this share, each state tensor cut as its parameter."""
    first = files[0]
    saved_keys = first.info.get("keys")
    if saved_keys is None:
        raise ValueError("load_shard: the checkpoint holds no optimizer state (save_shard without optimizer=)")
    names = {id(p): key for key, p in model.named_parameters()}
    ours = optimizer.state_dict()
    state = {}
    index = 0
    for group in optimizer.param_groups:
        for p in group["params"]:
            key = names[id(p)]
            saved = saved_keys.index(key)
            prefix = f"optimizer.state.{saved}."
            entries = {}
            for name in first.tensors:
                if not name.startswith(prefix):
                    continue
                entry = name[len(prefix):]
                if list(first.shape(name)) == list(first.shape(f"model.{key}")):
                    entries[entry] = _load_piece(files, key, splits.get(key), rank, world_size, name=name)
                else:
                    entries[entry] = first.read(name).reshape(first.shape(name))
            if entries:
                state[index] = entries
            index += 1
    return {"state": state, "param_groups": ours["param_groups"]}
