"""``SparkTensorClassifier`` and ``SparkTensorRegressor``: Spark ML ``Estimator``s that train with ``dist``.

``fit(df)``:

1. checks the columns (missing ones are named, with the DataFrame's columns listed; non-numeric ones named);
2. reads features and labels through Arrow (``dist.from_dataframe``: ML Vectors, numbers, arrays);
3. builds the network (``builders``) with weights drawn from ``seed`` and checks its output shape;
4. trains on the DataFrame's own SparkSession. Mode ``"data"``: ``dist.SynchronousSGD`` when ``tau`` is 1
   (gradients averaged every step: the same result as one process at the global batch), else
   ``dist.ParameterAveraging`` (SparkNet: ``tau`` local steps per worker between averagings). Modes
   ``"model"`` (``mesh=[M]``) and ``"hybrid"`` (``mesh=[D, M]``): ``dist.HybridTrainer`` on a D x M mesh
   (weight matrices split over M ranks), with gradients all-reduced every step when ``tau`` is 1, else
   weights averaged every ``tau`` steps;
5. trains for ``maxIter`` local steps per worker (500 by default, in rounds of ``tau``), or ``epochs`` passes
   when set, stopping early once the training loss stops improving by ``tol`` (``schedule``);
6. returns the fitted model, with the trained weights and the training ``history``.
"""
import functools
import importlib.util

import numpy as np
from pyspark.ml import Estimator
from pyspark.ml.param import Param, Params
from pyspark.ml.param.shared import HasProbabilityCol, HasRawPredictionCol

from .. import dist, optim
from ..autograd.grad_mode import no_grad
from ..nn import functional as F
from ..tensor import Tensor
from . import builders, columns, schedule
from .models import SparkTensorClassificationModel, SparkTensorRegressionModel
from .params import NetworkParams, TrainingParams, non_negative, with_accessors
from .persistence import NetworkReadable, NetworkWritable

_OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop,
               "adagrad": optim.Adagrad}


