"""``gradcheck``: compare backward with float64 central differences along random directions.

For a random output cotangent ``u`` and a random input direction ``v``, backward
gives ``<v, J^T u>``; a central difference of ``<u, f(x + eps v)>`` gives the same
number. Agreement along a few random directions catches wrong gradients with
probability one, at the cost of two evaluations per direction. Small inputs are
also checked one coordinate at a time.
"""
import numpy as np

from ..backend import get_array_module
from .grad_mode import enable_grad, no_grad


class GradcheckError(AssertionError):
    """Raised when an analytic gradient disagrees with finite differences."""


def _outputs(fn, inputs):
    out = fn(*inputs)
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _pairing(outs, cotangents):
    """``sum Re(conj(u) * y)`` over the outputs: the real loss whose gradient backward computes from ``u``."""
    return sum(float((u.conj() * o.data.astype(np.complex128 if o.dtype.kind == "c" else np.float64)).real.sum())
               for o, u in zip(outs, cotangents))


def _random_like(rng, xp, shape, dtype):
    """Standard normal values of ``shape``; complex ones (both parts random) for a complex ``dtype``."""
    values = rng.standard_normal(shape)
    if dtype.kind == "c":
        values = values + 1j * rng.standard_normal(shape)
    return xp.asarray(values)


def gradcheck(fn, inputs, *, eps=1e-6, atol=1e-6, rtol=1e-5, raise_exception=True, nondet_tol=0.0,
              check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
              check_batched_forward_grad=False, check_forward_ad=False, check_backward_ad=True, fast_mode=False,
              masked=None, directions=3, coordinate_limit=32, seed=0):
    """Check the gradients of ``fn`` at ``inputs`` (tensors; those that require grad are checked).

    Inputs should be float64. Returns ``True``; on a disagreement raises ``GradcheckError`` naming the input and
    direction, or returns ``False`` with ``raise_exception=False``. PyTorch's other keyword arguments are accepted:
    ``nondet_tol`` widens ``atol``; the checks this engine has no counterpart for (forward-mode AD, batched
    gradients) raise when asked for.
    """
    unsupported = [name for name, asked in (("check_forward_ad", check_forward_ad), ("check_batched_grad",
                   check_batched_grad), ("check_batched_forward_grad", check_batched_forward_grad)) if asked]
    if unsupported:
        raise ValueError(f"gradcheck: {', '.join(unsupported)} need forward-mode or batched autodiff, which "
                         f"sparktensor does not have")
    if not check_backward_ad:
        return True
    try:
        return _gradcheck(fn, inputs, eps, atol + nondet_tol, rtol, directions, coordinate_limit, seed)
    except GradcheckError:
        if raise_exception:
            raise
        return False


