"""``pad`` as PyTorch's ``F.pad``: (before, after) pairs from the last dimension backwards.

``sparktensor.pad`` is NumPy's (one pair per axis from the first); under ``nn.functional`` the name is PyTorch's,
so ``F.pad(x, (1, 2))`` pads only the last dimension of ``x``, as it does in PyTorch.
"""
import numpy as np

from ...ops.conversion import clone
from ...ops.shape import pad as numpy_pad

#: PyTorch's modes and NumPy's names for them
_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(input, pad, mode="constant", value=None):
    """Pad the last ``len(pad) // 2`` dimensions: ``pad`` is ``(left, right)`` of the last one, then ``(top,
    bottom)`` of the one before, and so on; negative widths crop (``constant`` mode). ``mode`` is ``"constant"``
    (with ``value``, default 0), ``"reflect"``, ``"replicate"`` or ``"circular"``."""
    if isinstance(pad, (int, np.integer)) or not all(isinstance(p, (int, np.integer)) for p in pad):
        raise TypeError(f"pad: pad must be a tuple of ints ((left, right) of the last dimension first), got {pad!r}")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) > 2 * input.ndim:
        raise ValueError(f"pad: {len(pad)} widths do not make (before, after) pairs for at most the {input.ndim} "
                         f"dimensions of a tensor of shape {tuple(input.shape)}")
    if mode not in _MODES:
        raise ValueError(f"pad: mode {mode!r} is not one of {', '.join(map(repr, _MODES))}")
    if mode != "constant" and value not in (None, 0):
        raise ValueError(f"pad: mode {mode!r} takes no value (got value={value})")
    pairs = [(pad[i], pad[i + 1]) for i in range(0, len(pad), 2)][::-1]
    first = input.ndim - len(pairs)
    widths = [(0, 0)] * first + [(max(a, 0), max(b, 0)) for a, b in pairs]
    if mode != "constant":
        for axis, (a, b) in enumerate(pairs, first):
            if min(a, b) < 0:
                raise ValueError(f"pad: negative widths crop in 'constant' mode only, got {pad} with mode {mode!r}")
            if mode == "reflect" and max(a, b) >= input.shape[axis]:
                raise ValueError(f"pad: reflect padding of {max(a, b)} needs dimension {axis} longer than that, it "
                                 f"has {input.shape[axis]} (tensor of shape {tuple(input.shape)})")
    y = numpy_pad(input, widths, _MODES[mode], 0 if value is None else value) if any(map(any, widths)) else \
        clone(input)  # a new tensor, never the input itself
    if min(pad, default=0) < 0:
        y = y[(slice(None),) * first + tuple(slice(max(-a, 0), y.shape[axis] - max(-b, 0))
                                             for axis, (a, b) in enumerate(pairs, first))]
    return y
