"""``save`` and ``load``: state dicts (and optimizer state) as safetensors or ``.npz``, never pickle.

Tensors are stored under dotted names, so PyTorch's ``safetensors.torch.load_file``
reads a saved state dict as is. Nested state (an optimizer's ``{"state": {...},
"param_groups": [...]}``), key order and non-tensor leaves go into the file's
metadata as JSON.
"""
import json
import os
from collections import OrderedDict

import numpy as np

from . import backend, files
from .tensor import Tensor

_LAYOUT = "sparktensor.layout"


def _flatten(obj, prefix, tensors):
    """Tensors into ``tensors`` under dotted names; returns a JSON-able description of ``obj``."""
    if isinstance(obj, Tensor) or isinstance(obj, np.ndarray) or backend.is_cupy_array(obj):
        array = obj.data if isinstance(obj, Tensor) else obj
        array = backend.to_device(array, "cpu")
        # not ascontiguousarray: it turns 0-d arrays into 1-d ones
        tensors[prefix] = array if array.flags.c_contiguous else array.copy(order="C")
        return {"tensor": prefix}
    if isinstance(obj, dict):
        return {"dict": [[_key(k), _flatten(v, f"{prefix}.{k}" if prefix else str(k), tensors)]
                         for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"list" if isinstance(obj, list) else "tuple":
                [_flatten(v, f"{prefix}.{i}" if prefix else str(i), tensors) for i, v in enumerate(obj)]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    if isinstance(obj, np.generic):
        return {"value": obj.item()}
    raise TypeError(f"save: cannot store a {type(obj).__name__} at {prefix or 'the top level'}; "
                    f"only tensors, arrays, numbers, strings, None, lists and dicts are saved (no pickle)")


def _key(k):
    if isinstance(k, (int, str)):
        return k
    raise TypeError(f"save: dict keys must be str or int, got {type(k).__name__}")


def _unflatten(layout, tensors):
    if not isinstance(layout, dict) or len(layout) != 1:
        raise ValueError(f"an entry of the layout is {layout!r}, not one of tensor, dict, list, tuple or value")
    if "tensor" in layout:
        if layout["tensor"] not in tensors:
            raise ValueError(f"the layout names the tensor {layout['tensor']!r}, which the file does not hold")
        return Tensor(tensors[layout["tensor"]])
    if "dict" in layout:
        return OrderedDict((k, _unflatten(v, tensors)) for k, v in layout["dict"])
    if "list" in layout:
        return [_unflatten(v, tensors) for v in layout["list"]]
    if "tuple" in layout:
        return tuple(_unflatten(v, tensors) for v in layout["tuple"])
    if "value" in layout:
        return layout["value"]
    raise ValueError(f"an entry of the layout is {layout!r}, not one of tensor, dict, list, tuple or value")


def save(obj, path):
    """Write ``obj`` to ``path`` (``.safetensors`` or ``.npz``) atomically and durably: a temporary file, fsynced,
    then a rename, fsynced (``files.replace_durably``)."""
    path = os.fspath(path)
    tensors = {}
    layout = _flatten(obj, "", tensors)
    fd, tmp = files.temporary_beside(path)
    try:
        if path.endswith(".npz"):
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **tensors, **{_LAYOUT: np.frombuffer(json.dumps(layout).encode(), np.uint8)})
        else:
            mode = os.fstat(fd).st_mode & 0o777
            os.close(fd)
            from safetensors.numpy import save_file
            # the layout keeps key order and nesting; readers that do not know it (PyTorch's) ignore it
            save_file(tensors, tmp, metadata={_LAYOUT: json.dumps(layout)})
            os.chmod(tmp, mode)  # safetensors makes its file 0600; every file sparktensor writes gets the same mode
        files.replace_durably(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load(path, device=None):
    """Read what ``save`` wrote (or a flat safetensors/npz file from elsewhere); tensors go to ``device``."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file {path!r}")
    _refuse_pickle(path)
    try:
        if path.endswith(".npz"):
            tensors = _read_npz(path)
            layout = tensors.pop(_LAYOUT, None)
            layout = None if layout is None else json.loads(layout.tobytes().decode())
        else:
            from safetensors import safe_open
            with safe_open(path, framework="numpy") as f:
                metadata = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}
            layout = json.loads(metadata[_LAYOUT]) if _LAYOUT in metadata else None
    except Exception as e:  # safetensors, zipfile and json each raise their own kinds
        raise ValueError(f"load: {path!r} is not a readable safetensors/npz file (corrupt or truncated?): {e}") from e
    if device is not None:
        target = backend.parse_device(device)
        tensors = {k: backend.to_device(v, target) for k, v in tensors.items()}
    if layout is None:
        return OrderedDict((k, Tensor(v)) for k, v in tensors.items())
    try:
        return _unflatten(layout, tensors)
    except (ValueError, TypeError) as e:
        raise ValueError(f"load: {path!r} has a damaged layout ({_LAYOUT} in its metadata): {e}") from e


def _memory_bytes():
    """This machine's physical memory: more than any array ``load`` may unpack from an ``.npz``."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 40


def _read_npz(path):
    """The arrays of an ``.npz``, each unpacked only after its ``.npy`` header's shape and dtype are checked
    against the size the archive declares for it, and all of them together against the memory: a small file
    that would inflate without bound (a zip bomb) is refused before it is unpacked."""
    import zipfile
    limit, total, arrays = _memory_bytes(), 0, {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version not in ((1, 0), (2, 0)):
                    raise ValueError(f"array {name!r} is in .npy format {version}; NumPy writes 1.0 and 2.0")
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, fortran, dtype = read_header(member)
                if dtype.hasobject:
                    raise ValueError(f"array {name!r} holds Python objects, which are never unpickled")
                nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
                header = member.tell()
                if header + nbytes != info.file_size:
                    raise ValueError(f"array {name!r} declares shape {shape} of {dtype} ({nbytes} bytes) but the "
                                     f"archive holds {info.file_size - header} bytes for it")
                total += nbytes
                if total > limit:
                    raise ValueError(f"the arrays would unpack to more than {total} bytes, more than this "
                                     f"machine's memory ({limit} bytes); refusing to unpack them")
                data = member.read(nbytes)
            if len(data) != nbytes:
                raise ValueError(f"array {name!r} is truncated: {len(data)} of {nbytes} bytes")
            array = np.frombuffer(data, dtype).copy()
            arrays[name] = array.reshape(shape[::-1]).T if fortran else array.reshape(shape)
    return arrays


def _refuse_pickle(path):
    """A PyTorch checkpoint (``torch.save``: a zip holding ``data.pkl``, or a bare pickle) is refused before
    anything in it is read: unpickling runs whatever code the file names."""
    import zipfile
    with open(path, "rb") as f:
        head = f.read(9)
    # a safetensors file starts with its header's length (8 bytes, little-endian, so 0x80 when the length ends in
    # that byte) and then the header's "{": only without it is a leading 0x80 a pickle's protocol opcode
    pickled = head[:1] == b"\x80" and head[8:9] != b"{"
    if head[:2] == b"PK" and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            pickled = any(n.endswith(".pkl") for n in z.namelist())
    if pickled:
        raise ValueError(f"load: {path!r} is a PyTorch checkpoint (a pickle), which sparktensor never loads: "
                         f"unpickling runs arbitrary code. Convert it once where you trust it, with PyTorch: "
                         f"safetensors.torch.save_file(torch.load(path, weights_only=True), 'model.safetensors'), "
                         f"then st.load('model.safetensors') and model.load_state_dict(...)")
