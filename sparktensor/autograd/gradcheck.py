"""``gradcheck``: compare backward with float64 central differences along random directions.

For a random output cotangent ``u`` and a random input direction ``v``, backward
gives ``<v, J^T u>``; a central difference of ``<u, f(x + eps v)>`` gives the same
number. Agreement along a few random directions catches wrong gradients with
probability one, at the cost of two evaluations per direction. Small inputs are
also checked one coordinate at a time.
"""
import numpy as np

from ..backend import get_array_module
from .grad_mode import no_grad


class GradcheckError(AssertionError):
    """Raised when an analytic gradient disagrees with finite differences."""


def _outputs(fn, inputs):
    out = fn(*inputs)
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _pairing(outs, cotangents):
    return sum(float((o.data.astype(np.float64) * u).sum()) for o, u in zip(outs, cotangents))


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
    from .functional import grad
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise ValueError(f"gradcheck: input {i} is {inputs[i].dtype}; use float64 for finite differences")
    rng = np.random.default_rng(seed)
    outs = _outputs(fn, inputs)
    xp = get_array_module(inputs[checked[0]].data)
    cotangents = [xp.asarray(rng.standard_normal(o.shape)) for o in outs]
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
        exact = sum(float((g * v).sum()) for g, v in zip(analytic, directions_))
        if not abs(numeric - exact) <= atol + rtol * abs(numeric):
            raise GradcheckError(f"gradcheck: {what}: backward gives {exact:.10g}, central differences give "
                                 f"{numeric:.10g} (difference {abs(numeric - exact):.3g})")

    for d in range(directions):
        vs = [xp.asarray(rng.standard_normal(inputs[i].shape)) for i in checked]
        compare(f"random direction {d}", vs)
    for k, i in enumerate(checked):
        if inputs[i].size <= coordinate_limit:
            for flat in range(inputs[i].size):
                vs = [xp.zeros(inputs[j].shape) for j in checked]
                vs[k].reshape(-1)[flat] = 1.0
                compare(f"input {i}, element {np.unravel_index(flat, inputs[i].shape)}", vs)
    return True
