"""``GradScaler``: loss scaling for float16 training, with PyTorch's scale schedule and state dict."""
import math

import numpy as np

from ..backend import get_array_module
from ..tensor import Tensor

_READY, _UNSCALED, _STEPPED = "ready", "unscaled", "stepped"


class GradScaler:
    """Multiply the loss by ``scale`` so float16 gradients do not underflow, unscale them before the step, skip the
    steps whose gradients hold inf or NaN and adapt the scale, as ``torch.amp.GradScaler``.

    Args:
        device: accepted for PyTorch's sake (``"cpu"`` or ``"cuda"``).
        init_scale: the first scale (2**16).
        growth_factor: the scale is multiplied by it after ``growth_interval`` steps without inf or NaN.
        backoff_factor: the scale is multiplied by it after a step with inf or NaN (which is skipped).
        growth_interval: finite steps in a row before the scale grows.
        enabled: ``False`` makes every method a pass-through (``scale`` returns the loss as it is).

    Unlike PyTorch's, ``unscale_`` takes float16 gradients: it gives them back in float32 (the optimizers keep
    float32 master weights for float16 parameters), where PyTorch raises "Attempting to unscale FP16 gradients".
    """

    def __init__(self, device="cpu", init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        if not growth_factor > 1.0:
            raise ValueError(f"GradScaler: growth_factor must be > 1, got {growth_factor!r}")
        if not 0.0 < backoff_factor < 1.0:
            raise ValueError(f"GradScaler: backoff_factor must be in (0, 1), got {backoff_factor!r}")
        if isinstance(growth_interval, bool) or not isinstance(growth_interval, int) or growth_interval < 1:
            raise ValueError(f"GradScaler: growth_interval must be a positive integer, got {growth_interval!r}")
        self.device, self._enabled = device, bool(enabled)
        self._scale = np.float32(init_scale)
        self._growth_factor, self._backoff_factor = float(growth_factor), float(backoff_factor)
        self._growth_interval, self._growth_tracker = int(growth_interval), 0
        self._per_optimizer = {}  # id(optimizer) -> {"stage", "found_inf"}

    def is_enabled(self):
        """Whether scaling is on."""
        return self._enabled

    def scale(self, outputs):
        """``outputs`` times the scale: a tensor, or tensors in (nested) lists and tuples."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            xp = get_array_module(outputs.data)
            dtype = outputs.dtype if outputs.dtype.kind == "f" else np.float32
            return outputs * Tensor(xp.asarray(self._scale, dtype))  # on the outputs' device
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise TypeError(f"GradScaler.scale: outputs must be a Tensor or a list/tuple of them, got "
                        f"{type(outputs).__name__}")

    def _state(self, optimizer):
        return self._per_optimizer.setdefault(id(optimizer), {"stage": _READY, "found_inf": False})

    def unscale_(self, optimizer):
        """Divide the gradients of ``optimizer``'s parameters by the scale, in place, and note any inf or NaN."""
        if not self._enabled:
            return
        state = self._state(optimizer)
        if state["stage"] == _UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update()")
        if state["stage"] == _STEPPED:
            raise RuntimeError("unscale_() is being called after step()")
        inv_scale = np.float32(np.float64(1.0) / np.float64(self._scale))
        found_inf = False
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.data
                xp = get_array_module(g)
                if g.dtype == np.float32:
                    xp.multiply(g, inv_scale, out=g)
                else:  # float16 gradients come back in float32: unscaled in float16 they would underflow again
                    g = g.astype(np.float32) * inv_scale if g.dtype == np.float16 else g * g.dtype.type(inv_scale)
                    p.grad = Tensor(g)
                found_inf = found_inf or not bool(xp.isfinite(g).all())
        state["found_inf"], state["stage"] = found_inf, _UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """Unscale (unless ``unscale_`` did) and call ``optimizer.step()``, unless a gradient is inf or NaN."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("closure use is not currently supported if GradScaler is enabled")
        state = self._state(optimizer)
        if state["stage"] == _STEPPED:
            raise RuntimeError("step() has already been called since the last update()")
        if state["stage"] == _READY:
            self.unscale_(optimizer)
        result = None if state["found_inf"] else optimizer.step(*args, **kwargs)
        state["stage"] = _STEPPED
        return result

    def update(self, new_scale=None):
        """Adapt the scale after the iteration's steps (or set ``new_scale``)."""
        if not self._enabled:
            return
        if new_scale is not None:
            value = new_scale.item() if isinstance(new_scale, Tensor) else new_scale
            self._scale = np.float32(value)
        else:
            if not self._per_optimizer:
                raise AssertionError("No inf checks were recorded prior to update.")
            if any(s["found_inf"] for s in self._per_optimizer.values()):
                self._scale = np.float32(self._scale * np.float32(self._backoff_factor))
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    grown = np.float32(self._scale * np.float32(self._growth_factor))
                    if math.isfinite(grown):
                        self._scale = grown
                    self._growth_tracker = 0
        self._per_optimizer = {}

    def get_scale(self):
        """The current scale, a Python float (1.0 when disabled)."""
        return float(self._scale) if self._enabled else 1.0

    def get_growth_factor(self):
        """The factor the scale grows by."""
        return self._growth_factor

    def set_growth_factor(self, new_factor):
        """Set the factor the scale grows by."""
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self):
        """The factor the scale shrinks by after inf or NaN."""
        return self._backoff_factor

    def set_backoff_factor(self, new_factor):
        """Set the factor the scale shrinks by."""
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self):
        """Finite steps in a row before the scale grows."""
        return self._growth_interval

    def set_growth_interval(self, new_interval):
        """Set the finite steps in a row before the scale grows."""
        self._growth_interval = int(new_interval)

    def state_dict(self):
        """PyTorch's keys: ``scale``, ``growth_factor``, ``backoff_factor``, ``growth_interval``, ``_growth_tracker``."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict):
        """Load a state dict of this class or of ``torch.amp.GradScaler``."""
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved from a disabled "
                               "instance of GradScaler.")
        self._scale = np.float32(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])
