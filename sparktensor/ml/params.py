"""The ``Param``s of the estimators and models, their checks, and ``getX``/``setX`` accessors for each.

Every value is plain JSON (strings, numbers, lists, dicts), so ``DefaultParamsWriter`` writes it as is and a
saved estimator or model needs no pickle. The one exception is a model builder given as a Python callable;
``persistence`` stores it by its import path, or says why it cannot.
"""
import json

from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasFeaturesCol, HasLabelCol, HasPredictionCol, HasSeed

MODES = ("data", "model", "hybrid")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")


# ----- converters: TypeError for a wrong type, ValueError (naming the param) for a bad value -----
def _builder(value):
    if isinstance(value, str) or callable(value):
        return value
    raise TypeError(f"model must be a model-zoo name, a 'package.module:function' string or a callable, "
                    f"got {type(value).__name__}")


def _json_dict(name):
    def convert(value):
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise TypeError(f"{name} must be a dict with string keys, got {value!r}")
        try:
            return json.loads(json.dumps(value))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{name} must hold JSON values only (numbers, strings, lists, dicts), so that it "
                             f"can be saved: {e}") from None
    return convert


def _shape(name):
    def convert(value):
        shape = TypeConverters.toListInt(value)
        if any(n < 1 for n in shape):
            raise ValueError(f"{name} must hold positive sizes, got {shape}")
        return shape
    return convert


def _positive(name, to=TypeConverters.toInt):
    def convert(value):
        number = to(value)
        if not number > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
        return number
    return convert


def non_negative(name):
    """A converter to an integer >= 0 (0 meaning "infer it")."""
    def convert(value):
        number = TypeConverters.toInt(value)
        if number < 0:
            raise ValueError(f"{name} must be >= 0, got {value!r}")
        return number
    return convert


def _non_negative_float(name):
    def convert(value):
        number = TypeConverters.toFloat(value)
        if not number >= 0:
            raise ValueError(f"{name} must be >= 0, got {value!r}")
        return number
    return convert


def _choice(name, choices):
    def convert(value):
        text = TypeConverters.toString(value)
        if text.lower() not in choices:
            raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
        return text.lower()
    return convert


def _param(name, doc, convert):
    return Param(Params._dummy(), name, doc, typeConverter=convert)


def with_accessors(cls):
    """Add ``getName`` and ``setName`` for each of the class's Params (where not written by hand or inherited)."""
    for name in dir(cls):
        if isinstance(getattr(cls, name, None), Param):
            suffix = name[0].upper() + name[1:]
            if not hasattr(cls, "get" + suffix):
                setattr(cls, "get" + suffix, _getter(name))
            if not hasattr(cls, "set" + suffix):
                setattr(cls, "set" + suffix, _setter(name))
    return cls


def _getter(name):
    def get(self):
        return self.getOrDefault(getattr(self, name))
    get.__name__, get.__doc__ = f"get{name[0].upper()}{name[1:]}", f"The value of ``{name}`` (or its default)."
    return get


def _setter(name):
    def set_value(self, value):
        return self._set(**{name: value})
    set_value.__name__, set_value.__doc__ = f"set{name[0].upper()}{name[1:]}", f"Set ``{name}``; returns self."
    return set_value


# ----- the params -----
@with_accessors
class NetworkParams(HasFeaturesCol, HasPredictionCol):
    """What the estimators and their models share: the features column and the network's builder."""

    model = _param("model", "the network: a model-zoo name ('mlp', 'lenet5', 'lstmclassifier'), an importable "
                            "'package.module:function' or a callable builder(input_shape, outputs, **options)",
                   _builder)
    modelOptions = _param("modelOptions", "keyword arguments of the builder (a JSON-able dict), e.g. "
                                          "{'hidden': [64]}", _json_dict("modelOptions"))
    featureShape = _param("featureShape", "reshape each sample's features to this shape (e.g. [1, 28, 28]); "
                                          "empty: as read", _shape("featureShape"))

    def __init__(self):
        super().__init__()
        self._setDefault(model="mlp", modelOptions={}, featureShape=[])


@with_accessors
class TrainingParams(HasLabelCol, HasSeed):
    """How an estimator trains: loss, optimizer, parallelism and schedule."""

    loss = _param("loss", "the loss, by name (classifier: 'cross_entropy'; regressor: 'mse', 'l1', 'huber')",
                  TypeConverters.toString)
    optimizer = _param("optimizer", f"the optimizer, by name: {', '.join(OPTIMIZERS)}",
                       _choice("optimizer", OPTIMIZERS))
    learningRate = _param("learningRate", "the optimizer's learning rate (> 0)",
                          _positive("learningRate", TypeConverters.toFloat))
    optimizerOptions = _param("optimizerOptions", "other keyword arguments of the optimizer (a JSON-able dict), "
                                                  "e.g. {'momentum': 0.9}", _json_dict("optimizerOptions"))
    maxIter = _param("maxIter", "the most local steps each worker trains (> 0), in rounds of tau steps (the last "
                                "round may go over); used unless epochs is set", _positive("maxIter"))
    tol = _param("tol", "stop early once the training loss has gone 3 rounds without improving on its best by "
                        "more than tol times it (>= 0; 0: train the whole budget; mode 'data' only)",
                 _non_negative_float("tol"))
    epochs = _param("epochs", "a budget in passes over the largest partition (> 0) instead of maxIter; unset: "
                              "maxIter", _positive("epochs"))
    batchSize = _param("batchSize", "samples per local step on each worker (> 0)", _positive("batchSize"))
    workers = _param("workers", "data-parallel workers (partitions); unset: Spark's default parallelism",
                     _positive("workers"))
    tau = _param("tau", "local steps between two averagings (SparkNet's tau; at most maxIter); 1: synchronous "
                        "SGD, gradients averaged every step", _positive("tau"))
    mode = _param("mode", "'data' (data parallel), 'model' or 'hybrid' (model parallel over mesh)",
                  _choice("mode", MODES))
    mesh = _param("mesh", "the ranks of model parallelism: [M] for mode 'model', [D, M] for 'hybrid'; empty "
                          "for mode 'data'", _shape("mesh"))

    def __init__(self):
        super().__init__()
        self._setDefault(optimizer="adam", learningRate=0.01, optimizerOptions={}, maxIter=500, tol=1e-4,
                         epochs=None, batchSize=32, workers=None, tau=50, mode="data", mesh=[], seed=0)


@with_accessors
class FittedParams(Params):
    """What a fitted model knows of the data it was trained on, so that it can rebuild its network."""

    inputShape = _param("inputShape", "the shape of one sample's features, as trained on", _shape("inputShape"))
    numOutputs = _param("numOutputs", "the network's outputs per sample (classes, or 1 for regression)",
                        _positive("numOutputs"))
