"""NumPy's ``__array_ufunc__`` protocol: NumPy ufuncs applied to tensors give tensors that keep the graph."""
from .ops import elementwise as E, linalg as L


def _ufuncs():
    table = {
        "add": E.add, "subtract": E.sub, "multiply": E.mul, "true_divide": E.div, "divide": E.div,
        "floor_divide": E.floor_divide, "remainder": E.remainder, "power": E.pow, "negative": E.neg,
        "exp": E.exp, "log": E.log, "log1p": E.log1p, "expm1": E.expm1, "sqrt": E.sqrt, "sin": E.sin,
        "cos": E.cos, "tanh": E.tanh, "absolute": E.abs, "sign": E.sign, "maximum": E.maximum,
        "minimum": E.minimum, "matmul": L.matmul, "square": lambda x: E.mul(x, x),
    }
    for name in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_not",
                 "logical_and", "logical_or", "logical_xor", "isnan", "isinf", "isfinite"):
        table[name] = getattr(E, name)
    return table


UFUNCS = _ufuncs()


def array_ufunc(ufunc, method, inputs, kwargs):
    """Dispatch a NumPy ufunc call on tensors to the differentiable op of the same meaning."""
    op = UFUNCS.get(ufunc.__name__)
    if method != "__call__" or op is None or kwargs:
        detail = f"ufunc {ufunc.__name__!r}" + (f" method {method!r}" if method != "__call__" else "")
        detail += f" with arguments {sorted(kwargs)}" if kwargs else ""
        raise TypeError(f"{detail} has no sparktensor implementation; call the Tensor method or convert with .numpy()")
    return op(*inputs)
