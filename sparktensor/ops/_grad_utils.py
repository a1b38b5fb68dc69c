"""Helpers shared by backward passes."""


_SCALARS = (float, int, bool)


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
