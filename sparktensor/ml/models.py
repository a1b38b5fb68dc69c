"""Fitted models: ``Transformer``s that add a network's predictions to a DataFrame, computed on the executors.

``transform(df)`` reads the features column through Arrow (ML Vectors as arrays), runs the network in an
Arrow UDF (``predict``) whose network and weights are shipped once per model and SparkContext (or Spark
Connect session), and adds the prediction columns. It is lazy, as Spark's transformers are: nothing runs
until the result is used.
"""
import uuid

import numpy as np
from pyspark.ml import Model
from pyspark.ml.functions import array_to_vector
from pyspark.ml.param.shared import HasProbabilityCol, HasRawPredictionCol
from pyspark.sql import functions as F
from pyspark.sql.functions import arrow_udf

from ..dist.data.convert import column_expression
from ..dist.engines.spark import SparkEngine
from ..tensor import Tensor
from . import builders, columns, predict
from .params import FittedParams, NetworkParams, with_accessors
from .persistence import NetworkReadable, NetworkWritable


class _NetworkModel(Model, NetworkParams, FittedParams, NetworkWritable, NetworkReadable):
    """A trained network as a Spark ML ``Model``: ``weights`` (its state dict as NumPy arrays), ``history``."""

    _kind = None

    def __init__(self, weights=None, history=None):
        super().__init__()
        self.weights = weights
        self.history = history
        self._shipped = None  # (SparkContext or Connect session, handle, cache key, dtype, engine) of the network

    def network(self):
        """A new ``nn.Module`` holding the trained weights, in eval mode, on the driver (e.g. to predict locally)."""
        net = builders.build(self.getModel(), self.getInputShape(), self.getNumOutputs(), self.getModelOptions(),
                             seed=0)
        net.load_state_dict({name: Tensor(value) for name, value in self.weights.items()})
        return net.eval()

    def _outputs(self):
        """``(role param name, column name)`` of each column ``transform`` adds."""
        return [("predictionCol", self.getPredictionCol())]

    def _transform(self, df):
        owner = type(self).__name__
        features = self.getFeaturesCol()
        columns.check_features(df, features, owner)
        wanted = [(role, name) for role, name in self._outputs() if name]
        for role, name in wanted:
            columns.check_output(df, name, role, owner)
        key, handle, dtype = self._ship(df.sparkSession)
        function = predict.make_predictor(key, handle, self._kind, features, self.getInputShape(), dtype)
        result_type = predict.CLASSIFIER_TYPE if self._kind == "classifier" else predict.REGRESSOR_TYPE
        udf = arrow_udf(function, result_type)
        result = f"__sparktensor_{uuid.uuid4().hex}"
        out = df.withColumn(result, udf(column_expression(df, features, dtype, is_label=False)))
        added = []
        for role, name in wanted:
            if role == "predictionCol" and self._kind != "classifier":
                added.append(F.col(result).alias(name))
            elif role == "predictionCol":
                added.append(F.col(f"{result}.prediction").alias(name))
            else:  # rawPrediction and probability: ML Vectors, as Spark's classifiers give them
                field = "rawPrediction" if role == "rawPredictionCol" else "probability"
                added.append(array_to_vector(F.col(f"{result}.{field}")).alias(name))
        return out.select(*[F.col(f"`{c}`") for c in df.columns], *added)

    def _ship(self, spark):
        """The network shipped once for this SparkContext (or Spark Connect session), reused by every
        ``transform``. The engine stays with the model: over Connect, a large network is fetched from its
        driver channel when the lazy result runs."""
        owner = _session_owner(spark)
        if self._shipped is None or self._shipped[0] is not owner:
            net = self.network()
            dtype = np.dtype(next(iter(net.parameters())).dtype).str
            engine = SparkEngine(spark)
            self._shipped = (owner, engine.ship(net), uuid.uuid4().hex, dtype, engine)
        _, handle, key, dtype, _ = self._shipped
        return key, handle, dtype

    def copy(self, extra=None):
        """A copy with the same weights and history (and ``extra`` params)."""
        that = super().copy(extra)
        that._shipped = None
        return that


def _session_owner(spark):
    """What a shipped network belongs to: the SparkContext of a classic session, a Connect session itself."""
    if type(spark).__module__.startswith("pyspark.sql.connect"):
        return spark
    return spark.sparkContext


@with_accessors
class SparkTensorClassificationModel(_NetworkModel, HasProbabilityCol, HasRawPredictionCol):
    """A trained classifier: ``transform`` adds ``rawPrediction`` (logits, Vector), ``probability`` (softmax,
    Vector) and ``prediction`` (the most likely class, double). An empty column name leaves that column out."""

    _kind = "classifier"

    @property
    def numClasses(self):
        """The number of classes (None before the model is fitted or loaded)."""
        return self.getNumOutputs() if self.isDefined(self.numOutputs) else None

    def _outputs(self):
        return [("rawPredictionCol", self.getRawPredictionCol()), ("probabilityCol", self.getProbabilityCol()),
                ("predictionCol", self.getPredictionCol())]


@with_accessors
class SparkTensorRegressionModel(_NetworkModel):
    """A trained regressor: ``transform`` adds ``prediction`` (double)."""

    _kind = "regressor"
