"""``Optimizer``: parameter groups, per-parameter state and PyTorch-layout state dicts.

Subclasses define ``_step_group(group, params)``, which updates the raw arrays
(``p.data``) of the parameters that have a gradient, in place and without a graph; the
built-in ones do it in one pass over cache-sized pieces (``parallel.update_in_chunks``).
"""
import copy
from collections import defaultdict

import numpy as np

from .. import backend
from ..autograd.grad_mode import enable_grad
from ..creation import as_array
from ..tensor import Tensor

_UNORDERED = ("optimizer parameters must be an ordered collection (a set's order changes between runs, and state "
              "dicts refer to parameters by position); use a list")


class Optimizer:
    """Base class of optimizers: ``param_groups`` with their options, ``state`` per parameter, ``step()``."""

    def __init__(self, params, defaults):
        if isinstance(params, Tensor):
            raise TypeError("params should be an iterable of Tensors or dicts, not a single Tensor; wrap it in a list")
        if isinstance(params, (set, frozenset)):
            raise TypeError(_UNORDERED)
        self.defaults = dict(defaults)
        self.state = defaultdict(dict)
        self.param_groups = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add a group: a dict with ``"params"`` and options that override the optimizer's defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict, not {type(param_group).__name__}")
        index = len(self.param_groups)
        if "params" not in param_group:
            raise ValueError(f"parameter group {index} has no 'params' entry")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(_UNORDERED)
        group["params"] = params = list(params)
        for i, p in enumerate(params):
            where = f"parameter group {index}, parameter {i}"
            if not isinstance(p, Tensor):
                raise TypeError(f"{where} is a {type(p).__name__}; an optimizer can only optimize Tensors")
            if p.dtype.kind != "f":
                raise TypeError(f"{where} has dtype {p.dtype}; only floating-point tensors can be optimized")
            if not p.is_leaf:
                raise ValueError(f"{where} is not a leaf tensor (an op computed it); optimize the leaf it comes "
                                 f"from, or a detached copy")
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        if "lr" in group and not group["lr"] >= 0:
            raise ValueError(f"parameter group {index}: invalid learning rate {group['lr']!r}, it must be >= 0")
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids):
            raise ValueError(f"parameter group {index} lists a parameter more than once")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if seen.intersection(ids):
            raise ValueError(f"parameter group {index} shares parameters with an earlier group; "
                             f"each parameter may appear in one group only")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Forget the gradients: set ``.grad`` to ``None`` (default), or fill it with zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad.zero_()

    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                swapped = self._masters_in(params)
                try:
                    self._step_group(group, params)
                finally:
                    _masters_out(swapped)
                for p in params:
                    p._bump_version()
        return loss

    def _masters_in(self, params):
        """Give each float16 parameter its float32 master copy (and a float32 gradient) for the update.

        Updating float16 weights in float16 loses every step smaller than their spacing, and Adam's ``eps`` (1e-8)
        is 0 in float16, so a zero gradient divides 0 by 0. The master copy, kept in ``_masters``, is taken again
        from the parameter whenever the parameter was changed from outside (a ``load_state_dict``, say).
        """
        masters = self.__dict__.setdefault("_masters", {})
        swapped = []
        for p in params:
            if p.dtype != np.float16:
                continue
            master = masters.get(p)
            if master is None or master.shape != p.shape or not (master.astype(np.float16) == p.data).all():
                master = masters[p] = p.data.astype(np.float32)
            swapped.append((p, p.data, p.grad))
            p.data, p.grad = master, Tensor(p.grad.data.astype(np.float32, copy=False))
        return swapped

    def _step_group(self, group, params):
        raise NotImplementedError(f"{type(self).__name__} must define _step_group(group, params)")

    # ----- state dicts -----
    def state_dict(self):
        """The state in PyTorch's layout: ``{"state": {index: {...}}, "param_groups": [{..., "params": [index]}]}``.

        The state tensors are the live ones, as in PyTorch: save or copy the dict before stepping on.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if s}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a state dict of this optimizer or of its PyTorch twin; tensors are copied to the parameters' devices."""
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"the loaded state dict has {len(saved_groups)} parameter group(s), this optimizer has "
                             f"{len(self.param_groups)}")
        id_map = {}
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"parameter group {i} has {len(saved['params'])} parameter(s) in the loaded state "
                                 f"dict but {len(group['params'])} in this optimizer")
            id_map.update(zip(saved["params"], group["params"]))
        state = defaultdict(dict)
        for key, values in state_dict["state"].items():
            if key not in id_map:
                raise ValueError(f"the loaded state dict has state for parameter {key!r}, which is in none of its "
                                 f"parameter groups")
            p = id_map[key]
            state[p] = {name: _state_value(v, p, name) for name, v in values.items()}
        groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            new = copy.deepcopy({k: v for k, v in saved.items() if k != "params"})
            for name, default in self.defaults.items():
                new.setdefault(name, default)  # a dict saved by an older version may lack newer options
            new["params"] = group["params"]
            groups.append(new)
        self.state, self.param_groups = state, groups

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {group[k]}" for k in sorted(group) if k != "params")
        lines.append(")")
        return "\n".join(lines)


