"""Random tensors from reproducible streams: ``manual_seed``, ``Generator``, ``rand``, ``randn``, ``randint``.

``draw_key`` and ``chunked`` are what weight initialization draws with (``nn.init``): one 64-bit key from the
generator's CPU stream per tensor, and the tensor's values generated from that key in chunks of ``CHUNK``
entries (in C order), chunk ``c`` from its own stream ``SeedSequence(key, spawn_key=(c,))``. Any part of the
tensor can so be generated alone, chunk by chunk, with the same bits as the whole: a model-parallel rank makes
its slice of a weight matrix without ever holding the matrix.
"""
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
            self._streams[device] = (backend.device_random_generator(device, sequence) if device == "cpu"
                                     else _DeviceStream(device, sequence))
        return self._streams[device]

    def get_state(self):
        """The state of every stream (a dict of plain values), for checkpoints: the CPU stream's bit generator,
        and for each GPU the draws made so far."""
        state = {"seed": self._seed, "cpu": self.stream("cpu").bit_generator.state}
        for device, stream in self._streams.items():
            if device != "cpu":
                state[device] = stream.state()
        return state

    def set_state(self, state):
        """Restore a state from ``get_state``."""
        self.manual_seed(state["seed"])
        self.stream("cpu").bit_generator.state = state["cpu"]
        for device, draws in state.items():
            if device.startswith("cuda:"):
                self.stream(device).replay(draws)


class _DeviceStream:
    """A GPU generator that remembers its draws, so that a state can be restored by drawing them again.

    CuPy's generators expose no state to save. Each distinct draw (method, shape, dtype) gets a number, and the
    sequence of numbers is kept as runs ``[pattern, times, partial]`` (``pattern`` repeated ``times``, then its
    first ``partial`` draws), so a training loop that draws the same few masks every step keeps a few runs, not
    one entry per step. Restoring costs the time of the draws."""

    LONGEST_PATTERN = 16

    def __init__(self, device, sequence):
        self._device, self._sequence = device, sequence
        self._generator = backend.device_random_generator(device, sequence)
        self.keys, self._numbers, self.runs = [], {}, []

    def __getattr__(self, name):
        method = getattr(self._generator, name)

        def draw(*args, **kwargs):
            self._remember([name, _plain(args), _plain(kwargs)])
            return method(*args, **kwargs)
        return draw

    def _remember(self, key):
        number = self._numbers.setdefault(repr(key), len(self.keys))
        if number == len(self.keys):
            self.keys.append(key)
        runs = self.runs
        if runs:
            pattern, times, partial = runs[-1]
            if pattern[partial] == number:  # the last run goes on
                runs[-1] = [pattern, times + 1, 0] if partial + 1 == len(pattern) else [pattern, times, partial + 1]
                return
            if partial:  # it broke off: its partial repetition becomes a run of its own
                runs[-1] = [pattern, times, 0]
                runs.append([pattern[:partial], 1, 0])
            last = runs[-1]
            if last[1] == 1 and len(last[0]) < self.LONGEST_PATTERN:
                last[0] = last[0] + [number]
                return
        runs.append([[number], 1, 0])

    def state(self):
        """The draws made so far, as plain values."""
        return {"keys": [list(key) for key in self.keys], "runs": [[list(p), t, k] for p, t, k in self.runs]}

    def replay(self, state):
        """Restart from the seed and make the draws of ``state`` again (their values are dropped)."""
        self._generator = backend.device_random_generator(self._device, self._sequence)
        self.keys, self._numbers, self.runs = [], {}, []
        keys = state["keys"]
        for pattern, times, partial in state["runs"]:
            for number in list(pattern) * int(times) + list(pattern)[:int(partial)]:
                name, args, kwargs = keys[int(number)]
                getattr(self, name)(*args, **kwargs)


def _plain(value):
    """Shapes and dtypes in a draw's arguments as lists, numbers and strings (what a checkpoint holds)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (np.dtype, type)):
        return np.dtype(value).name
    return value


default_generator = Generator(0)


def manual_seed(seed):
    """Seed the default generator; returns it."""
    return default_generator.manual_seed(seed)


def _draw(draw, shape, dtype, device, generator, requires_grad, default=None):
    default = default or dtypes.get_default_dtype()
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


#: entries per independently seeded chunk of an initialized tensor (512 KiB of float64 draws)
CHUNK = 1 << 16


def draw_key(generator=None):
    """One 64-bit key from the CPU stream of ``generator`` (default: the default generator); advances it once."""
    return int((generator or default_generator).stream("cpu").integers(0, 2 ** 63, dtype=np.int64))


def chunk_stream(key, chunk):
    """The NumPy generator of chunk ``chunk`` of the tensor keyed ``key``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(key), spawn_key=(int(chunk),))))


def chunked(draw, shape, key, dtype, axis=0, ranges=None):
    """Samples for a tensor of ``shape``, or only the part of it with the entries ``ranges`` along ``axis``.

    ``draw(rng, n)`` gives ``n`` float64 samples of one chunk (e.g. ``lambda rng, n: rng.standard_normal(n)``);
    the tensor's entries are its chunks' samples in C order, cast to ``dtype``. ``ranges``: ``[(start, stop),
    ...]`` increasing and disjoint along ``axis`` (None: all of it). The result has the tensor's shape with
    ``axis`` cut to the selected entries, in order, and is the same, bit for bit, as selecting them from the
    whole tensor; only the chunks that hold selected entries are generated, one at a time.
    """
    shape = tuple(int(n) for n in shape)
    if not shape:
        return chunked(draw, (1,), key, dtype).reshape(())
    axis = axis % len(shape)
    size = shape[axis]
    ranges = [(0, size)] if ranges is None else [(int(a), int(b)) for a, b in ranges if b > a]
    outer, inner = int(np.prod(shape[:axis])), int(np.prod(shape[axis + 1:]))
    kept = sum(b - a for a, b in ranges)
    out = np.empty(outer * kept * inner, dtype)
    if out.size:
        # the selected entries as runs of the flat tensor: (first, end, where the run goes in out)
        lengths = np.array([(b - a) * inner for a, b in ranges], np.int64)
        heads = np.array([a * inner for a, _ in ranges], np.int64)
        places = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        block = np.arange(outer, dtype=np.int64)[:, None]
        firsts = (block * size * inner + heads).ravel()
        ends = firsts + np.tile(lengths, outer)
        targets = (block * kept * inner + places).ravel()
        needed = np.zeros(-(-outer * size * inner // CHUNK) + 1, np.int64)
        np.add.at(needed, firsts // CHUNK, 1)
        np.add.at(needed, (ends - 1) // CHUNK + 1, -1)
        for chunk in np.flatnonzero(np.cumsum(needed)[:-1]):
            lo = int(chunk) * CHUNK
            hi = min(lo + CHUNK, outer * size * inner)
            values = draw(chunk_stream(key, chunk), hi - lo)
            for run in range(np.searchsorted(ends, lo, "right"), np.searchsorted(firsts, hi, "left")):
                a, b = max(lo, firsts[run]), min(hi, ends[run])
                out[targets[run] + a - firsts[run]:targets[run] + b - firsts[run]] = values[a - lo:b - lo]
    return out.reshape(shape[:axis] + (kept,) + shape[axis + 1:])