class _NetworkEstimator(Estimator, NetworkParams, TrainingParams, NetworkWritable, NetworkReadable):
    """What the classifier and the regressor share; see the module docstring."""

    _losses = {}
    _model_class = None

    def __init__(self, **params):
        super().__init__()
        self.setParams(**params)

    def setParams(self, **params):
        """Set any of the params by name; returns self."""
        unknown = sorted(name for name in params if not self.hasParam(name))
        if unknown:
            raise TypeError(f"{type(self).__name__} has no param(s) {unknown}; its params are "
                            f"{sorted(p.name for p in self.params)}")
        return self._set(**params)

    # ----- fit -----
    def _fit(self, df):
        owner = type(self).__name__
        features, label = self.getFeaturesCol(), self.getLabelCol()
        columns.check_features(df, features, owner)
        columns.check_label(df, label, owner, self._label_hint)
        loss = self._loss_function()
        self._check_parallelism()
        budget, tau = self._budget()
        builders.resolve(self.getModel())  # a bad name fails here, before any Spark job
        blocks = dist.from_dataframe(self._prepare_labels(df), features=features, label=label,
                                     feature_shape=self.getFeatureShape() or None)
        outputs = self._outputs(blocks, df)
        input_shape = blocks.feature_shape or (1,)  # one numeric column: one feature per sample
        network = builders.build(self.getModel(), input_shape, outputs, self.getModelOptions(), self.getSeed())
        try:
            fitted = self._fit_blocks(blocks, network, input_shape, outputs)
        finally:
            blocks.release()
        options = self.getOptimizerOptions()
        try:
            optimizer = _OPTIMIZERS[self.getOptimizer()](network.parameters(), lr=self.getLearningRate(), **options)
        except TypeError as e:
            raise ValueError(f"{owner}: optimizer {self.getOptimizer()!r} does not take optimizerOptions "
                             f"{options}: {e}") from e
        trainer = self._trainer(network, loss, optimizer, dist.SparkEngine(df.sparkSession), tau)
        try:
            network, history = schedule.train(trainer, fitted, tol=self.getTol(), can_stop=self.getMode() == "data",
                                              **budget)
        finally:
            fitted.release()
        weights = {name: tensor.numpy().copy() for name, tensor in network.state_dict().items()}
        model = self._model_class(weights=weights, history=history)
        self._copyValues(model)
        return model._set(inputShape=list(input_shape), numOutputs=outputs)

    def _loss_function(self):
        name = self.getLoss()
        if name not in self._losses:
            raise ValueError(f"{type(self).__name__}: loss must be one of {list(self._losses)}, got {name!r}")
        return self._losses[name]

    def _check_parallelism(self):
        """``mode`` and ``mesh`` agree; model-parallel modes need ``dist.HybridTrainer``."""
        mode, mesh = self.getMode(), self.getMesh()
        ranks = {"data": 0, "model": 1, "hybrid": 2}[mode]
        if mode == "data" and mesh:
            raise ValueError(f"mesh={mesh} is for mode 'model' or 'hybrid'; mode 'data' splits the data over "
                             f"workers (set workers instead)")
        if mode != "data" and len(mesh) != ranks:
            shape = "[M] (ranks per replica)" if mode == "model" else "[D, M] (replicas x ranks per replica)"
            raise ValueError(f"mode {mode!r} needs mesh={shape}, got mesh={mesh}")
        if mode != "data" and self.getWorkers() is not None:
            raise ValueError(f"workers={self.getWorkers()} is for mode 'data'; in mode {mode!r} the mesh "
                             f"{mesh} sets the replicas and ranks")
        if mode != "data" and importlib.util.find_spec("sparktensor.dist.trainers.hybrid.trainer") is None:
            raise ValueError(f"mode {mode!r} needs model-parallel training (dist.HybridTrainer), which this "
                             f"version of sparktensor does not have; use mode 'data'")

    def _budget(self):
        """``({"rounds": n} or {"epochs": n}, tau)``: ``maxIter`` local steps in rounds of ``tau`` (no larger than
        ``maxIter``), or ``epochs`` passes when ``epochs`` is set."""
        epochs, max_iter = self.getEpochs(), self.getMaxIter()
        if epochs is not None and self.isSet(self.epochs) and self.isSet(self.maxIter):
            raise ValueError(f"{type(self).__name__}: set maxIter (local steps, {max_iter}) or epochs (passes, "
                             f"{epochs}), not both: they are two budgets for the same training")
        if epochs is not None and not self.isSet(self.maxIter):
            return {"epochs": epochs}, self.getTau()
        tau, rounds = schedule.local_steps(max_iter, self.getTau())
        return {"rounds": rounds}, tau

    def _trainer(self, network, loss, optimizer, engine, tau):
        """The dist trainer for ``mode`` and ``tau``; ``tau`` 1 averages gradients every step."""
        mode, batch_size, seed = self.getMode(), self.getBatchSize(), self.getSeed()
        if mode != "data":
            replicas, ranks = (1, self.getMesh()[0]) if mode == "model" else self.getMesh()
            return dist.HybridTrainer(network, loss, optimizer, mesh=dist.Mesh(data=replicas, model=ranks),
                                      sync="gradients" if tau == 1 else "average", tau=tau, batch_size=batch_size,
                                      seed=seed, engine=engine, progress=False)
        common = dict(workers=self.getWorkers(), batch_size=batch_size, seed=seed, engine=engine, progress=False)
        if tau == 1:
            return dist.SynchronousSGD(network, loss, optimizer, **common)
        return dist.ParameterAveraging(network, loss, optimizer, tau=tau, **common)

    def _fit_blocks(self, blocks, network, input_shape, outputs):
        """The blocks in the network's dtype and input shape, with targets shaped as the loss wants them,
        converted on the executors."""
        dtype = np.dtype(next(iter(network.parameters())).dtype)
        x_sample = blocks.head[0]
        x_sample = x_sample.reshape((len(x_sample),) + tuple(input_shape)).astype(dtype)
        try:
            with no_grad():
                out_shape = tuple(network.eval()(Tensor(x_sample)).shape)
        except Exception as e:
            raise ValueError(f"{type(self).__name__}: the network of model {self.getModel()!r} cannot take "
                             f"features of shape {list(input_shape)}: {e}") from e
        finally:
            network.train()
        self._check_output_shape(out_shape, len(x_sample), outputs)
        return blocks.map_chunks(functools.partial(_model_inputs, tuple(input_shape), dtype, self._targets,
                                                   out_shape))

    # ----- what the classifier and the regressor do differently -----
    _label_hint = ""

    def _prepare_labels(self, df):
        return df

    def _outputs(self, blocks, df):
        raise NotImplementedError

    def _check_output_shape(self, out_shape, n, outputs):
        raise NotImplementedError

    @staticmethod
    def _targets(y, out_shape, dtype):
        raise NotImplementedError


