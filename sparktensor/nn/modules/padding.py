"""Padding layers, as PyTorch's: ``ZeroPad``/``ConstantPad``/``ReflectionPad``/``ReplicationPad``/``CircularPad``
in 1, 2 and 3 dimensions, over ``F.pad`` (``(left, right)`` of the last axis first, then the axes before)."""
from ..functional.padding import pad
from .module import Module

_SIDES = {1: "left, right", 2: "left, right, top, bottom", 3: "left, right, top, bottom, front, back"}


class _PadNd(Module):
    dims = None
    mode = "constant"

    def __init__(self, padding, value=0.0):
        super().__init__()
        padding = (padding,) * (2 * self.dims) if isinstance(padding, int) else tuple(padding)
        if len(padding) != 2 * self.dims or not all(isinstance(p, int) for p in padding):
            raise ValueError(f"{type(self).__name__}: padding must be an int or {2 * self.dims} ints "
                             f"({_SIDES[self.dims]}), got {padding}")
        self.padding, self.value = padding, value

    def forward(self, x):
        if x.ndim < self.dims + 1:
            raise ValueError(f"{self!r}: expected at least {self.dims + 1}-D input, got shape {tuple(x.shape)}")
        return pad(x, self.padding, self.mode, self.value if self.mode == "constant" else None)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class _ZeroPadNd(_PadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)


def _layer(name, base, dims, mode, doc):
    return type(name, (base,), {"dims": dims, "mode": mode, "__doc__": doc, "__module__": __name__})


_WHAT = {"constant": "``value``", "zeros": "zeros", "reflect": "the input mirrored at its edges (the edge itself "
         "not repeated)", "replicate": "copies of the edge", "circular": "the input wrapped around"}
_AXES = {1: "the last axis", 2: "the last two axes", 3: "the last three axes"}

ZeroPad1d, ZeroPad2d, ZeroPad3d = (_layer(f"ZeroPad{d}d", _ZeroPadNd, d, "constant",
                                          f"Pad {_AXES[d]} with {_WHAT['zeros']}; padding: an int or "
                                          f"({_SIDES[d]}).") for d in (1, 2, 3))
ConstantPad1d, ConstantPad2d, ConstantPad3d = (_layer(f"ConstantPad{d}d", _ConstantPadNd, d, "constant",
                                                      f"Pad {_AXES[d]} with {_WHAT['constant']}; padding: an int "
                                                      f"or ({_SIDES[d]}).") for d in (1, 2, 3))
ReflectionPad1d, ReflectionPad2d, ReflectionPad3d = (_layer(f"ReflectionPad{d}d", _PadNd, d, "reflect",
                                                            f"Pad {_AXES[d]} with {_WHAT['reflect']}; padding: an "
                                                            f"int or ({_SIDES[d]}).") for d in (1, 2, 3))
ReplicationPad1d, ReplicationPad2d, ReplicationPad3d = (_layer(f"ReplicationPad{d}d", _PadNd, d, "replicate",
                                                               f"Pad {_AXES[d]} with {_WHAT['replicate']}; "
                                                               f"padding: an int or ({_SIDES[d]}).")
                                                        for d in (1, 2, 3))
CircularPad1d, CircularPad2d, CircularPad3d = (_layer(f"CircularPad{d}d", _PadNd, d, "circular",
                                                      f"Pad {_AXES[d]} with {_WHAT['circular']}; padding: an int "
                                                      f"or ({_SIDES[d]}).") for d in (1, 2, 3))
