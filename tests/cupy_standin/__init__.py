"""A strict CuPy stand-in for the tests, for machines without a GPU.

NOT CuPy and never used by the library itself: it lets the ``cuda`` half of the
backend-parametrized tests run on the CPU. Its arrays keep NumPy data inside a
wrapper that behaves like ``cupy.ndarray`` where code usually goes wrong:

* ``np.asarray(x)`` and every other implicit conversion raise ``TypeError``,
  as CuPy's do, and so does any ``np.*`` function or ufunc given one;
* ``x.get()`` and ``cupy.asnumpy(x)`` are the explicit ways to the host;
* the stand-in's own functions (``xp.*``) refuse NumPy arrays, as CuPy's do,
  and reductions give 0-d arrays rather than host scalars.

``HOST_READS`` counts every read of device data by the host (``.get()``,
``float(x)``, ``bool(x)``, ``x.item()``, ...): each one makes a GPU wait.

``install()`` registers it under the names ``cupy`` and ``cupyx`` in
``sys.modules``, so ``sparktensor.backend`` finds it exactly as it finds CuPy.
"""
import importlib.machinery
import sys

from . import namespace
from .ndarray import HOST_READS, ndarray

STANDIN_ENV = "SPARKTENSOR_CUPY_STANDIN"


def install():
    """Register the stand-in as ``cupy`` (and ``cupyx``); returns the ``cupy`` module."""
    modules = namespace.build_modules()
    for name, module in modules.items():
        module.__spec__ = importlib.machinery.ModuleSpec(name, None)
        module.__cupy_standin_part__ = True
        sys.modules[name] = module
    return modules["cupy"]


def uninstall():
    """Take the stand-in's names out of ``sys.modules`` again (only those that are still the stand-in's)."""
    for name in namespace.MODULE_NAMES:
        if getattr(sys.modules.get(name), "__cupy_standin_part__", False):
            del sys.modules[name]


def is_installed():
    """True when ``sys.modules['cupy']`` is this stand-in."""
    return getattr(sys.modules.get("cupy"), "__cupy_standin__", False)


__all__ = ["HOST_READS", "install", "uninstall", "is_installed", "ndarray", "STANDIN_ENV"]