@with_accessors
class SparkTensorClassifier(_NetworkEstimator, HasProbabilityCol, HasRawPredictionCol):
    """A neural-network classifier for Spark ML pipelines, trained on the cluster by ``sparktensor.dist``.

    Labels must be the class indices 0..C-1 (integers, or doubles with integer values as ``StringIndexer``
    writes them). C is ``numClasses`` when set, else what the label column's ML attribute declares, else the
    largest label + 1. The fitted model adds ``rawPrediction`` (logits), ``probability`` (softmax) and
    ``prediction``.

    Params (keyword arguments, ``getX``/``setX``): ``featuresCol``, ``labelCol``, ``predictionCol``,
    ``probabilityCol``, ``rawPredictionCol``; the network: ``model``, ``modelOptions``, ``featureShape``,
    ``numClasses``; training: ``loss`` (``"cross_entropy"``), ``optimizer``, ``learningRate``,
    ``optimizerOptions``, ``maxIter``, ``tol``, ``epochs``, ``batchSize``, ``workers``, ``tau``, ``mode``, ``mesh``,
    ``seed``.

    The schedule is counted in local steps, so the defaults train small tables to convergence too: ``maxIter``
    500 steps per worker in rounds of ``tau`` 50, ended early once the training loss has gone 3 rounds without
    improving by ``tol`` (1e-4, relative). ``epochs`` sets a budget in passes instead.

    Example::

        classifier = SparkTensorClassifier(model="mlp", modelOptions={"hidden": [32]}, maxIter=1000)
        model = Pipeline(stages=[VectorAssembler(inputCols=cols, outputCol="features"), classifier]).fit(df)
    """

    numClasses = Param(Params._dummy(), "numClasses", "the number of classes; 0: from the label column's "
                                                      "ML attribute, else the largest label + 1",
                       non_negative("numClasses"))
    _losses = {"cross_entropy": F.cross_entropy}
    _model_class = SparkTensorClassificationModel
    _label_hint = " (class indices 0..C-1; index string labels with StringIndexer)"

    def __init__(self, **params):
        super().__init__()
        self._setDefault(loss="cross_entropy", numClasses=0)
        self.setParams(**params)

    def _prepare_labels(self, df):
        """Labels as long integers, after checking in Spark that every value is a whole number."""
        from pyspark.sql import functions as SF
        label = self.getLabelCol()
        kind = type(df.schema[label].dataType).__name__
        if kind in ("FloatType", "DoubleType", "DecimalType"):
            value = SF.col(label)
            bad = df.where(value.isNotNull() & (SF.isnan(value) | (value != SF.floor(value)))).select(label).first()
            if bad is not None:
                raise ValueError(f"{type(self).__name__}: the label column {label!r} holds {bad[0]}, which is not "
                                 f"a class index; labels must be the integers 0..C-1")
        return df.withColumn(label, SF.col(label).cast("long")) if kind != "LongType" else df

    def _outputs(self, blocks, df):
        label, owner = self.getLabelCol(), type(self).__name__
        ranges = [r for r in blocks.label_ranges if r is not None]
        low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
        classes = self.getNumClasses() or columns.declared_classes(df, label) or high + 1
        if low < 0 or high >= classes:
            bad = low if low < 0 else high
            raise ValueError(f"{owner}: the label column {label!r} holds {bad}, outside the class indices "
                             f"0..{classes - 1} of {classes} classes")
        if classes < 2:
            raise ValueError(f"{owner}: the label column {label!r} holds only class 0; a classifier needs at "
                             f"least 2 classes (set numClasses when the data lack the others)")
        return classes

    def _check_output_shape(self, out_shape, n, outputs):
        if out_shape != (n, outputs):
            raise ValueError(f"{type(self).__name__}: the network of model {self.getModel()!r} gives outputs of "
                             f"shape {list(out_shape)} for {n} samples; a classifier of {outputs} classes needs "
                             f"{[n, outputs]} (class scores)")

    @staticmethod
    def _targets(y, out_shape, dtype):
        return y


@with_accessors
class SparkTensorRegressor(_NetworkEstimator):
    """A neural-network regressor for Spark ML pipelines, trained on the cluster by ``sparktensor.dist``.

    The network gives one output per sample; the fitted model adds ``prediction`` (double). Params as
    ``SparkTensorClassifier``'s, without the class ones; ``loss`` is ``"mse"`` (default), ``"l1"`` or
    ``"huber"``.
    """

    _losses = {"mse": F.mse_loss, "l1": F.l1_loss, "huber": F.huber_loss}
    _model_class = SparkTensorRegressionModel

    def __init__(self, **params):
        super().__init__()
        self._setDefault(loss="mse")
        self.setParams(**params)

    def _outputs(self, blocks, df):
        return 1

    def _check_output_shape(self, out_shape, n, outputs):
        if out_shape not in ((n,), (n, 1)):
            raise ValueError(f"{type(self).__name__}: the network of model {self.getModel()!r} gives outputs of "
                             f"shape {list(out_shape)} for {n} samples; a regressor needs one output per sample "
                             f"({[n]} or {[n, 1]})")

    @staticmethod
    def _targets(y, out_shape, dtype):
        return y.astype(dtype).reshape((len(y),) + out_shape[1:])


def _model_inputs(input_shape, dtype, targets, out_shape, x, y):
    """Executor side: one chunk in the network's input shape and dtype, with the loss's targets."""
    return x.reshape((len(x),) + input_shape).astype(dtype, copy=False), targets(y, out_shape, dtype)
