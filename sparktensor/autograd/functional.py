"""``torch.autograd.functional`` over sparktensor: ``vjp``, ``jvp``, ``jacobian``, ``hessian``, ``hvp``, ``vhp``.

Same signatures and return values as PyTorch's. Everything is built from reverse mode: a Jacobian row by row
(one ``grad`` per output element), a Jacobian-vector product as the derivative of a vector-Jacobian product
with respect to its (dummy) cotangent, a Hessian as the Jacobian of the gradient (``create_graph`` inside).
"""
from .differentiation import grad as _grad
from .grad_mode import enable_grad


def _tupled(x, what):
    """``(tuple_of_tensors, was_tuple)``; tensors only."""
    from ..tensor import Tensor
    was_tuple = isinstance(x, (tuple, list))
    xs = tuple(x) if was_tuple else (x,)
    for i, t in enumerate(xs):
        if not isinstance(t, Tensor):
            raise TypeError(f"the {what} must be Tensors (or a tuple of Tensors); {what} {i} is {type(t).__name__}")
    return xs, was_tuple


def _untupled(xs, was_tuple):
    return tuple(xs) if was_tuple else xs[0]


def _prepare(inputs, create_graph):
    """Inputs that require grad: cut from any outer graph, unless ``create_graph`` keeps the result
    differentiable with respect to them (then a new node on the outer graph)."""
    out = []
    for x in inputs:
        if create_graph and x.requires_grad:
            out.append(x * 1)  # a new node, so that grads w.r.t. it stay connected to the outer graph
        else:
            out.append(x.detach().requires_grad_())
    return tuple(out)


def _grads(outputs, inputs, cotangents, create_graph, strict, what):
    """``grad`` of ``outputs`` paired with ``cotangents`` with respect to ``inputs``; unused inputs give zeros
    (``strict=True`` raises for them, as PyTorch does)."""
    from ..creation import zeros_like
    live = [(y, v) for y, v in zip(outputs, cotangents) if y.requires_grad]
    if live:
        got = _grad([y for y, _ in live], inputs, [v for _, v in live], retain_graph=True, create_graph=create_graph,
                    allow_unused=True)
    else:
        got = (None,) * len(inputs)
    result = []
    for i, (x, g) in enumerate(zip(inputs, got)):
        if g is None:
            if strict:
                raise RuntimeError(f"{what}: the output is independent of input {i} (strict=True)")
            g = zeros_like(x)
        result.append(g if create_graph else g.detach())
    return tuple(result)


def _check_vectors(v, like, what):
    vs, _ = _tupled(v, what)
    if len(vs) != len(like):
        raise RuntimeError(f"{what}: got {len(vs)} vector(s) for {len(like)} tensor(s)")
    for i, (a, b) in enumerate(zip(vs, like)):
        if tuple(a.shape) != tuple(b.shape):
            raise RuntimeError(f"{what}: vector {i} has shape {tuple(a.shape)}, expected {tuple(b.shape)}")
    return vs


def _ones_for(outputs, what):
    from ..creation import ones_like
    for y in outputs:
        if y.size != 1:
            raise RuntimeError(f"{what}: v may be omitted only when the function returns a single-element tensor, "
                               f"got shape {tuple(y.shape)}")
    return tuple(ones_like(y) for y in outputs)


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(*inputs), v^T J)``: the vector-Jacobian product at ``inputs``."""
    xs, in_tuple = _tupled(inputs, "inputs")
    with enable_grad():
        xs = _prepare(xs, create_graph)
        outputs, out_tuple = _tupled(func(*xs), "outputs of func")
        vs = _ones_for(outputs, "vjp") if v is None else _check_vectors(v, outputs, "vjp")
        result = _grads(outputs, xs, vs, create_graph, strict, "vjp")
    outputs = tuple(y if create_graph else y.detach() for y in outputs)
    return _untupled(outputs, out_tuple), _untupled(result, in_tuple)


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(*inputs), J v)``: the Jacobian-vector product, as the derivative of a vector-Jacobian product with
    respect to its cotangent (the "double-vjp" trick)."""
    from ..creation import zeros_like
    xs, in_tuple = _tupled(inputs, "inputs")
    vs = _ones_for(xs, "jvp") if v is None else _check_vectors(v, xs, "jvp")
    with enable_grad():
        xs = _prepare(xs, create_graph)
        outputs, out_tuple = _tupled(func(*xs), "outputs of func")
        dummies = tuple(zeros_like(y).requires_grad_() if y.dtype.kind in "fc" else zeros_like(y) for y in outputs)
        gxs = _grads(outputs, xs, dummies, True, strict, "jvp")
        live = [(g, v) for g, v in zip(gxs, vs) if g.requires_grad]
        if live:
            got = _grad([g for g, _ in live], dummies, [v for _, v in live], retain_graph=True,
                        create_graph=create_graph, allow_unused=True)
        else:
            got = (None,) * len(dummies)
        result = tuple((zeros_like(y) if g is None else g if create_graph else g.detach())
                       for y, g in zip(outputs, got))
    outputs = tuple(y if create_graph else y.detach() for y in outputs)
    return _untupled(outputs, out_tuple), _untupled(result, out_tuple)


