"""Random tensors from reproducible streams: ``manual_seed``, ``Generator``, ``rand``, ``randn``, ``randint``."""
import numpy as np

from . import backend, dtypes
from .creation import normalize_shape
from .tensor import Tensor


class Generator:
    """A reproducible stream of random numbers; one stream per device, all derived from one seed."""

    def __init__(self, seed=None):
        self.manual_seed(np.random.SeedSequence().entropy if seed is None else seed)

    def manual_seed(self, seed):
        """Restart the stream from ``seed``; returns the generator."""
        self._seed = int(seed)
        self._streams = {}
        return self

    def initial_seed(self):
        """The seed this generator was last started from."""
        return self._seed

    def stream(self, device="cpu"):
        """The underlying array-module generator for ``device``."""
        if device not in self._streams:
            sequence = np.random.SeedSequence(self._seed, spawn_key=(0 if device == "cpu" else 1 + int(device[5:]),))
            self._streams[device] = backend.device_random_generator(device, sequence)
        return self._streams[device]

    def get_state(self):
        """The CPU stream's state (a dict of plain values), for checkpoints."""
        return {"seed": self._seed, "cpu": self.stream("cpu").bit_generator.state}

    def set_state(self, state):
        """Restore a state from ``get_state``."""
        self.manual_seed(state["seed"])
        self.stream("cpu").bit_generator.state = state["cpu"]


default_generator = Generator(0)


def manual_seed(seed):
    """Seed the default generator; returns it."""
    return default_generator.manual_seed(seed)


def _draw(draw, shape, dtype, device, generator, requires_grad, default=dtypes.default_float):
    device = backend.parse_device(device)
    dtype = dtypes.as_dtype(dtype) or default
    if default.kind == "f" and dtype.kind != "f":
        raise TypeError(f"random floats cannot be drawn as {dtype}; pass a floating dtype (or use randint)")
    rng = (generator or default_generator).stream(device)
    with backend.device_context(device):
        data = draw(rng, shape).astype(dtype, copy=False)
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape, dtype=None, device=None, generator=None, requires_grad=False):
    """Uniform samples in ``[0, 1)``."""
    return _draw(lambda rng, s: rng.random(s), normalize_shape(shape), dtype, device, generator, requires_grad)


def randn(*shape, dtype=None, device=None, generator=None, requires_grad=False):
    """Standard normal samples."""
    return _draw(lambda rng, s: rng.standard_normal(s), normalize_shape(shape), dtype, device, generator, requires_grad)


def randint(low, high=None, size=(), dtype=None, device=None, generator=None):
    """Integers in ``[low, high)``, or ``[0, low)`` when ``high`` is omitted; ``randint(10, (3,))`` also works."""
    if isinstance(high, (tuple, list)):
        high, size = None, high
    if high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    size = (int(size),) if isinstance(size, (int, np.integer)) else tuple(size)
    return _draw(lambda rng, s: rng.integers(low, high, s), size, dtype, device, generator, False, dtypes.int64)


def rand_like(x, dtype=None, device=None, generator=None, requires_grad=False):
    """Uniform samples with the shape (and by default dtype and device) of ``x``."""
    return rand(x.shape, dtype=dtype or x.dtype, device=device or x.device, generator=generator,
                requires_grad=requires_grad)


def randn_like(x, dtype=None, device=None, generator=None, requires_grad=False):
    """Normal samples with the shape (and by default dtype and device) of ``x``."""
    return randn(x.shape, dtype=dtype or x.dtype, device=device or x.device, generator=generator,
                 requires_grad=requires_grad)


def permutation(n, device=None, generator=None):
    """A random permutation of ``0 .. n-1`` (int64)."""
    # the order of uniform samples: CuPy's generator has no permutation method
    return _draw(lambda rng, s: rng.random(int(n)).argsort(), None, None, device, generator, False, dtypes.int64)
