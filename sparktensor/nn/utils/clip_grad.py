"""Gradient clipping in place: ``clip_grad_norm_`` scales gradients to a joint norm of at most ``max_norm``;
``clip_grad_value_`` clamps every element to ``[-clip_value, clip_value]``."""
import numpy as np

from ... import backend
from ...tensor import Tensor


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale the ``.grad`` of ``parameters`` in place to a joint norm <= ``max_norm``; returns the prior norm."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    norm_type = float(norm_type)
    if not grads:
        return Tensor(np.zeros((), np.float32))
    device = grads[0].device
    xp = backend.array_module_for(device)
    # the norm of the per-tensor norms is the norm of all elements together, for every order
    norms = [backend.to_device(_norm(g.data, norm_type), device) for g in grads]
    with backend.device_context(device):
        total = xp.asarray(_norm(xp.stack([xp.asarray(n) for n in norms]), norm_type))
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is non-finite ({total}), so it "
                           f"cannot be clipped; pass error_if_nonfinite=False to scale them by it anyway")
    # multiply even when the factor is 1: testing it would wait for the GPU
    factor = xp.minimum(max_norm / (total + 1e-6), 1.0)
    for g in grads:
        xp_g = backend.get_array_module(g.data)
        xp_g.multiply(g.data, backend.to_device(factor, g.device).astype(g.dtype), out=g.data)
        g._bump_version()
    return Tensor(total)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every element of the ``.grad`` of ``parameters`` to ``[-clip_value, clip_value]`` in place.

    Returns None, as PyTorch's does; ``foreach`` is accepted for PyTorch's signature and changes nothing.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    clip_value = float(clip_value)
    for p in parameters:
        g = p.grad
        if g is None:
            continue
        backend.get_array_module(g.data).clip(g.data, -clip_value, clip_value, out=g.data)
        g._bump_version()


def _norm(x, norm_type):
    return backend.get_array_module(x).linalg.norm(x.reshape(-1), ord=norm_type)
