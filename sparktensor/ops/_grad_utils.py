"""Helpers shared by backward passes, and the rule every backward formula follows.

A backward formula is written once against the namespace of the values it is given, ``xp = namespace_of(...)``:

* on the fast path (``backward()``, ``grad()``) the gradients and saved values are raw NumPy or CuPy arrays and
  ``xp`` is ``numpy`` or ``cupy``;
* under ``create_graph=True`` they are Tensors that carry the graph and ``xp`` is ``sparktensor`` itself, so the
  gradient is recorded as it is computed and can be differentiated again.

So a formula uses only Python's operators, ``.shape``/``.ndim``/``.dtype``, the methods ``.sum(axis=,
keepdims=)``, ``.reshape``, ``.astype`` and ``.swapaxes``, and ``xp.<name>`` functions that NumPy and sparktensor
both define with NumPy's meaning (``exp``, ``where``, ``matmul``, ``zeros``, ``conj``, ...). It writes nothing in
place (no ``g[mask] = 0``, ``+=``, ``out=``, ``np.add.at``). The values it differentiates through are the op's
inputs and outputs, kept with ``ctx.save_for_backward``: under ``create_graph`` those come back from
``ctx.saved_tensors`` as the graph's own tensors. Anything else kept on ``ctx`` (shapes, masks, indices) is a
constant. A float array computed in forward that the gradient depends on is recomputed in backward from saved
inputs or outputs. A gradient that no ``xp`` function computes (indexing's scatter into zeros) comes from a
Function of its own, called through ``differentiable`` so that the fast path runs its forward on the arrays and
a recorded gradient applies it; its backward is the original op again (adjoint pairs). An op whose backward
cannot be written so sets ``once_differentiable = True``: differentiating its gradient then raises instead of
silently treating that gradient as a constant.
"""
import sys

import numpy as np

from ..backend import get_array_module
from ..tensor import Tensor


_SCALARS = (float, int, bool)


def namespace_of(*values):
    """``sparktensor`` when a value is a Tensor (a gradient being recorded under ``create_graph``), else NumPy or
    CuPy, whichever holds the arrays."""
    others = False
    for v in values:
        if v.__class__ is np.ndarray:  # the common case, first: backward formulas are hot
            continue
        if isinstance(v, Tensor):  # Parameters too
            return sys.modules["sparktensor"]
        others = True
    return get_array_module(*values) if others else np


def is_tensor(x):
    """True for a Tensor: a value of a gradient being recorded under ``create_graph``, not a raw array."""
    return isinstance(x, Tensor)


def conj(x):
    """The complex conjugate of ``x``; real values come back as they are (no copy on the fast path)."""
    return x if x.dtype.kind != "c" else namespace_of(x).conj(x)


def differentiable(function, g, *args, **kwargs):
    """``function`` applied to the gradient ``g`` (and constant ``args``): recorded (``function.apply``) when ``g``
    is a Tensor, a gradient being computed under ``create_graph``; else its forward run on the array directly, the
    fast path with no graph bookkeeping. Backward formulas call their op's adjoint this way (getitem's backward is
    an index-put whose backward is getitem), so a gradient stays differentiable at no cost to the fast path."""
    if isinstance(g, Tensor):
        return function.apply(g, *args, **kwargs)
    return function.forward(function(), g, *args, **kwargs)


def values_of(x):
    """The array under ``x`` (a Tensor's data, an array itself): for constants of a backward formula, such as
    the mask of where a maximum was, that the gradient does not flow through."""
    return x.data if is_tensor(x) else x


def as_output(y):
    """``y`` as an array, for an op that saves its output: NumPy gives a scalar for a 0-d result, which the Tensor
    would wrap in a new array, and then ``create_graph`` would not find the saved output among the outputs."""
    return y if y.ndim else get_array_module(y).asarray(y)


def meta(x):
    """``(shape, dtype)`` of an array argument, ``None`` for a Python scalar."""
    if x.__class__ in _SCALARS or not hasattr(x, "shape"):
        return None
    return x.shape, x.dtype


def sum_to(g, shape):
    """Sum a broadcast gradient back to ``shape`` (sum is the adjoint of broadcasting)."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    # keepdims on the broadcast axes and plain sums over the leading ones give the shape without a
    # reshape, whose view would cost the gradient a copy when it reaches a leaf
    ones = tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    if ones:
        g = g.sum(axis=ones, keepdims=True)
    if lead:
        g = g.sum(axis=tuple(range(lead)))
    return g if g.shape == shape else g.reshape(shape)


def grad_for(g, argument_meta, needed=True):
    """The gradient of one argument: reduced to its shape and cast to its dtype, or ``None``."""
    if not needed or argument_meta is None or g is None:
        return None
    shape, dtype = argument_meta
    g = sum_to(g, shape)
    if g.dtype == dtype:
        return g
    if g.dtype.kind == "c" and dtype.kind != "c":
        g = namespace_of(g).real(g)  # a real input's gradient is the real part (PyTorch's convention)
    return g if g.dtype == dtype else g.astype(dtype)


def normalize_axis(axis, ndim):
    """A tuple of non-negative axes from ``None``, an int or a sequence."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int) or hasattr(axis, "__index__"):
        axis = (axis,)
    out = []
    for a in axis:
        a = int(a)
        if not -ndim <= a < max(ndim, 1):
            raise IndexError(f"axis {a} is out of range for a tensor with {ndim} dimension(s)")
        out.append(a % max(ndim, 1))
    return tuple(out)
