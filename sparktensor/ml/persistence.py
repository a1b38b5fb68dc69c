"""``save``/``load`` of the estimators and fitted models, without pickle.

A saved directory holds Spark ML's usual ``metadata/`` (class, uid and every param as JSON, written by
``DefaultParamsWriter``, so ``Pipeline`` and ``PipelineModel`` save and load these stages like Spark's own),
and for a fitted model also ``weights.safetensors`` (the network's state dict, ``st.save``) and
``history.json`` (the training history). The model builder is saved by name or import path (see
``builders``). The weights are written with local file IO: save to a local or mounted (shared) path.

Loading runs no code from the directory: a saved model-zoo name loads as is, but a saved import path
(``"package.module:function"``) would import that module and call the function, so it is refused unless the
caller opts in with ``load(path, allow_import=True)`` (or ``with allowing_imports(): PipelineModel.load(path)``
for stages loaded inside a pipeline), for directories whose writer the caller trusts.
"""
import contextlib
import os

from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReadable, MLReader, MLWritable, MLWriter

from .. import serialization
from ..dist.trainers.history import History
from . import builders

WEIGHTS = "weights.safetensors"
HISTORY = "history.json"


def local_path(path, session=None):
    """``path`` as a local file system path (``file:`` URIs too); other schemes raise, saying why.

    A relative path is resolved the way Spark resolves it for the metadata it writes beside the weights: against
    the working directory of Spark's JVM, which need not be this Python process's (``session`` gives the JVM).
    """
    if path.startswith("file://"):
        return path[len("file://"):]
    if path.startswith("file:"):
        return path[len("file:"):]
    if "://" in path:
        raise ValueError(f"cannot write or read the network's weights at {path!r}: sparktensor models are saved "
                         f"with local file IO; use a local or mounted path")
    if not os.path.isabs(path) and session is not None:
        return os.path.join(session._jvm.java.lang.System.getProperty("user.dir"), path)
    return path


class NetworkWriter(MLWriter):
    """Writes an estimator's or model's params as Spark ML metadata, and a model's weights as safetensors."""

    def __init__(self, instance):
        super().__init__()
        self.instance = instance

    def saveImpl(self, path):
        instance = self.instance
        weights = getattr(instance, "weights", None)
        directory = local_path(path, self.sparkSession) if weights is not None else None  # before anything is written
        params = {p.name: v for p, v in instance._paramMap.items()}
        defaults = {p.name: v for p, v in instance._defaultParamMap.items()}
        for table in (params, defaults):
            if "model" in table:
                table["model"] = builders.persistable(table["model"])
        DefaultParamsWriter.saveMetadata(instance, path, self.sparkSession, paramMap=params,
                                         extraMetadata={"defaultParamMap": defaults})
        if weights is not None:
            serialization.save(weights, os.path.join(directory, WEIGHTS))
            instance.history.to_json(os.path.join(directory, HISTORY))


_imports_allowed = [False]


@contextlib.contextmanager
def allowing_imports():
    """Within the block, loading may import the ``"module:function"`` builders that saved stages name (e.g. for
    ``PipelineModel.load``, which cannot pass ``allow_import``). Only for directories you trust."""
    before = _imports_allowed[0]
    _imports_allowed[0] = True
    try:
        yield
    finally:
        _imports_allowed[0] = before


def check_builder(model, path, allow_import):
    """Refuse a saved ``model`` param that is not a model-zoo name unless imports are allowed."""
    if not isinstance(model, str) or model.lower() in builders.ZOO or allow_import or _imports_allowed[0]:
        return
    raise ValueError(f"{path!r} names the model builder {model!r}, which is not a model-zoo name "
                     f"({', '.join(builders.ZOO)}); using it would import that module and run its code. If you "
                     f"trust this directory, load it with load(path, allow_import=True), or inside "
                     f"'with sparktensor.ml.allowing_imports():' for a pipeline")


class NetworkReader(MLReader):
    """Reads what ``NetworkWriter`` wrote into a new instance of ``cls``; ``allow_import`` as in ``check_builder``."""

    def __init__(self, cls, allow_import=False):
        super().__init__()
        self.cls = cls
        self.allow_import = allow_import

    def load(self, path):
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        expected = f"{self.cls.__module__}.{self.cls.__name__}"
        if metadata["class"] != expected:
            raise ValueError(f"{path!r} holds a saved {metadata['class']}, not a {expected}")
        instance = self.cls()
        instance._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(instance, metadata)
        check_builder(instance.getOrDefault("model"), path, self.allow_import)
        if hasattr(instance, "weights"):
            directory = local_path(path, self.sparkSession)
            state = serialization.load(os.path.join(directory, WEIGHTS))
            instance.weights = {name: tensor.numpy() for name, tensor in state.items()}
            history = os.path.join(directory, HISTORY)
            instance.history = History.from_json(history) if os.path.exists(history) else History()
        return instance


class NetworkWritable(MLWritable):
    """``write()`` and ``save(path)`` through ``NetworkWriter``."""

    def write(self):
        """An ``MLWriter`` for this instance (``.overwrite()``, ``.save(path)``)."""
        return NetworkWriter(self)

    def save(self, path):
        """Save params (and a model's weights) to the directory ``path``."""
        self.write().save(path)


class NetworkReadable(MLReadable):
    """``read()`` and ``load(path)`` through ``NetworkReader``."""

    @classmethod
    def read(cls, allow_import=False):
        """An ``MLReader`` for this class (``allow_import``: see ``check_builder``)."""
        return NetworkReader(cls, allow_import)

    @classmethod
    def load(cls, path, allow_import=False):
        """An instance from the directory ``path``. A saved builder import path ``"module:function"`` loads only
        with ``allow_import=True``, since using it runs that module's code; model-zoo names always load."""
        return cls.read(allow_import).load(path)
