"""``save``/``load`` of the estimators and fitted models, without pickle.

A saved directory holds Spark ML's usual ``metadata/`` (class, uid and every param as JSON, written by
``DefaultParamsWriter``, so ``Pipeline`` and ``PipelineModel`` save and load these stages like Spark's own),
and for a fitted model also ``weights.safetensors`` (the network's state dict, ``st.save``) and
``history.json`` (the training history). The model builder is saved by name or import path (see
``builders``). The weights are written with local file IO: save to a local or mounted (shared) path.
"""
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


class NetworkReader(MLReader):
    """Reads what ``NetworkWriter`` wrote into a new instance of ``cls``."""

    def __init__(self, cls):
        super().__init__()
        self.cls = cls

    def load(self, path):
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        expected = f"{self.cls.__module__}.{self.cls.__name__}"
        if metadata["class"] != expected:
            raise ValueError(f"{path!r} holds a saved {metadata['class']}, not a {expected}")
        instance = self.cls()
        instance._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(instance, metadata)
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
    def read(cls):
        """An ``MLReader`` for this class."""
        return NetworkReader(cls)
