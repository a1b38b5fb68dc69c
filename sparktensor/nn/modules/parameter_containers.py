"""``ParameterList`` and ``ParameterDict``: parameters kept in a list or a dict, registered so that ``parameters()``,
optimizers and state dicts (``"<name>.0"``, ``"<name>.<key>"``) see them, as PyTorch's. A plain tensor put in
becomes a ``Parameter``."""
from ...tensor import Tensor
from ..parameter import Parameter
from .module import Module


def _as_parameter(value, where):
    if isinstance(value, Parameter) or value is None:
        return value
    if isinstance(value, Tensor):
        return Parameter(value.detach())
    raise TypeError(f"{where}: expected a Parameter or a tensor, got {type(value).__name__}")


class ParameterList(Module):
    """A list of parameters."""

    def __init__(self, values=None):
        super().__init__()
        for value in values or ():
            self.append(value)

    def append(self, value):
        """Add a parameter at the end; returns self."""
        self.register_parameter(str(len(self)), _as_parameter(value, "ParameterList.append"))
        return self

    def extend(self, values):
        """Add several parameters at the end; returns self."""
        for value in values:
            self.append(value)
        return self

    def __getitem__(self, index):
        values = list(self._parameters.values())
        return ParameterList(values[index]) if isinstance(index, slice) else values[index]

    def __setitem__(self, index, value):
        key = list(self._parameters)[index]
        self.register_parameter(key, _as_parameter(value, "ParameterList"))

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())

    def extra_repr(self):
        # one line a parameter, even for one (a newline in extra_repr makes Module's repr list them)
        return "".join(f"({k}): Parameter of shape {tuple(p.shape)}, {p.dtype}\n" for k, p in self._parameters.items())


class ParameterDict(Module):
    """A dict of parameters, in insertion order."""

    def __init__(self, parameters=None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key):
        return self._parameters[key]

    def __setitem__(self, key, value):
        if not isinstance(key, str):
            raise TypeError(f"ParameterDict keys are strings, got {type(key).__name__}")
        self.register_parameter(key, _as_parameter(value, f"ParameterDict[{key!r}]"))

    def __delitem__(self, key):
        del self._parameters[key]

    def __contains__(self, key):
        return key in self._parameters

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters)

    def keys(self):
        return self._parameters.keys()

    def values(self):
        return self._parameters.values()

    def items(self):
        return self._parameters.items()

    def get(self, key, default=None):
        return self._parameters.get(key, default)

    def pop(self, key):
        return self._parameters.pop(key)

    def update(self, parameters):
        """Add (or replace) the parameters of a mapping or of ``(key, value)`` pairs."""
        for key, value in (parameters.items() if hasattr(parameters, "items") else parameters):
            self[key] = value

    def extra_repr(self):
        # one line a parameter, even for one (a newline in extra_repr makes Module's repr list them)
        return "".join(f"({k}): Parameter of shape {tuple(p.shape)}, {p.dtype}\n" for k, p in self._parameters.items())
