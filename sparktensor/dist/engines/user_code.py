"""Which modules of a model, loss or function to pickle by value: the user's own code, which executors lack."""
import functools
import logging
import os
import sys
import sysconfig
import types

log = logging.getLogger("sparktensor.dist")


def _user_modules(obj):
    """Modules of the classes and functions in ``obj`` that executors may not import: the user's own code.

    Anything installed (site-packages, the standard library, sparktensor) is pickled by reference as usual;
    the user's modules (a script's neighbours, test files) are pickled by value, so executors need not have them.
    """
    installed = _installed_roots()
    names = set()
    for thing in _things(obj):
        name = thing.__module__
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if name in (None, "__main__", "builtins") or module is None or path is None:
            continue
        path = os.path.realpath(path)
        if not any(path.startswith(root + os.sep) for root in installed):
            names.add(name)
    return sorted(names)


@functools.lru_cache(maxsize=1)
def _installed_roots():
    roots = {os.path.realpath(sysconfig.get_paths()[k]) for k in ("purelib", "platlib", "stdlib")}
    roots.add(os.path.realpath(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))))  # sparktensor
    return tuple(roots)


def _things(obj):
    """The classes and functions a pickle of ``obj`` (a tuple of models, optimizers, losses) refers to by name."""
    for item in obj if isinstance(obj, (tuple, list)) else (obj,):
        if callable(getattr(item, "modules", None)):  # a Module: every layer's class
            yield from (type(m) for m in item.modules())
        elif isinstance(item, types.FunctionType):
            yield item
        else:
            yield type(item)


class _by_value:
    """Pickle the named modules by value while the block runs."""

    def __init__(self, names, cloudpickle):
        self.names, self.cloudpickle, self.registered = names, cloudpickle, []

    def __enter__(self):
        for name in self.names:
            try:
                self.cloudpickle.register_pickle_by_value(sys.modules[name])
                self.registered.append(name)
            except ValueError:  # already registered by the caller
                pass
        if self.registered:
            log.info("pickling the user modules %s by value for the executors", self.registered)

    def __exit__(self, *exc):
        for name in self.registered:
            self.cloudpickle.unregister_pickle_by_value(sys.modules[name])
        return False
