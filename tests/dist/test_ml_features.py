"""Feature columns of other shapes: arrays reshaped by ``featureShape`` for a sequence model, one numeric column."""
import numpy as np

import sparktensor as st


def test_feature_shape_turns_arrays_into_series_for_the_lstm_classifier(spark):
    """Series of 6 steps, 1 channel, flat in an array column; the class is the sign of the series' level."""
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator

    from sparktensor.ml import SparkTensorClassifier
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 96)
    series = (2 * labels[:, None] - 1) * rng.uniform(0.5, 1.5, (96, 1)) + 0.3 * rng.normal(size=(96, 6))
    df = spark.createDataFrame([([float(v) for v in s], int(c)) for s, c in zip(series, labels)],
                               "series array<double>, label long")
    classifier = SparkTensorClassifier(featuresCol="series", featureShape=[6, 1], model="lstmclassifier",
                                       modelOptions={"hidden": 8}, learningRate=0.05, epochs=8, batchSize=16,
                                       workers=2, tau=6)
    model = classifier.fit(df)
    assert model.getInputShape() == [6, 1]
    predictions = model.transform(df)
    assert MulticlassClassificationEvaluator(metricName="accuracy").evaluate(predictions) >= 0.9
    with st.no_grad():
        expected = model.network()(st.tensor(series.astype(np.float32).reshape(96, 6, 1))).numpy()
    raw = np.array([r.rawPrediction.toArray() for r in predictions.select("rawPrediction").collect()])
    np.testing.assert_allclose(raw, expected, rtol=1e-5, atol=1e-5)


def test_one_numeric_column_is_one_feature_per_sample(spark):
    from sparktensor.ml import SparkTensorRegressor
    x = np.linspace(-1, 1, 40)
    df = spark.createDataFrame([(float(v), float(3 * v + 1)) for v in x], "x double, label double")
    model = SparkTensorRegressor(featuresCol="x", modelOptions={"hidden": []}, optimizer="sgd",
                                 learningRate=0.5, epochs=30, batchSize=10, workers=2, tau=15).fit(df)
    assert model.getInputShape() == [1]
    got = np.array([r.prediction for r in model.transform(df).select("prediction").collect()])
    np.testing.assert_allclose(got, 3 * x + 1, atol=0.1)
