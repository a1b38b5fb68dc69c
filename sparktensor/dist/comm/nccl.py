"""CUDA arrays through NCCL (``cupy.cuda.nccl``) when CuPy and a GPU are present. Untested without a GPU.

``gang.connect`` calls ``attach_nccl`` on every rank: when all ranks have CuPy with NCCL and a CUDA device,
rank 0 makes an NCCL unique id, the host communicator broadcasts it, and each rank joins on its current
device (each rank must use its own GPU). ``all_reduce`` of a CuPy array then stays on the device; every
other call, and every sub-group, copies CUDA arrays to the host and back. CuPy is reached only through
``backend.import_cupy``.
"""
import os

import numpy as np

from ...backend import import_cupy, is_cupy_array

#: set to "0" to keep CUDA arrays on the host path even where NCCL is available
ENABLE_VARIABLE = "SPARKTENSOR_NCCL"
_OPS = {"sum": "NCCL_SUM", "mean": "NCCL_SUM", "max": "NCCL_MAX", "min": "NCCL_MIN"}
_DTYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64", "int8": "NCCL_INT8",
           "uint8": "NCCL_UINT8", "int32": "NCCL_INT32", "int64": "NCCL_INT64"}


def _nccl():
    """CuPy's NCCL bindings, or None when CuPy, NCCL or a CUDA device is missing (or NCCL is switched off)."""
    if os.environ.get(ENABLE_VARIABLE, "1") == "0":
        return None
    try:
        import_cupy()  # checks that CuPy imports and a device is present
        from cupy.cuda import nccl
    except (RuntimeError, ImportError):
        return None
    return nccl if getattr(nccl, "available", True) else None


def attach_nccl(comm):
    """Give ``comm`` an ``NcclComm`` when every rank can use NCCL (a collective: every rank calls it)."""
    everyone = comm.all_reduce(np.array([_nccl() is not None], np.int64), op="min")[0] == 1
    if everyone:
        comm.nccl = NcclComm.create(comm)
    return comm


class NcclComm:
    """An NCCL communicator over the same ranks as a host ``Communicator`` (all-reduce only)."""

    def __init__(self, host_comm, nccl_comm):
        self.host, self.comm = host_comm, nccl_comm

    @classmethod
    def create(cls, host_comm):
        nccl = _nccl()
        unique_id = np.array(nccl.get_unique_id(), np.int64) if host_comm.rank == 0 else None
        unique_id = host_comm.broadcast(unique_id, root=0)
        return cls(host_comm, nccl.NcclCommunicator(host_comm.world_size, tuple(int(b) for b in unique_id),
                                                    host_comm.rank))

    def all_reduce(self, array, op):
        """``op`` over the ranks of a CuPy array, on its device; a new array."""
        if not is_cupy_array(array):
            raise TypeError(f"NCCL all_reduce needs a CuPy array, got {type(array).__name__}")
        if array.dtype.name not in _DTYPES:
            raise TypeError(f"NCCL cannot reduce dtype {array.dtype}; use one of {sorted(_DTYPES)}")
        cupy, nccl = import_cupy(), _nccl()
        x = cupy.ascontiguousarray(array)
        out = cupy.empty_like(x)
        stream = cupy.cuda.get_current_stream()
        self.comm.allReduce(x.data.ptr, out.data.ptr, x.size, getattr(nccl, _DTYPES[x.dtype.name]),
                            getattr(nccl, _OPS[op]), stream.ptr)
        stream.synchronize()
        return out / self.host.world_size if op == "mean" else out

    def new_group(self, members):
        """Sub-groups use the host path (an NCCL sub-communicator would need its own unique id)."""
        return None
