"""``linear``: ``x @ weight.T + bias`` as one graph node."""
import math

from ...autograd.function import Function
from ...backend import get_array_module
from ...amp.autocast_mode import lower_precision


class LinearFunction(Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        # leading axes are all batch: one 2-d matrix product over them is faster than NumPy's stacked one
        y = _matmul(x, weight.T) if x.ndim == 2 else _flat(x) @ weight.T
        if bias is not None:
            y += bias
        return y if x.ndim == 2 else y.reshape(x.shape[:-1] + y.shape[-1:])

    @staticmethod
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        # leading axes are all batch: flatten them so each weight gradient is one matrix product
        gy2 = _flat(gy)
        gx = None
        if need_x:
            gx = _matmul(gy2, weight) if x.ndim == 2 else (gy2 @ weight).reshape(x.shape)
        gw = (gy2.swapaxes(0, 1) @ _flat(x)) if need_w else None
        gb = _column_sums(gy2) if need_b else None
        return gx, gw, gb


def _matmul(a, b):
    """``a @ b``, computed as ``(b.T @ a.T).T`` (a column-major result) where OpenBLAS is faster that way: when
    ``a`` is column-major itself (the output of an earlier such product), or when the result has more columns
    than rows and the inner dimension is not small. (128, 784) @ (784, 512): 0.86 -> 0.74 ms on one thread;
    (128, 10) @ (10, 512) would go from 0.012 to 0.020 ms. Tensors (a recorded gradient) multiply as they are."""
    flags = getattr(a, "flags", None)
    if flags is not None and (flags.f_contiguous and not flags.c_contiguous
                              or b.shape[1] >= a.shape[0] and a.shape[1] >= 64):
        return (b.T @ a.T).T
    return a @ b


def _column_sums(g):
    """``g.sum(axis=0)``; on arrays as a product with a vector of ones, which BLAS does in one pass whatever the
    layout (a column-major (128, 512): 22 -> 5 us)."""
    if getattr(g, "flags", None) is None:
        return g.sum(axis=0)
    return get_array_module(g).ones(g.shape[0], g.dtype) @ g


def _flat(x):
    """``x`` as a matrix of rows, its last axis the columns (a vector is one row)."""
    return x if x.ndim == 2 else x.reshape(math.prod(x.shape[:-1]), x.shape[-1])


def check_dtypes(op, x, **tensors):
    """Raise, as PyTorch does, when the input and the weights differ in dtype: a silent promotion would run a
    float64 model in float32 (or the reverse) without a word."""
    for name, t in tensors.items():
        if t is not None and t.dtype != x.dtype:
            raise RuntimeError(f"{op}: the input is {x.dtype} but {name} is {t.dtype}; convert one of them "
                               f"(x.to({t.dtype}) or model.to({x.dtype}))")


@lower_precision
def linear(x, weight, bias=None):
    """``x @ weight.T + bias`` over the last axis of ``x``; ``weight`` is (out_features, in_features)."""
    if x.shape[-1:] != weight.shape[1:]:
        raise ValueError(f"linear: input of shape {tuple(x.shape)} has {x.shape[-1] if x.ndim else 'no'} features, "
                         f"the weight {tuple(weight.shape)} expects {weight.shape[1]}")
    check_dtypes("linear", x, weight=weight, bias=bias)
    return LinearFunction.apply(x, weight, bias)
