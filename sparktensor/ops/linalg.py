"""Products: ``matmul`` (NumPy's 1-D and batched rules), ``einsum``, ``dot``, ``outer``."""
import string

from ..autograd.function import Function
from ..backend import get_array_module
from ._grad_utils import as_output, conj, grad_for, meta, namespace_of, sum_to
from ..amp.autocast_mode import lower_precision


class MatMul(Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.meta = meta(x), meta(y)
        ctx.save_for_backward(x, y)
        return x @ y

    @staticmethod
    def backward(ctx, gz):
        # complex operands: gx = gz @ conj(y)^T and gy = conj(x)^T @ gz (conj is free for real ones)
        x, y = ctx.saved_tensors
        x, y = conj(x), conj(y)
        nx, ny = ctx.needs_input_grad
        if x.ndim == 1 and y.ndim == 1:
            return (grad_for(gz * y, ctx.meta[0], nx)), (grad_for(gz * x, ctx.meta[1], ny))
        # treat 1-D operands as matrices, as the forward rules do, then drop the added axis again
        x2 = x[None, :] if x.ndim == 1 else x
        y2 = y[:, None] if y.ndim == 1 else y
        g2 = gz[..., None, :] if x.ndim == 1 else gz
        g2 = g2[..., None] if y.ndim == 1 else g2
        gx = gy = None
        # reshape only for 1-D operands: a reshaped view would cost the gradient a copy later
        if nx:
            gx = sum_to(g2 @ y2.swapaxes(-1, -2), x2.shape)
            gx = grad_for(gx.reshape(x.shape) if x.ndim == 1 else gx, ctx.meta[0])
        if ny:
            if y2.ndim == 2 and x2.ndim > 2:
                # a shared matrix: one big product instead of a batch of them summed afterwards
                gy = x2.reshape(-1, x2.shape[-1]).T @ g2.reshape(-1, g2.shape[-1])
            else:
                gy = sum_to(x2.swapaxes(-1, -2) @ g2, y2.shape)
            gy = grad_for(gy.reshape(y.shape) if y.ndim == 1 else gy, ctx.meta[1])
        return gx, gy


@lower_precision
def matmul(x, y):
    """Matrix product with NumPy's rules: 1-D operands are vectors, leading axes broadcast as batches."""
    xs, ys = getattr(x, "shape", ()), getattr(y, "shape", ())
    if len(xs) == 0 or len(ys) == 0:
        raise ValueError(f"matmul: operands must have at least one dimension, got shapes {xs} and {ys}")
    k_x = xs[-1]
    k_y = ys[0] if len(ys) == 1 else ys[-2]
    if k_x != k_y:
        raise ValueError(f"matmul: shapes {tuple(xs)} and {tuple(ys)} do not align: {k_x} (last axis of the first) "
                         f"!= {k_y} ({'only' if len(ys) == 1 else 'second-to-last'} axis of the second)")
    try:
        return MatMul.apply(x, y)
    except ValueError as e:
        raise ValueError(f"matmul: batch axes of shapes {tuple(xs)} and {tuple(ys)} do not broadcast ({e})") from None


def _parse_einsum(subscripts, ndims):
    """Explicit subscripts: '...' replaced by letters, the output spelled out."""
    subscripts = subscripts.replace(" ", "")
    inputs, _, output = subscripts.partition("->")
    inputs = inputs.split(",")
    if len(inputs) != len(ndims):
        raise ValueError(f"einsum: {len(inputs)} operand subscripts for {len(ndims)} operands")
    free = [c for c in string.ascii_letters if c not in subscripts]
    widths = [n - (len(s) - 3) for s, n in zip(inputs, ndims) if "..." in s]
    ellipsis = "".join(free[:max(widths, default=0)])
    inputs = [s.replace("...", ellipsis[len(ellipsis) - (n - len(s) + 3):] if "..." in s else "") for s, n in
              zip(inputs, ndims)]
    if "->" in subscripts:
        output = output.replace("...", ellipsis)
    else:
        letters = "".join(inputs)
        output = ellipsis + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ellipsis))
    for s, n in zip(inputs, ndims):
        if len(s) != n:
            raise ValueError(f"einsum: subscripts {s!r} do not match an operand with {n} dimension(s)")
    return inputs, output


class Einsum(Function):
    @staticmethod
    def forward(ctx, *operands, inputs, output):
        ctx.inputs, ctx.output = inputs, output
        ctx.metas = [meta(x) for x in operands]
        ctx.save_for_backward(*operands)
        return get_array_module(*operands).einsum(",".join(inputs) + "->" + output, *operands)

    @staticmethod
    def backward(ctx, gz):
        operands = [conj(o) for o in ctx.saved_tensors]
        xp = namespace_of(gz, *operands)
        unused = [c for c in string.ascii_letters if c not in "".join(ctx.inputs)]
        grads = []
        for i, (subs, x) in enumerate(zip(ctx.inputs, operands)):
            if not ctx.needs_input_grad[i]:
                grads.append(None)
                continue
            others = [s for j, s in enumerate(ctx.inputs) if j != i]
            arrays = [o for j, o in enumerate(operands) if j != i]
            # a repeated index ('ii' of a trace or diagonal) becomes two indices tied by an identity matrix
            target = ""
            for c, n in zip(subs, x.shape):
                if c in target:
                    fresh = unused.pop()
                    others.append(c + fresh)
                    arrays.append(get_array_module(gz).eye(n, dtype=gz.dtype))  # a constant
                    c = fresh
                target += c
            # letters summed inside this operand alone get the gradient broadcast back afterwards
            kept = "".join(c for c in target if c in ctx.output or any(c in s for s in others))
            g = xp.einsum(",".join([ctx.output] + others) + "->" + kept, gz, *arrays)
            g = g.reshape([g.shape[kept.index(c)] if c in kept else 1 for c in target])
            g = sum_to(g, tuple(1 if n == 1 else m for n, m in zip(x.shape, g.shape)))
            grads.append(grad_for(xp.broadcast_to(g, x.shape), ctx.metas[i]))
        return tuple(grads)