def _gradcheck(fn, inputs, eps, atol, rtol, directions, coordinate_limit, seed):
    from ..tensor import Tensor
    from .differentiation import grad
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    for i in checked:
        if inputs[i].dtype not in (np.float64, np.complex128):
            raise ValueError(f"gradcheck: input {i} is {inputs[i].dtype}; use float64 (or complex128) for finite "
                             f"differences")
    rng = np.random.default_rng(seed)
    outs = _outputs(fn, inputs)
    xp = get_array_module(inputs[checked[0]].data)
    cotangents = [_random_like(rng, xp, o.shape, o.dtype) for o in outs]
    differentiable = [o for o in outs if o.requires_grad]
    if not differentiable:
        raise GradcheckError("gradcheck: no output depends on an input that requires grad")
    analytic = grad([o for o in outs if o.requires_grad],
                    [inputs[i] for i in checked],
                    [Tensor(u.astype(o.dtype)) for o, u in zip(outs, cotangents) if o.requires_grad],
                    allow_unused=True)
    analytic = [xp.zeros(inputs[i].shape) if g is None else g.data for i, g in zip(checked, analytic)]

    def directional(direction_per_input):
        shifted = []
        for sign in (1, -1):
            moved = list(inputs)
            for i, v in zip(checked, direction_per_input):
                moved[i] = Tensor(inputs[i].data + sign * eps * v)
            with no_grad():
                shifted.append(_pairing(_outputs(fn, moved), cotangents))
        return (shifted[0] - shifted[1]) / (2 * eps)

    def compare(what, directions_):
        numeric = directional(directions_)
        # a gradient g (PyTorch's convention for complex inputs) changes the loss by Re(conj(g) * v) along v
        exact = sum(float((g.conj() * v).real.sum()) for g, v in zip(analytic, directions_))
        if not abs(numeric - exact) <= atol + rtol * abs(numeric):
            raise GradcheckError(f"gradcheck: {what}: backward gives {exact:.10g}, central differences give "
                                 f"{numeric:.10g} (difference {abs(numeric - exact):.3g})")

    for d in range(directions):
        vs = [_random_like(rng, xp, inputs[i].shape, inputs[i].dtype) for i in checked]
        compare(f"random direction {d}", vs)
    for k, i in enumerate(checked):
        if inputs[i].size <= coordinate_limit:
            for flat in range(inputs[i].size):
                for unit in ((1.0, 1j) if inputs[i].dtype.kind == "c" else (1.0,)):
                    vs = [xp.zeros(inputs[j].shape, inputs[j].dtype) for j in checked]
                    vs[k].reshape(-1)[flat] = unit
                    compare(f"input {i}, element {np.unravel_index(flat, inputs[i].shape)}"
                            + (" (imaginary part)" if unit == 1j else ""), vs)
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3, gen_non_contig_grad_outputs=False,
                  raise_exception=True, nondet_tol=0.0, check_undefined_grad=True, check_grad_dtypes=False,
                  check_batched_grad=False, check_fwd_over_rev=False, check_rev_over_rev=True, fast_mode=False,
                  masked=False, directions=3, coordinate_limit=32, seed=0):
    """Check second derivatives: ``gradcheck`` of the map from ``(inputs, grad_outputs)`` to the gradients of
    ``fn`` (computed with ``create_graph=True``). ``grad_outputs`` default to random float64 (or complex128)
    tensors that require grad. Returns ``True``, or raises ``GradcheckError`` (``False`` with
    ``raise_exception=False``), as PyTorch's."""
    from ..tensor import Tensor
    from .differentiation import grad
    if check_fwd_over_rev or check_batched_grad:
        raise ValueError("gradgradcheck: check_fwd_over_rev and check_batched_grad need forward-mode or batched "
                         "autodiff, which sparktensor does not have")
    if not check_rev_over_rev:
        return True
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    outs = [o for o in _outputs(fn, inputs) if o.requires_grad]
    if grad_outputs is None:
        rng = np.random.default_rng(seed + 1)
        grad_outputs = tuple(Tensor(_random_like(rng, get_array_module(o.data), o.shape,
                                                 np.dtype(np.complex128 if o.dtype.kind == "c" else np.float64)),
                                    requires_grad=True) for o in outs)
    grad_outputs = tuple(grad_outputs) if isinstance(grad_outputs, (tuple, list)) else (grad_outputs,)
    n = len(inputs)

    def first_derivatives(*args):
        xs, us = list(args[:n]), args[n:]
        for i in checked:  # the shifted copies of gradcheck's central differences come without requires_grad
            xs[i] = xs[i] if xs[i].requires_grad else xs[i].detach().requires_grad_()
        with enable_grad():
            ys = [o for o in _outputs(fn, xs) if o.requires_grad]
            got = grad(ys, [xs[i] for i in checked], list(us), create_graph=True, allow_unused=True)
        return tuple(g for g in got if g is not None)

    try:
        return _gradcheck(first_derivatives, inputs + grad_outputs, eps, atol + nondet_tol, rtol, directions,
                          coordinate_limit, seed)
    except GradcheckError:
        if raise_exception:
            raise
        return False
