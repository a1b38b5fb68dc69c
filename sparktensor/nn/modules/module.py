"""``Module``: the base of layers and networks, with parameters, buffers, submodules and state dicts."""
from collections import OrderedDict

import numpy as np

from ... import backend
from ...autograd.function import Function
from ...autograd.hooks import RemovableHandle
from ...tensor import Tensor
from ..parameter import Parameter


class Module:
    """Base class of all layers: assign Parameters, buffers and Modules as attributes and define ``forward``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        d = self.__dict__
        if d.get("_forward_pre_hooks") or d.get("_forward_hooks") or d.get("_backward_hooks"):
            return _call_with_hooks(self, args, kwargs)
        return self.forward(*args, **kwargs)

    # ----- hooks, as PyTorch's -----
    def _hook_table(self, name):
        table = self.__dict__.get(name)
        if table is None:
            table = OrderedDict()
            object.__setattr__(self, name, table)
        return table

    def _add_hook(self, name, hook, prepend=False, **flags):
        table = self._hook_table(name)
        handle = RemovableHandle(table)
        table[handle.id] = (hook, flags)
        if prepend:
            table.move_to_end(handle.id, last=False)
        return handle

    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """Call ``hook(module, args)`` (``hook(module, args, kwargs)`` with ``with_kwargs``) before ``forward``; what
        it returns, if not ``None``, replaces the arguments. Returns a handle with ``remove()``."""
        return self._add_hook("_forward_pre_hooks", hook, prepend, with_kwargs=with_kwargs)

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False, always_call=False):
        """Call ``hook(module, args, output)`` (``hook(module, args, kwargs, output)`` with ``with_kwargs``) after
        ``forward``; what it returns, if not ``None``, replaces the output. ``always_call`` runs it even when
        ``forward`` raised. Returns a handle with ``remove()``."""
        return self._add_hook("_forward_hooks", hook, prepend, with_kwargs=with_kwargs, always_call=always_call)

    def register_full_backward_hook(self, hook, prepend=False):
        """Call ``hook(module, grad_input, grad_output)`` once the gradients of the module's tensor inputs are
        computed (``None`` for inputs that need none); a returned tuple replaces ``grad_input``."""
        return self._add_hook("_backward_hooks", hook, prepend)

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """Call ``hook(module, grad_output)`` before the module's backward; a returned tuple replaces ``grad_output``."""
        return self._add_hook("_backward_hooks", hook, prepend, pre=True)

    # ----- registration -----
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"call super().__init__() in {type(self).__name__}.__init__ before assigning {name!r}")
        params = self._parameters
        if name in params and not isinstance(value, Parameter):
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} of "
                                f"{type(self).__name__} (Parameter or None expected); wrap it as "
                                f"nn.Parameter(value), or copy into the parameter under st.no_grad()")
            params[name] = None
            return
        if name in self._buffers and value is not None and not isinstance(value, Tensor):
            raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} of {type(self).__name__} "
                            f"(Tensor or None expected)")
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in self.__dict__.get("_buffer_names", ()):
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if table in d and name in d[table]:
                return d[table][name]
        raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}")

    def __delattr__(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter or None) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"{name}: expected a Parameter or None, got {type(param).__name__}")
        self.__dict__.pop(name, None)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Register a tensor that is state but not a parameter (e.g. running statistics)."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"{name}: a buffer must be a Tensor or None, got {type(tensor).__name__}")
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor
        self.__dict__.setdefault("_buffer_names", set()).add(name)
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        """Register a submodule under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{name}: expected a Module, got {type(module).__name__}")
        self._modules[name] = module

    # ----- traversal -----
    def named_modules(self, prefix="", remove_duplicate=True):
        """``(name, module)`` for this module and every submodule, depth first; a module registered under several
        names comes once, unless ``remove_duplicate=False`` (then once per name, as state dicts list it)."""
        stack = [(prefix, self, ())]
        seen = set()
        while stack:
            name, module, ancestors = stack.pop()
            if id(module) in (seen if remove_duplicate else ancestors):  # a module inside itself ends its branch
                continue
            seen.add(id(module))
            yield name, module
            path = ancestors + (id(module),)
            children = [(f"{name}.{n}" if name else n, m, path) for n, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self):
        """This module and every submodule."""
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        """``(name, module)`` of the direct submodules."""
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self):
        """The direct submodules."""
        for _, m in self.named_children():
            yield m

    def _named_members(self, table, recurse=True):
        seen = set()
        modules = self.named_modules() if recurse else [("", self)]
        for prefix, module in modules:
            for name, t in getattr(module, table).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{prefix}.{name}" if prefix else name), t

    def named_parameters(self, recurse=True):
        """``(dotted name, parameter)`` for every parameter, each shared one once."""
        return self._named_members("_parameters", recurse)

    def parameters(self, recurse=True):
        """Every parameter, each shared one once."""
        for _, p in self.named_parameters(recurse):
            yield p

    def named_buffers(self, recurse=True):
        """``(dotted name, buffer)`` for every buffer."""
        return self._named_members("_buffers", recurse)

    def buffers(self, recurse=True):
        """Every buffer."""
        for _, b in self.named_buffers(recurse):
            yield b

    # ----- modes and devices -----
    def train(self, mode=True):
        """Set training mode (dropout active, batch norm updating its statistics); returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        """Set evaluation mode; returns self."""
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Forget the gradients of all parameters."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    def _apply(self, convert):
        for m in self.modules():
            for name, p in m._parameters.items():
                if p is not None:
                    p.data = convert(p.data)
                    p._bump_version()
                    if p.grad is not None:
                        p.grad = Tensor(convert(p.grad.data))
            for name, b in m._buffers.items():
                if b is not None:
                    m._buffers[name] = Tensor(convert(b.data))
        return self

    def to(self, *args, dtype=None, device=None):
        """Move parameters and buffers to a device and/or convert floating ones to a dtype, in place; returns self."""
        from ... import dtypes
        dtype, device = dtypes.parse_to_args(args, dtype, device)
        target = None if device is None else backend.parse_device(device)
        dtype = dtypes.as_dtype(dtype)

        def convert(array):
            if target is not None:
                array = backend.to_device(array, target)
            if dtype is not None and array.dtype.kind == "f":
                array = array.astype(dtype)
            return array
        return self._apply(convert)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, index=None):
        return self.to("cuda" if index is None else f"cuda:{index}")

    def float(self):
        return self.to(dtype="float32")

    def double(self):
        return self.to(dtype="float64")

    def half(self):
        return self.to(dtype="float16")

    def requires_grad_(self, requires_grad=True):
        """Turn gradients of every parameter on or off; returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def apply(self, fn):
        """Call ``fn`` on every submodule and then on this module; returns self."""
        for m in self.children():  # children first, in order, as PyTorch
            m.apply(fn)
        fn(self)
        return self

    # ----- state dicts -----
    def state_dict(self, prefix=""):
        """An ordered mapping from PyTorch-style dotted names to parameter and persistent buffer tensors."""
        out = OrderedDict()
        for name, module in self.named_modules(remove_duplicate=False):  # a shared module under each of its names
            base = prefix + (name + "." if name else "")
            for key, p in module._parameters.items():
                if p is not None:
                    out[base + key] = p.detach()
            for key, b in module._buffers.items():
                if b is not None and key not in module._non_persistent:
                    out[base + key] = b.detach()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy values into the parameters and buffers; a mismatch raises one error listing every problem.

        Nothing is modified unless every entry fits (so a failed load leaves the module as it was).
        Returns ``(missing_keys, unexpected_keys)``.
        """
        own = self.state_dict()
        # a batch norm's step count is optional, as in PyTorch's loads of checkpoints from before it was kept: the
        # module keeps its own
        missing = [k for k in own if k not in state_dict and k.rsplit(".", 1)[-1] != "num_batches_tracked"]
        unexpected = [k for k in state_dict if k not in own]
        wrong_shape = []
        for k, target in own.items():
            if k in state_dict:
                shape = tuple(getattr(state_dict[k], "shape", ()))
                if shape != tuple(target.shape):
                    wrong_shape.append(f"{k}: checkpoint {shape}, model {tuple(target.shape)}")
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if wrong_shape:
            problems.append("shape mismatch: " + "; ".join(wrong_shape))
        if problems:
            raise RuntimeError(f"error loading state dict into {type(self).__name__}:\n  " + "\n  ".join(problems))
        tensors = {}
        for name, module in self.named_modules(remove_duplicate=False):
            base = name + "." if name else ""
            for table in (module._parameters, module._buffers):
                for key, t in table.items():
                    if t is not None and base + key in state_dict:
                        tensors[base + key] = (t, table, key, module)
        for k, (t, table, key, module) in tensors.items():
            value = state_dict[k]
            if isinstance(value, Tensor):
                value = value.data
            elif not (isinstance(value, np.ndarray) or backend.is_cupy_array(value)):
                value = np.asarray(value)
            # in place, so optimizers and views that hold the arrays stay valid
            t.data[...] = backend.to_device(value, t.device)
            t._bump_version()
        return missing, unexpected

    # ----- repr -----
    def extra_repr(self):
        """The layer's own settings, shown in ``repr``."""
        return ""

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if "\n" in extra:  # one entry a line (a parameter list), as PyTorch prints them
            lines, extra = [line for line in extra.split("\n") if line], ""
        for name, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        if not lines:
            return f"{type(self).__name__}({extra})"
        head = f"{type(self).__name__}(" + (extra if extra else "")
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def _call_with_hooks(module, args, kwargs):
    """``module(*args, **kwargs)`` with its forward pre-hooks, forward hooks and backward hooks."""
    for hook, flags in list(module.__dict__.get("_forward_pre_hooks", {}).values()):
        if flags["with_kwargs"]:
            result = hook(module, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(f"a forward pre-hook with kwargs must return (args, kwargs), got {result!r}")
                args, kwargs = result
        else:
            result = hook(module, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
    backward_hooks = list(module.__dict__.get("_backward_hooks", {}).values())
    state = None
    if backward_hooks and _grad_mode.is_grad_enabled():
        state = _BackwardHookState(module, backward_hooks, args)
        args = state.wrap_inputs(args)
    forward_hooks = list(module.__dict__.get("_forward_hooks", {}).values())
    try:
        output = module.forward(*args, **kwargs)
    except Exception:
        for hook, flags in forward_hooks:
            if flags["always_call"]:
                try:
                    hook(module, args, kwargs, None) if flags["with_kwargs"] else hook(module, args, None)
                except Exception:
                    pass
        raise
    for hook, flags in forward_hooks:
        result = hook(module, args, kwargs, output) if flags["with_kwargs"] else hook(module, args, output)
        if result is not None:
            output = result
    if state is not None:
        output = state.wrap_outputs(output)
    return output


class _Identity(Function):
    """Passes its tensors through; its backward hands their gradients to ``on_backward`` first."""

    @staticmethod
    def forward(ctx, *arrays, on_backward):
        ctx.on_backward = on_backward
        return arrays

    @staticmethod
    def backward(ctx, *grads):
        return tuple(ctx.on_backward(grads))


class _BackwardHookState:
    """The gradients around one call of a module with backward hooks (PyTorch's ``BackwardHook``)."""

    def __init__(self, module, hooks, args):
        self.module, self.hooks = module, hooks
        self.tensor_positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.grad_positions = [i for i in self.tensor_positions if args[i].requires_grad]
        self.grad_output = None

    def wrap_inputs(self, args):
        if not self.grad_positions:
            return args
        passed = _Identity.apply(*[args[i] for i in self.grad_positions], on_backward=self._inputs_backward)
        args = list(args)
        for i, t in zip(self.grad_positions, passed):
            args[i] = t
        return tuple(args)

    def wrap_outputs(self, output):
        single = isinstance(output, Tensor)
        outputs = (output,) if single else output
        if not isinstance(outputs, (tuple, list)):
            return output
        positions = [i for i, o in enumerate(outputs) if isinstance(o, Tensor) and o.requires_grad]
        if not positions:
            return output
        passed = _Identity.apply(*[outputs[i] for i in positions], on_backward=self._outputs_backward)
        outputs = list(outputs)
        for i, t in zip(positions, passed):
            outputs[i] = t
        return outputs[0] if single else type(output)(outputs)

    def _outputs_backward(self, grads):
        grads = tuple(Tensor(g) for g in grads)
        for hook, flags in self.hooks:
            if flags.get("pre"):
                result = hook(self.module, grads)
                if result is not None:
                    grads = tuple(result)
        self.grad_output = grads
        if not self.grad_positions:  # nothing flows into the inputs: the hook still hears of the call, as PyTorch's
            self._call_hooks((None,) * len(self.tensor_positions))
        return [g.data for g in grads]

    def _inputs_backward(self, grads):
        full = {i: Tensor(g) for i, g in zip(self.grad_positions, grads)}
        grad_input = self._call_hooks(tuple(full.get(i) for i in self.tensor_positions))
        chosen = dict(zip(self.tensor_positions, grad_input))
        return [None if chosen[i] is None else chosen[i].data for i in self.grad_positions]

    def _call_hooks(self, grad_input):
        for hook, flags in self.hooks:
            if flags.get("pre"):
                continue
            result = hook(self.module, grad_input, self.grad_output)
            if result is not None:
                result = tuple(result)
                if len(result) != len(grad_input):
                    raise RuntimeError(f"a backward hook of {type(self.module).__name__} returned {len(result)} "
                                       f"gradients for {len(grad_input)} inputs")
                grad_input = result
        return grad_input


from ...autograd import grad_mode as _grad_mode  # noqa: E402
