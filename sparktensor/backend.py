"""Array backends: NumPy on the CPU, CuPy on CUDA devices.

This is the only module that imports CuPy, and it does so lazily: importing
sparktensor never loads CUDA. The array module (``xp``) is chosen from the data.
"""
import sys

import numpy as np

_INSTALL_HINT = "install the CUDA 12 extra: pip install 'sparktensor[cuda12]' (cupy-cuda12x)"


def _cupy_module():
    """CuPy if it is already imported, without importing it."""
    return sys.modules.get("cupy")


def is_cupy_array(x):
    """True when ``x`` is a CuPy array; never imports CuPy."""
    cp = _cupy_module()
    return cp is not None and isinstance(x, cp.ndarray)


def get_array_module(*xs):
    """NumPy or CuPy, whichever holds the arrays among ``xs`` (NumPy if none)."""
    for x in xs:
        if type(x) is np.ndarray:
            continue
        x = getattr(x, "data", x) if type(x).__name__ == "Tensor" else x
        if is_cupy_array(x):
            return _cupy_module()
    return np


def import_cupy():
    """Import CuPy and check that a CUDA device is present; clear errors otherwise."""
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError(f"CUDA was requested but CuPy is not installed: {_INSTALL_HINT}") from e
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDA driver missing or broken
        raise RuntimeError(f"CUDA was requested but no CUDA device is present ({e})") from e
    if count == 0:
        raise RuntimeError("CUDA was requested but no CUDA device is present")
    return cupy


def cuda_is_available():
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        import_cupy()
    except RuntimeError:
        return False
    return True


def parse_device(device):
    """Normalize ``None``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` to ``"cpu"`` or ``"cuda:N"``."""
    if device is None:
        return "cpu"
    device = str(device)
    if device == "cpu":
        return "cpu"
    if device == "cuda":
        return f"cuda:{_current_cuda_index()}"
    if device.startswith("cuda:") and device[5:].isdigit():
        return device
    raise ValueError(f"unknown device {device!r}: expected 'cpu', 'cuda' or 'cuda:N'")


def _current_cuda_index():
    return import_cupy().cuda.runtime.getDevice()


def device_of(x):
    """The device string of an array (``"cpu"`` for NumPy arrays and scalars)."""
    if is_cupy_array(x):
        return f"cuda:{x.device.id}"
    return "cpu"


def array_module_for(device):
    """The array module that serves ``device`` (a normalized device string)."""
    return np if device == "cpu" else import_cupy()


class _NullContext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def device_context(device):
    """A context manager that makes ``device`` current for CuPy allocations."""
    if device == "cpu":
        return _NullContext()
    cp = import_cupy()
    index = int(device.split(":")[1])
    if index >= cp.cuda.runtime.getDeviceCount():
        raise RuntimeError(f"device {device} does not exist: {cp.cuda.runtime.getDeviceCount()} CUDA device(s) present")
    return cp.cuda.Device(index)


def to_device(x, device):
    """Copy an array to ``device`` (a normalized device string); no copy when it is already there."""
    source = device_of(x)
    if source == device:
        return x
    if device == "cpu":
        return x.get()
    with device_context(device):
        return import_cupy().asarray(x)


def check_same_device(op, arrays):
    """Raise when the arrays of one op live on different devices, naming both."""
    first = None
    for a in arrays:
        # only arrays have a device: a dtype or a NumPy scalar has a shape but goes anywhere
        if type(a) is np.ndarray:
            device = "cpu"
        elif is_cupy_array(a):
            device = device_of(a)
        else:
            continue
        if first is None:
            first = device
        elif device != first:
            raise RuntimeError(f"{op}: expected all tensors on one device, found {first} and {device}; "
                               f"move them with .to(device)")


def device_random_generator(device, seed):
    """A random generator that draws directly on ``device`` (CuPy's, for CUDA devices)."""
    if device == "cpu":
        return np.random.default_rng(seed)
    with device_context(device):
        return import_cupy().random.default_rng(seed)