def einsum(subscripts, *operands):
    """Einstein summation, as ``numpy.einsum`` (explicit or implicit output, ``...`` allowed)."""
    inputs, output = _parse_einsum(subscripts, [o.ndim for o in operands])
    return Einsum.apply(*operands, inputs=inputs, output=output)


def dot(x, y):
    """NumPy's dot: products of scalars, inner product of vectors, matrix product, sum over the last axes."""
    from .elementwise import mul
    if x.ndim == 0 or y.ndim == 0:
        return mul(x, y)
    if y.ndim <= 2:
        return matmul(x, y)
    # sum over the last axis of x and the second-to-last of y; all other axes are kept, x's first
    a = string.ascii_lowercase[:x.ndim - 1]
    b = string.ascii_lowercase[x.ndim - 1:x.ndim + y.ndim - 2]
    k = "z"
    return einsum(f"{a}{k},{b[:-1]}{k}{b[-1]}->{a}{b}", x, y)


def outer(x, y):
    """Outer product of the flattened operands."""
    from .shape import reshape
    from .elementwise import mul
    return mul(reshape(x, (-1, 1)), reshape(y, (1, -1)))


@lower_precision
def bmm(x, y):
    """Batched matrix product of two 3-D tensors, ``(b, n, m) @ (b, m, p)`` (PyTorch's; no broadcasting)."""
    if x.ndim != 3 or y.ndim != 3 or x.shape[0] != y.shape[0]:
        raise ValueError(f"bmm: needs two 3-D tensors with the same batch size, got shapes {x.shape} and {y.shape}; "
                         f"matmul (@) broadcasts batches")
    return matmul(x, y)


def _scaled_sum(x, product, beta, alpha):
    from .elementwise import add, mul
    product = product if alpha == 1 else mul(product, alpha)
    if beta == 0:  # PyTorch ignores x then, so nan and inf in it do not propagate
        return product
    return add(x if beta == 1 else mul(x, beta), product)


@lower_precision
def addmm(x, mat1, mat2, *, beta=1, alpha=1):
    """``beta * x + alpha * (mat1 @ mat2)`` for 2-D ``mat1``, ``mat2`` (``x`` broadcasts)."""
    if mat1.ndim != 2 or mat2.ndim != 2:
        raise ValueError(f"addmm: mat1 and mat2 must be 2-D, got shapes {mat1.shape} and {mat2.shape}")
    return _scaled_sum(x, matmul(mat1, mat2), beta, alpha)


@lower_precision
def baddbmm(x, batch1, batch2, *, beta=1, alpha=1):
    """``beta * x + alpha * bmm(batch1, batch2)`` (``x`` broadcasts)."""
    return _scaled_sum(x, bmm(batch1, batch2), beta, alpha)


class Norm2(Function):
    """The Euclidean norm over ``axes``; of a complex tensor, of the moduli."""

    @staticmethod
    def forward(ctx, x, axes, keepdims):
        squares = (x * x.conj()).real if x.dtype.kind == "c" else x * x
        y = get_array_module(x).sqrt(squares.sum(axis=axes, keepdims=True))
        y = as_output(y if keepdims else y.reshape([n for i, n in enumerate(x.shape) if i not in axes]))
        ctx.axes = axes
        ctx.save_for_backward(x, y)  # the output itself, so that create_graph finds it in the graph
        return y

    @staticmethod
    def backward(ctx, gy):
        x, y = ctx.saved_tensors
        kept = [1 if i in ctx.axes else n for i, n in enumerate(x.shape)]
        y, gy = y.reshape(kept), gy.reshape(kept)
        # a zero vector gets the zero subgradient, as in PyTorch: its x is zero, so divide it by one there
        return x / namespace_of(y).where(y == 0, 1, y) * gy, None, None


def norm(x, p="fro", dim=None, keepdim=False, dtype=None):
    """PyTorch's vector norm over ``dim`` (all elements when ``None``): ``p`` a number, ``inf``, ``-inf``, or
    ``"fro"`` (2); ``p=0`` counts the non-zero entries."""
    from ._grad_utils import normalize_axis
    from . import elementwise as E, reduction as R
    if dtype is not None:
        x = x.astype(dtype)
    if p == "fro":
        p = 2
    if isinstance(p, str):
        raise ValueError(f"norm: p={p!r} is not supported; use a number, inf or 'fro' (st.linalg for matrix norms)")
    axes = normalize_axis(dim, x.ndim) if x.ndim else ()
    if p == 2:
        return Norm2.apply(x, axes, keepdim)
    if p == float("inf"):
        return R.amax(E.abs(x), axes, keepdim)
    if p == -float("inf"):
        return R.amin(E.abs(x), axes, keepdim)
    if p == 0:
        return R.sum(E.not_equal(x, 0).astype(x.dtype), axes, keepdim)
    if p == 1:
        return R.sum(E.abs(x), axes, keepdim)
    return E.pow(R.sum(E.pow(E.abs(x), p), axes, keepdim), 1.0 / p)
