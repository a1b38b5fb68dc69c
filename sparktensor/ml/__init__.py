"""Spark ML estimators: sparktensor networks as stages of ``pyspark.ml`` pipelines.

```python
from pyspark.ml import Pipeline
from pyspark.ml.feature import StandardScaler, VectorAssembler
from sparktensor.ml import SparkTensorClassifier

classifier = SparkTensorClassifier(featuresCol="scaled", model="mlp", modelOptions={"hidden": [32]},
                                   optimizer="adam", learningRate=0.01, maxIter=500, workers=2, tau=50)
pipeline = Pipeline(stages=[VectorAssembler(inputCols=columns, outputCol="features"),
                            StandardScaler(inputCol="features", outputCol="scaled"), classifier])
model = pipeline.fit(train)                  # trains with dist.ParameterAveraging on train's SparkSession
predictions = model.transform(test)          # rawPrediction, probability, prediction: computed on executors
model.save("iris-model")                     # params as Spark ML metadata, weights as safetensors
```

``fit`` reads the features through Arrow (ML Vectors, numbers or arrays of numbers), trains with
``dist.SynchronousSGD`` (``tau=1``) or ``dist.ParameterAveraging`` (``tau > 1``) on the DataFrame's own
SparkSession, and returns a ``Model`` whose ``transform`` runs the network in an Arrow UDF on the executors,
with the network broadcast once. The ``model`` param is a model-zoo name, an importable
``"package.module:function"`` or a callable (see ``builders``); saving never uses pickle, and loading imports a saved
``"package.module:function"`` only when asked to (``load(path, allow_import=True)``, ``allowing_imports()``).
"""
try:
    import pyarrow  # noqa: F401
    import pyspark  # noqa: F401
except ImportError as e:
    raise ImportError(f"sparktensor.ml needs pyspark and pyarrow ({e}): pip install 'sparktensor[spark]'") from e

from .builders import ZOO  # noqa: E402
from .estimators import SparkTensorClassifier, SparkTensorRegressor  # noqa: E402
from .models import SparkTensorClassificationModel, SparkTensorRegressionModel  # noqa: E402
from .persistence import allowing_imports  # noqa: E402

__all__ = ["SparkTensorClassifier", "SparkTensorClassificationModel", "SparkTensorRegressor",
           "SparkTensorRegressionModel", "ZOO", "allowing_imports"]
