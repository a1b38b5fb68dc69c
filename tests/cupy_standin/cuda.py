"""``cupy.cuda`` of the stand-in: one device, synchronous streams, a memory pool that counts nothing."""
import types

from .ndarray import Device


class CUDARuntimeError(RuntimeError):
    """CuPy's error for a failed CUDA runtime call."""


class Stream:
    """A stream that is always idle (the stand-in computes on the host, synchronously)."""

    null = None

    def __init__(self, *args, **kwargs):
        pass

    def synchronize(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def use(self):
        return self


class Event:
    """An event that has always happened."""

    def __init__(self, *args, **kwargs):
        pass

    def record(self, stream=None):
        pass

    def synchronize(self):
        pass


def _device_properties(index):
    Device(index)
    return {"name": b"CuPy stand-in (NumPy on the host)", "totalGlobalMem": 0, "major": 0, "minor": 0,
            "multiProcessorCount": 1}


runtime = types.SimpleNamespace(
    getDeviceCount=lambda: 1,
    getDevice=lambda: 0,
    setDevice=lambda index: Device(index) and None,
    getDeviceProperties=_device_properties,
    deviceSynchronize=lambda: None,
    runtimeGetVersion=lambda: 0,
    driverGetVersion=lambda: 0,
    CUDARuntimeError=CUDARuntimeError,
)


def get_current_stream(device=None):
    """The current stream (always idle)."""
    return Stream()


def is_available():
    return True


class MemoryPool:
    """CuPy's memory pool, counting nothing."""

    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass
