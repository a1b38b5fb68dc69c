"""Model builders: how the ``model`` param becomes a network, and how a builder is written down for ``save``.

A builder is ``builder(input_shape, outputs, **options) -> nn.Module``: ``input_shape`` is the shape of one
sample's features (from the data), ``outputs`` the number of classes (classifier) or 1 (regressor), and
``options`` the ``modelOptions`` param. The ``model`` param names one of three things:

* a model-zoo name: ``"mlp"`` (``models.MLP``: ``hidden``), ``"lenet5"`` (``models.LeNet5``, features of shape
  ``[channels, 28, 28]``), ``"lstmclassifier"`` (``models.LSTMClassifier``, features ``[steps, channels]``:
  ``hidden``, ``layers``); the sizes that come from the data are filled in;
* an importable builder as ``"package.module:function"``;
* a Python callable. It trains as well; ``save`` stores it by its import path when it has one (a module-level
  function of an importable module) and otherwise refuses, naming it, since persisting code would need pickle.
"""
import importlib
import math

from .. import models
from ..random import default_generator


def _mlp(input_shape, outputs, **options):
    return models.MLP(math.prod(input_shape), out_features=outputs, **options)


def _lenet5(input_shape, outputs, **options):
    if len(input_shape) != 3 or tuple(input_shape[1:]) != (28, 28):
        raise ValueError(f"the 'lenet5' model takes images of shape [channels, 28, 28], the features have shape "
                         f"{list(input_shape)}; set featureShape (e.g. [1, 28, 28])")
    return models.LeNet5(channels=input_shape[0], classes=outputs, **options)


def _lstm_classifier(input_shape, outputs, **options):
    if len(input_shape) != 2:
        raise ValueError(f"the 'lstmclassifier' model takes series of shape [steps, channels], the features have "
                         f"shape {list(input_shape)}; set featureShape (e.g. [steps, 1])")
    return models.LSTMClassifier(input_shape[1], outputs, **options)


ZOO = {"mlp": _mlp, "lenet5": _lenet5, "lstmclassifier": _lstm_classifier}


def resolve(model):
    """The builder function the ``model`` param names (a zoo name, ``"module:function"`` or a callable)."""
    if callable(model):
        return model
    if model.lower() in ZOO:
        return ZOO[model.lower()]
    if ":" not in model:
        raise ValueError(f"model {model!r} is neither a model-zoo name ({', '.join(ZOO)}) nor an import path "
                         f"'package.module:function'")
    module_name, _, qualname = model.partition(":")
    try:
        found = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"model {model!r}: cannot import module {module_name!r} ({e})") from e
    for part in qualname.split("."):
        found = getattr(found, part, None)
        if found is None:
            raise ValueError(f"model {model!r}: module {module_name!r} has no {qualname!r}")
    if not callable(found):
        raise ValueError(f"model {model!r} names a {type(found).__name__}, not a callable builder")
    return found


def import_path(builder):
    """The ``"module:function"`` string that ``resolve`` turns back into ``builder``, or None if there is none."""
    module, qualname = getattr(builder, "__module__", None), getattr(builder, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<" in qualname:
        return None
    path = f"{module}:{qualname}"
    try:
        return path if resolve(path) is builder else None
    except ValueError:
        return None


def persistable(model):
    """The ``model`` param as saved: strings as they are, a callable as its import path (or a ValueError)."""
    if isinstance(model, str):
        return model
    path = import_path(model)
    if path is None:
        name = getattr(model, "__qualname__", repr(model))
        raise ValueError(f"cannot save the model builder {name!r} of module {getattr(model, '__module__', None)!r}: "
                         f"it is not importable, and saving it otherwise would need pickle. Define it at the top "
                         f"level of an importable module, or pass 'package.module:function'")
    return path


def build(model, input_shape, outputs, options, seed):
    """The network, its initial weights drawn from ``seed`` (the caller's random state is left as it was)."""
    builder = resolve(model)
    saved = default_generator.get_state()
    default_generator.manual_seed(seed)
    try:
        network = builder(tuple(input_shape), int(outputs), **options)
    except TypeError as e:
        raise ValueError(f"model {model!r} could not be built with input_shape={tuple(input_shape)}, "
                         f"outputs={outputs} and modelOptions={options}: {e}") from e
    finally:
        default_generator.set_state(saved)
    if not callable(getattr(network, "parameters", None)):
        raise TypeError(f"model {model!r} built a {type(network).__name__}, not an nn.Module")
    return network