def _jacobian_rows(outputs, xs, create_graph, strict):
    """``rows[i][j]``: the Jacobian of output ``i`` with respect to input ``j``, shape ``out_i.shape + in_j.shape``."""
    from ..creation import zeros_like
    from ..ops.shape import stack
    rows = []
    for i, y in enumerate(outputs):
        per_element = []
        flat = y.reshape(-1)
        for k in range(flat.shape[0]):
            if y.requires_grad:
                got = _grad(flat[k], xs, retain_graph=True, create_graph=create_graph, allow_unused=True)
            else:
                got = (None,) * len(xs)
            for j, g in enumerate(got):
                if g is None and strict:
                    raise RuntimeError(f"jacobian: output {i} is independent of input {j} (strict=True)")
            per_element.append([zeros_like(x) if g is None else g if create_graph else g.detach()
                                for x, g in zip(xs, got)])
        blocks = []
        for j, x in enumerate(xs):
            if per_element:
                block = stack([row[j] for row in per_element]).reshape(tuple(y.shape) + tuple(x.shape))
            else:
                from ..creation import zeros
                block = zeros(tuple(y.shape) + tuple(x.shape), dtype=x.dtype)
            blocks.append(block)
        rows.append(tuple(blocks))
    return rows


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``: a Tensor of shape ``out.shape + in.shape``, or nested tuples
    (outputs outer, inputs inner) when ``func`` returns or takes tuples, as PyTorch's."""
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError(f"jacobian: strategy must be 'reverse-mode' or 'forward-mode', got {strategy!r}")
    xs, in_tuple = _tupled(inputs, "inputs")
    with enable_grad():
        xs = _prepare(xs, create_graph)
        outputs, out_tuple = _tupled(func(*xs), "outputs of func")
        rows = _jacobian_rows(outputs, xs, create_graph, strict)
    rows = [_untupled(r, in_tuple) for r in rows]
    return _untupled(rows, out_tuple)


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a scalar ``func`` at ``inputs``: shape ``in.shape + in.shape``, or a tuple of tuples for
    several inputs, as PyTorch's."""
    xs, in_tuple = _tupled(inputs, "inputs")

    def gradient(*ys):
        out = func(*ys)
        if not hasattr(out, "shape") or out.size != 1:
            raise RuntimeError(f"hessian: func must return a single-element Tensor, got shape "
                               f"{tuple(getattr(out, 'shape', ()))}")
        return _grads((out,), ys, _ones_for((out,), "hessian"), True, strict, "hessian")

    result = jacobian(gradient, xs, create_graph=create_graph, strict=strict)
    # jacobian of a tuple-returning function is a tuple (over gradients) of tuples (over inputs)
    return _untupled([_untupled(r, in_tuple) for r in result], in_tuple)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(*inputs), v^T H)``: the vector-Hessian product of a scalar ``func``."""
    xs, in_tuple = _tupled(inputs, "inputs")
    vs = _ones_for(xs, "vhp") if v is None else _check_vectors(v, xs, "vhp")
    with enable_grad():
        xs = _prepare(xs, create_graph)
        out = func(*xs)
        if not hasattr(out, "shape") or out.size != 1:
            raise RuntimeError(f"vhp: func must return a single-element Tensor, got shape "
                               f"{tuple(getattr(out, 'shape', ()))}")
        gxs = _grads((out,), xs, _ones_for((out,), "vhp"), True, strict, "vhp")
        live = [(g, v) for g, v in zip(gxs, vs) if g.requires_grad]
        result = _grads([g for g, _ in live], xs, [v for _, v in live], create_graph, strict, "vhp") if live else \
            _grads((), xs, (), create_graph, strict, "vhp")
    return (out if create_graph else out.detach()), _untupled(result, in_tuple)


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(*inputs), H v)``: the Hessian-vector product of a scalar ``func`` (equal to ``vhp``: the Hessian of
    a twice-differentiable function is symmetric)."""
    return vhp(func, inputs, v, create_graph, strict)