def _masters_out(swapped):
    """Round the updated master copies into the float16 parameters and give them back their own arrays."""
    for p, data, grad in swapped:
        data[...] = p.data
        p.data, p.grad = data, grad


def _state_value(value, param, name):
    """A loaded state entry as a copied Tensor: ``step`` float32 on the CPU (as PyTorch), the rest like ``param``."""
    if isinstance(value, Tensor):
        value = value.data
    if not (isinstance(value, (int, float, np.ndarray, np.generic)) or hasattr(value, "__array__")
            or backend.is_cupy_array(value)):
        return copy.deepcopy(value)
    if name == "step":
        return Tensor(as_array(value, np.float32, "cpu", copy=True))
    dtype = np.float32 if param.dtype == np.float16 else param.dtype  # float16 parameters keep float32 state
    return Tensor(as_array(value, dtype, param.device, copy=True))


def step_counter():
    """A fresh ``step`` state entry: a float32 scalar on the CPU, as PyTorch keeps it."""
    return Tensor(np.zeros((), np.float32))


def advance(counter):
    """Add one to a ``step`` state entry in place and return the new count as a float."""
    counter.data += 1
    return float(counter.data)


def direction_(xp, g, x, weight_decay, maximize, out):
    """The gradient ``g`` of weight ``x`` with ``maximize`` and L2 ``weight_decay`` applied, in ``out`` when
    either is set (else ``g`` itself, which callers must not write to)."""
    if not weight_decay and not maximize:
        return g
    if not weight_decay:
        return xp.negative(g, out=out)
    xp.multiply(x, weight_decay, out=out)
    # PyTorch adds wd * x to -g; negation is exact, so wd * x - g rounds the same
    return xp.subtract(out, g, out=out) if maximize else xp.add(g, out, out=out)


def axpy_(xp, y, a, x, tmp):
    """``y += a * x`` in place, through the scratch ``tmp``."""
    if a == 1:
        return xp.add(y, x, out=y)
    xp.multiply(x, a, out=tmp)
    return xp.add(y, tmp, out=y)


def addcmul_(xp, y, x1, x2, value, tmp):
    """``y += value * x1 * x2`` in place (PyTorch's ``addcmul_``), through the scratch ``tmp``."""
    xp.multiply(x1, value, out=tmp)
    xp.multiply(tmp, x2, out=tmp)
    return xp.add(y, tmp, out=y)


def lerp_(xp, start, end, weight, tmp):
    """``start += weight * (end - start)`` in place, with PyTorch's two formulas (each exact at its end)."""
    xp.subtract(end, start, out=tmp)
    if weight < 0.5:
        xp.multiply(tmp, weight, out=tmp)
        return xp.add(start, tmp, out=start)
    xp.multiply(tmp, 1 - weight, out=tmp)
    return xp.subtract(end, tmp, out=start)


def check_non_negative(**values):
    """Raise a ``ValueError`` naming the first hyperparameter that is negative (or NaN)."""
    for name, value in values.items():
        if not value >= 0:
            raise ValueError(f"invalid {name} {value!r}: it must be >= 0")
