"""``FlatLayout``: a model's parameters, buffers and optimizer state as one flat NumPy buffer, and back.

One buffer per round is what travels: one broadcast out, one array per worker back, one sum in the tree
aggregation. The layout is plain data (names, shapes, dtypes), so it pickles without code.

Buffer order: parameters (``model.named_parameters()``), then buffers (``model.named_buffers()``, e.g. batch
norm statistics; integer ones are stored as floats and rounded back), then the optimizer's state entries
(``exp_avg``, ``momentum_buffer``, ``step``...) per optimizer parameter.
"""

import numpy as np

from ... import backend
from ...tensor import Tensor
from .shipping import copied


class FlatLayout:
    """Where each parameter, buffer and optimizer state entry lives in a flat buffer of ``dtype``."""

    def __init__(self, model, optimizer=None):
        params = list(model.named_parameters())
        if not params:
            raise ValueError(f"{type(model).__name__} has no parameters to train")
        self.params = [(name, tuple(p.shape), p.dtype.str) for name, p in params]
        self.buffers = [(name, tuple(b.shape), b.dtype.str) for name, b in model.named_buffers()]
        self.state = _state_entries(model, optimizer) if optimizer is not None else []
        # the optimizer's state counts: float16 weights have float32 state (and master copies), kept in float32
        self.dtype = np.result_type(*[p.dtype for _, p in params], *[np.dtype(e[3]) for e in self.state]).str
        self.weights_size = sum(_size(s) for _, s, _ in self.params + self.buffers)
        self.params_size = sum(_size(s) for _, s, _ in self.params)
        self.size = self.weights_size + sum(_size(s) for _, _, s, _, _ in self.state)

    def flatten(self, model, optimizer=None):
        """A new buffer of the weights, followed by the optimizer state when ``optimizer`` is given.

        Entries the optimizer has not created yet (a parameter it never stepped) are zeros.
        """
        out = np.empty(self.size if optimizer is not None else self.weights_size, np.dtype(self.dtype))
        offset = 0
        for t, shape in self._weights(model):
            offset = _put(out, offset, t, shape)
        if optimizer is not None:
            params = _optimizer_params(optimizer)
            for index, key, shape, _, _ in self.state:
                offset = _put(out, offset, optimizer.state.get(params[index], {}).get(key), shape)
        return out

    def unflatten(self, flat, model, optimizer=None):
        """Copy ``flat`` into the model's parameters and buffers (and the optimizer's state), in place."""
        expected = self.size if optimizer is not None else self.weights_size
        if flat.shape != (expected,) and not (optimizer is None and flat.shape == (self.size,)):
            raise ValueError(f"flat buffer of {flat.size} values, the layout needs {expected}")
        offset = 0
        for t, shape in self._weights(model):
            offset = _get(flat, offset, t, shape)
        if optimizer is not None:
            params = _optimizer_params(optimizer)
            for index, key, shape, dtype, on_param_device in self.state:
                p = params[index]
                state = optimizer.state[p]
                n = _size(shape)
                t = state.get(key)
                if not isinstance(t, Tensor) or tuple(t.shape) != shape:
                    device = p.device if on_param_device else "cpu"
                    t = state[key] = Tensor(backend.to_device(np.zeros(shape, dtype), device))
                _get(flat, offset, t, shape)
                offset += n

    def flatten_grads(self, model):
        """The parameters' gradients (zeros where there is none), then the buffers, as one buffer."""
        out = np.empty(self.weights_size, np.dtype(self.dtype))
        offset = 0
        for name, p in self._check(model.named_parameters(), self.params, "parameter"):
            offset = _put(out, offset, p.grad, tuple(p.shape))
        for name, b in self._check(model.named_buffers(), self.buffers, "buffer"):
            offset = _put(out, offset, b, tuple(b.shape))
        return out

    def set_grads(self, flat, model):
        """Set each parameter's ``grad`` from the first section of ``flat``; load the buffers from the rest."""
        offset = 0
        for name, p in self._check(model.named_parameters(), self.params, "parameter"):
            n = _size(p.shape)
            grad = flat[offset:offset + n].reshape(p.shape).astype(p.dtype)
            p.grad = Tensor(backend.to_device(grad, p.device))
            offset += n
        for name, b in self._check(model.named_buffers(), self.buffers, "buffer"):
            offset = _get(flat, offset, b, tuple(b.shape))

    def _weights(self, model):
        for _, t in self._check(model.named_parameters(), self.params, "parameter"):
            yield t, tuple(t.shape)
        for _, t in self._check(model.named_buffers(), self.buffers, "buffer"):
            yield t, tuple(t.shape)

    @staticmethod
    def _check(named, expected, what):
        named = list(named)
        if [(n, tuple(t.shape)) for n, t in named] != [(n, s) for n, s, _ in expected]:
            raise ValueError(f"the model's {what}s {[(n, tuple(t.shape)) for n, t in named]} do not match the "
                             f"layout {[(n, s) for n, s, _ in expected]}")
        return named

    def __repr__(self):
        return (f"FlatLayout({len(self.params)} parameters, {len(self.buffers)} buffers, {len(self.state)} "
                f"optimizer state entries, {self.size} values of {np.dtype(self.dtype)})")


def _size(shape):
    return int(np.prod(shape, dtype=np.int64))


def _put(out, offset, t, shape):
    n = _size(shape)
    if t is None:
        out[offset:offset + n] = 0
    else:
        out[offset:offset + n] = backend.to_device(t.data, "cpu").reshape(-1)
    return offset + n


def _get(flat, offset, t, shape):
    n = _size(shape)
    values = flat[offset:offset + n].reshape(shape)
    if t.dtype.kind in "biu":
        values = np.rint(values)
    if isinstance(t.data, np.ndarray):
        t.data[...] = values  # casts while it copies
    else:
        t.data[...] = backend.to_device(values.astype(t.dtype), backend.device_of(t.data))
    t._bump_version()
    return offset + n


def _optimizer_params(optimizer):
    return [p for group in optimizer.param_groups for p in group["params"]]


def _state_entries(model, optimizer):
    """``(parameter index, key, shape, dtype, on the parameter's device)`` for each array of optimizer state.

    An optimizer creates its state at its first step, so the entries come from one step with zero gradients
    on a copy of the model and optimizer (or from the state the optimizer already has).
    """
    params = _optimizer_params(optimizer)
    if not all(optimizer.state.get(p) for p in params):
        model, optimizer = copied((model, optimizer), ("model", "optimizer"))
        params = _optimizer_params(optimizer)
        for p in params:
            p.grad = Tensor(backend.get_array_module(p.data).zeros_like(p.data))
        optimizer.step()
    entries = []
    for index, p in enumerate(params):
        for key, value in optimizer.state.get(p, {}).items():
            if isinstance(value, Tensor):
                entries.append((index, key, tuple(value.shape), value.dtype.str,
                                backend.device_of(value.data) == backend.device_of(p.data) and key != "step"))
            elif not isinstance(value, (int, float, bool, type(None))):
                raise TypeError(f"{type(optimizer).__name__} keeps a {type(value).__name__} in its state "
                                f"({key!r}); only tensors can be averaged across workers")
    return entries
