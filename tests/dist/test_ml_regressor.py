"""``SparkTensorRegressor``: array features, a builder given as a callable, synchronous SGD, save and load."""
import numpy as np
import pytest

import sparktensor as st


def linear_builder(input_shape, outputs, bias=True):
    """One linear layer: importable, so a model that uses it saves it by its import path."""
    return st.nn.Linear(int(np.prod(input_shape)), outputs, bias=bias)


def two_outputs(input_shape, outputs):
    """A builder that ignores ``outputs``: two outputs per sample, which a regressor cannot use."""
    return st.nn.Linear(int(np.prod(input_shape)), 2)


def linear_frame(spark, n=160, seed=0):
    """Features in an ``array<double>`` column, ``y = x @ w + 0.5`` plus small noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = x @ np.array([2.0, -1.0, 0.5]) + 0.5 + 0.01 * rng.normal(size=n)
    rows = [([float(v) for v in xi], float(yi)) for xi, yi in zip(x, y)]
    return spark.createDataFrame(rows, "xs array<double>, target double"), y


@pytest.fixture(scope="module")
def fitted(spark):
    from sparktensor.ml import SparkTensorRegressor
    df, y = linear_frame(spark)
    regressor = SparkTensorRegressor(featuresCol="xs", labelCol="target", predictionCol="yhat",
                                     model=linear_builder, optimizer="sgd", learningRate=0.3, batchSize=40,
                                     epochs=5, workers=2, tau=1)
    return df, y, regressor, regressor.fit(df)


def test_regressor_fits_a_linear_target_with_synchronous_sgd(fitted):
    from pyspark.ml.evaluation import RegressionEvaluator
    df, y, _, model = fitted
    predictions = model.transform(df)
    assert predictions.columns == ["xs", "target", "yhat"]
    assert predictions.schema["yhat"].dataType.simpleString() == "double"
    rmse = RegressionEvaluator(labelCol="target", predictionCol="yhat").evaluate(predictions)
    assert rmse < 0.1 * y.std(), (rmse, y.std())
    assert len(model.history) == 10  # tau=1: one round per step, 2 steps per epoch on each of 2 workers
    weight = model.weights["weight"].reshape(-1)
    np.testing.assert_allclose(weight, [2.0, -1.0, 0.5], atol=0.1)


def test_predictions_match_the_network_on_the_driver(fitted):
    df, _, _, model = fitted
    rows = df.select("xs").collect()
    x = np.array([r.xs for r in rows], np.float32)
    expected = model.network()(st.tensor(x)).numpy().reshape(-1)
    got = np.array([r.yhat for r in model.transform(df).select("yhat").collect()])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_a_callable_builder_saves_by_import_path_and_loads(fitted, tmp_path):
    from sparktensor.ml import SparkTensorRegressionModel, SparkTensorRegressor
    df, _, regressor, model = fitted
    regressor.save(str(tmp_path / "estimator"))
    estimator = SparkTensorRegressor.load(str(tmp_path / "estimator"), allow_import=True)  # this module: trusted
    assert estimator.getModel() == f"{__name__}:linear_builder"
    assert estimator.getLearningRate() == 0.3 and estimator.getFeaturesCol() == "xs" and estimator.getTau() == 1
    model.save(str(tmp_path / "model"))
    loaded = SparkTensorRegressionModel.load(str(tmp_path / "model"), allow_import=True)
    assert loaded.getModel() == f"{__name__}:linear_builder" and loaded.getInputShape() == [3]
    assert loaded.transform(df).collect() == model.transform(df).collect()
    with pytest.raises(ValueError, match="holds a saved .*SparkTensorRegressionModel"):
        SparkTensorRegressor.load(str(tmp_path / "model"))


def test_a_local_builder_trains_but_refuses_to_be_saved(spark, tmp_path):
    from sparktensor.ml import SparkTensorRegressor
    df, _ = linear_frame(spark, n=40)

    def local_builder(input_shape, outputs):
        return st.nn.Sequential(st.nn.Linear(3, 4), st.nn.Tanh(), st.nn.Linear(4, outputs))

    regressor = SparkTensorRegressor(featuresCol="xs", labelCol="target", model=local_builder, epochs=1,
                                     batchSize=20, workers=2)
    model = regressor.fit(df)
    assert model.transform(df).count() == 40
    for thing in (regressor, model):
        with pytest.raises(ValueError, match="local_builder.*not importable.*pickle"):
            thing.save(str(tmp_path / type(thing).__name__))


def test_regressor_needs_one_output_per_sample(spark):
    from sparktensor.ml import SparkTensorRegressor
    df, _ = linear_frame(spark, n=8)
    regressor = SparkTensorRegressor(featuresCol="xs", labelCol="target", model=f"{__name__}:two_outputs")
    with pytest.raises(ValueError, match=r"outputs of shape \[2, 2\].*one output per sample"):
        regressor.fit(df)
